/**
 * @file The access matrix, generated from the app's own route table (`app.auth.routes`, filled by
 * the auth plugin's onRoute hook): every route of the real app × {no token, unknown token, a token
 * without the route's scope, a token with it} must answer 401 / 401 / 403 / neither 401 nor 403
 * (public routes: never 401 nor 403). Routes added later are covered without touching this file.
 * The same app (TOKENS_FILE, METRICS_AUTH=on) also checks /health/ready, the OpenAPI security of
 * every operation, a real listening server (fetch, and raw requests with repeated, huge and
 * non-ASCII Authorization headers), and that no token ever reaches the log (trace level).
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, describe, it } from 'node:test';
import type { RouteAccessEntry } from '../../src/plugins/auth.js';
import { SCOPES } from '../../src/auth/scopes.js';
import { assertError, build, listen } from '../helper.js';
import { bearer, LogCapture, matrixTokens, secret, token, writeTokensFile } from './support.js';

const tokens = matrixTokens();
/** Not used by the matrix: a token with every scope and its own rate limit of 2 requests a minute. */
const limited = token('limited', [...SCOPES], { rate_limit: { max: 2, window: '1 minute' } });
const logs = new LogCapture();
const app = await build({ after }, { TOKENS_FILE: writeTokensFile([...tokens.values(), limited]), METRICS_AUTH: 'on' }, { logger: { level: 'trace', stream: logs } });

/** The route table, one entry per (method, url); OPTIONS/HEAD kept (they are routes too). */
const routes: RouteAccessEntry[] = [...new Map(app.auth.routes.map((r) => [`${r.method} ${r.url}`, r])).values()];
const ID = '00000000-0000-4000-8000-000000000000';
/** A concrete URL for a route pattern (`:param` and `*` filled in). */
const concrete = (url: string): string => url.replace(/:[A-Za-z0-9_]+/g, ID).replace(/\*/g, 'x');

type Case = 'no token' | 'unknown token' | 'without the scope' | 'with the scope';
const CASES: Case[] = ['no token', 'unknown token', 'without the scope', 'with the scope'];

function headersFor(route: RouteAccessEntry, c: Case): Record<string, string> {
  if (c === 'no token') return {};
  if (c === 'unknown token') return { authorization: `Bearer ${secret()}` };
  const scope = route.scope === 'public' ? 'inference' : route.scope;
  return bearer(tokens.get(c === 'with the scope' ? `only-${scope}` : `except-${scope}`)!);
}

function check(route: RouteAccessEntry, c: Case, status: number, body: string): void {
  const what = `${route.method} ${route.url} (${route.scope}) ${c}: ${status} ${body.slice(0, 200)}`;
  if (route.scope === 'public' || c === 'with the scope') {
    assert.ok(status !== 401 && status !== 403, what);
    return;
  }
  const expected = c === 'without the scope' ? 403 : 401;
  assert.equal(status, expected, what);
  if (route.method !== 'HEAD') {
    const json = JSON.parse(body) as { code: string; message: string };
    assert.equal(json.code, expected === 401 ? 'MRC_ERR_UNAUTHORIZED' : 'MRC_ERR_FORBIDDEN', what);
    if (expected === 403) assert.match(json.message, new RegExp(`needs the scope "${route.scope}"`), what);
  }
}

describe('access matrix (inject), from the route table', () => {
  it('the table covers the known routes and every scope is declared', () => {
    const keys = new Set(routes.map((r) => `${r.method} ${r.url} ${r.scope}`));
    for (const k of ['GET /health/live public', 'GET /health/ready public', 'POST /predict inference', 'GET /models inference',
      'POST /evaluate evaluate', 'POST /evaluations evaluate', 'GET /evaluations/:id evaluate', 'DELETE /evaluations/:id evaluate',
      'GET /evaluations/:id/report evaluate', 'GET /metrics metrics', 'GET /docs/json public', 'GET /docs/yaml public']) {
      assert.ok(keys.has(k), `${k} in ${[...keys].join(', ')}`);
    }
    assert.ok(routes.every((r) => r.scope === 'public' || SCOPES.includes(r.scope)));
  });

  for (const route of routes) {
    it(`${route.method} ${route.url} (${route.scope})`, async () => {
      for (const c of CASES) {
        const res = await app.inject({ method: route.method as 'GET', url: concrete(route.url), headers: headersFor(route, c) });
        check(route, c, res.statusCode, res.body);
        if (res.statusCode === 401) assert.match(String(res.headers['www-authenticate']), /^Bearer realm="maskrcnn-serve"/);
      }
    });
  }
});

describe('the same app', () => {
  it('/health/ready says "auth": "on" and needs no token', async () => {
    const res = await app.inject({ url: '/health/ready' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().auth, 'on');
  });

  it('the OpenAPI document: bearerAuth, and each operation\'s security from its route\'s scope', async () => {
    const doc = (await app.inject({ url: '/docs/json' })).json() as {
      components: { securitySchemes: Record<string, { type: string; scheme: string }> };
      paths: Record<string, Record<string, { security?: unknown; responses: Record<string, unknown> }>>;
    };
    assert.deepEqual({ ...doc.components.securitySchemes.bearerAuth, description: undefined }, { type: 'http', scheme: 'bearer', description: undefined });
    let operations = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const url = path.replace(/\{([^}]+)\}/g, ':$1');
        const route = routes.find((r) => r.url === url && r.method === method.toUpperCase());
        assert.ok(route, `${method} ${path} is a route`);
        operations++;
        if (route.scope === 'public') {
          assert.deepEqual(op.security, [], `${method} ${path}`);
        } else {
          assert.deepEqual(op.security, [{ bearerAuth: [route.scope] }], `${method} ${path}`);
          for (const s of ['401', '403', '429']) assert.ok(op.responses[s], `${method} ${path} documents ${s}`);
        }
      }
    }
    assert.ok(operations >= 8, `${operations} operations`);
  });
});

/** One raw HTTP/1.1 request; the status code of the answer. */
function raw(base: string, headerLines: Buffer): Promise<number> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(Buffer.concat(chunks).toString('latin1'));
      if (m) resolve(Number(m[1]));
      else reject(new Error(`no HTTP answer: ${Buffer.concat(chunks).toString('latin1').slice(0, 100)}`));
    });
    socket.end(Buffer.concat([Buffer.from('GET /models HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n'), headerLines, Buffer.from('\r\n')]));
  });
}

describe('a real listening server', () => {
  it('the matrix over HTTP (fetch), and raw Authorization headers: repeated, huge, non-ASCII, lowercase', async () => {
    const base = await listen(app);
    for (const route of routes.filter((r) => r.method !== 'HEAD' && r.method !== 'OPTIONS')) {
      for (const c of CASES) {
        const res = await fetch(`${base}${concrete(route.url)}`, { method: route.method, headers: headersFor(route, c) });
        check(route, c, res.status, await res.text());
      }
    }
    const reader = tokens.get('only-inference')!;
    const line = (v: string | Buffer): Buffer => Buffer.concat([Buffer.from('Authorization: '), Buffer.from(v), Buffer.from('\r\n')]);
    // Node keeps the first of repeated Authorization headers
    assert.equal(await raw(base, Buffer.concat([line(`Bearer ${reader.secret}`), line('Bearer junk')])), 200);
    assert.equal(await raw(base, Buffer.concat([line('Bearer junk'), line(`Bearer ${reader.secret}`)])), 401);
    assert.equal(await raw(base, line(`bearer    ${reader.secret}   `)), 200);
    assert.equal(await raw(base, line(Buffer.from([0x42, 0x65, 0x61, 0x72, 0x65, 0x72, 0x20, 0xe9, 0xff, 0x80, 0xa0]))), 401);
    assert.equal(await raw(base, line(`Bearer ${'é'.repeat(100)}`)), 401);
    assert.equal(await raw(base, line(`Bearer ${'a'.repeat(5000)}`)), 401);
    // larger than Node's header limit: Node itself answers 431, the process goes on
    assert.equal(await raw(base, line(`Bearer ${'a'.repeat(40_000)}`)), 431);
    assert.equal(await raw(base, Buffer.alloc(0)), 401);
    assert.equal(await raw(base, line(`Bearer ${reader.secret}`)), 200);
  });
});

describe('rate limit in the real app', () => {
  it('a token over its rate_limit gets 429 MRC_ERR_RATE_LIMITED with Retry-After on any protected route; probes are exempt', async () => {
    assert.equal((await app.inject({ url: '/models', headers: bearer(limited) })).statusCode, 200);
    assert.equal((await app.inject({ method: 'POST', url: '/evaluate', headers: bearer(limited) })).statusCode, 400);
    for (const [method, url] of [['GET', '/models'], ['POST', '/evaluations'], ['POST', '/predict'], ['GET', '/metrics']] as const) {
      const res = await app.inject({ method, url, headers: bearer(limited) });
      const body = assertError(res, 429, 'MRC_ERR_RATE_LIMITED', null);
      assert.match(String(body.message), /2 requests per 60 s for token "limited"/);
      const retry = Number(res.headers['retry-after']);
      assert.ok(retry >= 1 && retry <= 60, String(res.headers['retry-after']));
    }
    for (let i = 0; i < 5; i++) assert.equal((await app.inject({ url: '/health/ready', headers: bearer(limited) })).statusCode, 200);
    assert.equal((await app.inject({ url: '/models', headers: bearer(tokens.get('only-inference')!) })).statusCode, 200, 'other tokens go on');
  });
});

describe('logs', () => {
  it('no token appears in the log at trace level; a logged Authorization header is redacted', async () => {
    const tok = tokens.get('only-evaluate')!;
    app.log.info({ req: { headers: { authorization: `Bearer ${tok.secret}` } } }, 'a request logged with its headers');
    app.log.info({ request: { headers: { authorization: `Bearer ${tok.secret}` } }, headers: { authorization: tok.secret } }, 'and other shapes');
    await app.inject({ method: 'GET', url: `/evaluations/${ID}`, headers: bearer(tok) }); // a rejected request (404) is logged too
    assert.ok(logs.lines.length > 100, `${logs.lines.length} log lines`);
    for (const t of [...tokens.values(), limited]) assert.ok(!logs.text.includes(t.secret), `token ${t.name} leaked into the log`);
    const logged = logs.records().filter((r) => r.msg === 'a request logged with its headers' || r.msg === 'and other shapes');
    assert.equal(logged.length, 2);
    // `req` goes through Fastify's request serializer (no headers at all); other shapes are redacted
    assert.equal((logged[0]!.req as { headers?: unknown }).headers, undefined);
    assert.deepEqual(logged[1]!.headers, { authorization: '[redacted]' });
    assert.deepEqual((logged[1]!.request as { headers: unknown }).headers, { authorization: '[redacted]' });
    // rejections are logged by token name and reason, never by token
    assert.ok(logs.records().some((r) => r.msg === 'request rejected' && r.code === 'MRC_ERR_FORBIDDEN' && typeof r.token === 'string'));
    assert.ok(logs.records().some((r) => r.msg === 'access control on' && r.tokens === tokens.size + 1));
  });
});
