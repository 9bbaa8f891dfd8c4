/**
 * @file The auth plugin on a bare app (no model: fast): routes without a scope refused at start-up,
 * public prefixes, 401/403 answers and challenges, `request.principal`, METRICS_AUTH, rate limits
 * (per token, per client address, per-token overrides, health exempt), TOKENS_FILE errors at start-up.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { ANONYMOUS } from '../../src/auth/scopes.js';
import { TokensFileError } from '../../src/auth/tokens.js';
import { loadConfig } from '../../src/config.js';
import { installErrorHandlers } from '../../src/errors.js';
import authPlugin from '../../src/plugins/auth.js';
import metricsPlugin from '../../src/plugins/metrics.js';
import { assertError } from '../helper.js';
import { bareApp, bearer, token, writeTokensFile, type TestToken } from '../auth/support.js';

const reader = token('reader', ['inference']);
const evaluator = token('evaluator', ['evaluate', 'metrics']);
const whoami = async (request: { principal?: unknown }) => ({ principal: request.principal });

describe('route table', () => {
  it('a route without a scope is refused at start-up, naming it', async () => {
    const app = Fastify({ logger: false });
    app.decorate('config', loadConfig({}));
    await app.register(authPlugin);
    await assert.rejects(async () => { await app.register(async (i) => { i.get('/forgot', async () => 'open'); }); }, /Route GET \/forgot declares no access: add config: \{ scope: 'inference' \| 'evaluate' \| 'manage' \| 'metrics' \| 'public' \}/);
    await app.close().catch(() => undefined);
  });

  it('an unknown scope is refused too', async () => {
    const app = Fastify({ logger: false });
    app.decorate('config', loadConfig({}));
    await app.register(authPlugin);
    await assert.rejects(async () => {
      await app.register(async (i) => { i.post('/x', { config: { scope: 'admin' as never } }, async () => 'x'); });
    }, /Route POST \/x declares an unknown scope "admin"/);
    await app.close().catch(() => undefined);
  });

  it('routes under a public prefix (Swagger UI) are public; the table lists every method', async (t) => {
    const app = await bareApp(t, { TOKENS_FILE: writeTokensFile([reader]) }, (a) => {
      a.get('/docs/json', async () => ({ doc: true })); // as @fastify/swagger-ui registers it: no scope
      a.get('/docsx', { config: { scope: 'inference' } }, async () => 'x');
    });
    assert.deepEqual(app.auth.routes.filter((r) => r.url.startsWith('/docs')).map((r) => `${r.method} ${r.url} ${r.scope}`).sort(),
      ['GET /docs/json public', 'GET /docsx inference', 'HEAD /docs/json public', 'HEAD /docsx inference']);
    assert.equal((await app.inject({ url: '/docs/json' })).statusCode, 200);
    assert.equal((await app.inject({ url: '/docsx' })).statusCode, 401); // a prefix match needs the "/" boundary
  });
});

describe('answers', () => {
  const routes = (a: import('fastify').FastifyInstance): void => {
    a.get('/infer', { config: { scope: 'inference' } }, whoami);
    a.post('/eval', { config: { scope: 'evaluate' } }, whoami);
    a.get('/open', { config: { scope: 'public' } }, whoami);
  };

  it('401 without a token, 401 invalid_token for an unknown or malformed one, 403 naming the scope, 200 with it', async (t) => {
    const app = await bareApp(t, { TOKENS_FILE: writeTokensFile([reader, evaluator]) }, routes);
    let res = await app.inject({ url: '/infer' });
    assertError(res, 401, 'MRC_ERR_UNAUTHORIZED', 'headers.authorization');
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="maskrcnn-serve"');
    res = await app.inject({ url: '/infer', headers: { authorization: 'Bearer not-a-known-token' } });
    assertError(res, 401, 'MRC_ERR_UNAUTHORIZED', 'headers.authorization');
    assert.match(res.body, /Unknown token/);
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="maskrcnn-serve", error="invalid_token"');
    res = await app.inject({ url: '/infer', headers: { authorization: `Basic ${reader.secret}` } });
    assertError(res, 401, 'MRC_ERR_UNAUTHORIZED');
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="maskrcnn-serve", error="invalid_token"');
    assert.ok(!res.body.includes(reader.secret), 'the answer never echoes what was sent');
    res = await app.inject({ method: 'POST', url: '/eval', headers: bearer(reader) });
    const body = assertError(res, 403, 'MRC_ERR_FORBIDDEN');
    assert.match(String(body.message), /needs the scope "evaluate"; token "reader" has "inference"/);
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="maskrcnn-serve", error="insufficient_scope", scope="evaluate"');
    res = await app.inject({ url: '/infer', headers: bearer(reader) });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { principal: { name: 'reader', scopes: ['inference'] } });
    res = await app.inject({ url: '/infer', headers: { authorization: `bearer   ${reader.secret}` } });
    assert.equal(res.statusCode, 200, 'scheme case-insensitive, several spaces');
    res = await app.inject({ method: 'POST', url: '/eval', headers: bearer(evaluator) });
    assert.equal(res.json().principal.name, 'evaluator');
  });

  it('public routes need no token and ignore a bad one; unknown routes stay 404', async (t) => {
    const app = await bareApp(t, { TOKENS_FILE: writeTokensFile([reader]) }, routes);
    assert.deepEqual((await app.inject({ url: '/open' })).json(), { principal: { name: null, scopes: [] } });
    assert.deepEqual((await app.inject({ url: '/open', headers: { authorization: 'Bearer junk' } })).json(), { principal: { name: null, scopes: [] } });
    assert.equal((await app.inject({ url: '/open', headers: bearer(reader) })).json().principal.name, 'reader');
    assertError(await app.inject({ url: '/nowhere' }), 404, 'MRC_ERR_NOT_FOUND');
  });

  it('without TOKENS_FILE every request is ANONYMOUS (all scopes), whatever it sends', async (t) => {
    const app = await bareApp(t, {}, routes);
    assert.equal(app.auth.enabled, false);
    for (const headers of [{}, { authorization: 'Bearer junk' }, bearer(reader)]) {
      const res = await app.inject({ method: 'POST', url: '/eval', headers });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), { principal: ANONYMOUS });
    }
  });

  it('a bad TOKENS_FILE stops the start-up with the reason', async () => {
    const app = Fastify({ logger: false });
    app.decorate('config', loadConfig({ TOKENS_FILE: writeTokensFile([{ ...reader, scopes: ['inference', 'root' as never] }]) }));
    await assert.rejects(async () => { await app.register(authPlugin); await app.ready(); }, (err: unknown) => err instanceof TokensFileError && /entry \[0\] "reader", field "scopes" has an unknown scope "root"/.test(err.message));
    await app.close().catch(() => undefined);
  });
});

describe('METRICS_AUTH', () => {
  for (const on of [true, false]) {
    it(`METRICS_AUTH=${on ? 'on: /metrics needs the scope metrics' : 'off (default): /metrics is open'}`, async (t) => {
      const app = Fastify({ logger: false });
      app.decorate('config', loadConfig({ TOKENS_FILE: writeTokensFile([reader, evaluator]), ...(on ? { METRICS_AUTH: 'on' } : {}) }));
      installErrorHandlers(app);
      await app.register(authPlugin);
      await app.register(metricsPlugin, { defaultMetrics: false });
      await app.ready();
      t.after(() => app.close());
      assert.equal(app.auth.routes.find((r) => r.url === '/metrics' && r.method === 'GET')?.scope, on ? 'metrics' : 'public');
      const anon = await app.inject({ url: '/metrics' });
      const wrong = await app.inject({ url: '/metrics', headers: bearer(reader) });
      const right = await app.inject({ url: '/metrics', headers: bearer(evaluator) });
      if (on) {
        assertError(anon, 401, 'MRC_ERR_UNAUTHORIZED');
        assertError(wrong, 403, 'MRC_ERR_FORBIDDEN');
      } else {
        assert.equal(anon.statusCode, 200);
        assert.equal(wrong.statusCode, 200);
      }
      assert.equal(right.statusCode, 200);
      assert.match(right.body, /mrcnn_build_info/);
    });
  }
});

describe('rate limits', () => {
  const limited = token('limited', ['inference'], { rate_limit: { max: 2, window: '10 s' } });
  const routes = (a: import('fastify').FastifyInstance): void => {
    a.get('/infer', { config: { scope: 'inference' } }, whoami);
    a.get('/health/live', { config: { scope: 'public' } }, async () => ({ status: 'ok' }));
  };
  const get = (app: import('fastify').FastifyInstance, tok: TestToken | null, url = '/infer', remoteAddress = '127.0.0.1') =>
    app.inject({ url, remoteAddress, headers: tok ? bearer(tok) : {} });

  it('RATE_LIMIT_MAX per token and window: 429 MRC_ERR_RATE_LIMITED with Retry-After; other tokens and health unaffected', async (t) => {
    const other = token('other', ['inference']);
    const app = await bareApp(t, { TOKENS_FILE: writeTokensFile([reader, other, limited]), RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW: '1 minute' }, routes);
    for (let i = 0; i < 3; i++) {
      const res = await get(app, reader);
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['x-ratelimit-limit'], '3');
      assert.equal(res.headers['x-ratelimit-remaining'], String(2 - i));
    }
    const res = await get(app, reader);
    const body = assertError(res, 429, 'MRC_ERR_RATE_LIMITED', null);
    assert.match(String(body.message), /3 requests per 60 s for token "reader"/);
    const retry = Number(res.headers['retry-after']);
    assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 60, `Retry-After ${res.headers['retry-after']}`);
    assert.equal(res.headers['x-ratelimit-remaining'], '0');
    // the key is the token, not the address: another token from the same address is not limited
    assert.equal((await get(app, other)).statusCode, 200);
    // the per-token override: 2 per 10 s
    assert.equal((await get(app, limited)).statusCode, 200);
    assert.equal((await get(app, limited)).statusCode, 200);
    const over = await get(app, limited);
    assertError(over, 429, 'MRC_ERR_RATE_LIMITED');
    assert.ok(Number(over.headers['retry-after']) <= 10);
    // health probes are exempt, even for a limited token
    for (let i = 0; i < 10; i++) assert.equal((await get(app, reader, '/health/live')).statusCode, 200);
  });

  it('requests without a valid token count against their address (before the 401)', async (t) => {
    const app = await bareApp(t, { TOKENS_FILE: writeTokensFile([reader]), RATE_LIMIT_MAX: '2' }, routes);
    const junk = { ...reader, secret: 'wrong' };
    assert.equal((await get(app, junk, '/infer', '10.0.0.1')).statusCode, 401);
    assert.equal((await get(app, null, '/infer', '10.0.0.1')).statusCode, 401);
    assertError(await get(app, junk, '/infer', '10.0.0.1'), 429, 'MRC_ERR_RATE_LIMITED');
    assert.equal((await get(app, junk, '/infer', '10.0.0.2')).statusCode, 401);
    assert.equal((await get(app, reader, '/infer', '10.0.0.1')).statusCode, 200, 'a valid token has its own counter');
  });

  it('without TOKENS_FILE the key is the client address', async (t) => {
    const app = await bareApp(t, { RATE_LIMIT_MAX: '2' }, routes);
    assert.equal((await get(app, null, '/infer', '10.0.0.1')).statusCode, 200);
    assert.equal((await get(app, null, '/infer', '10.0.0.1')).statusCode, 200);
    assertError(await get(app, null, '/infer', '10.0.0.1'), 429, 'MRC_ERR_RATE_LIMITED');
    assert.equal((await get(app, null, '/infer', '10.0.0.2')).statusCode, 200);
  });

  it('RATE_LIMIT_MAX=0 (default): no limit, except tokens with their own rate_limit', async (t) => {
    const app = await bareApp(t, { TOKENS_FILE: writeTokensFile([reader, limited]) }, routes);
    for (let i = 0; i < 25; i++) {
      const res = await get(app, reader);
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['x-ratelimit-limit'], undefined);
    }
    assert.equal((await get(app, limited)).statusCode, 200);
    assert.equal((await get(app, limited)).statusCode, 200);
    assertError(await get(app, limited), 429, 'MRC_ERR_RATE_LIMITED');
  });
});
