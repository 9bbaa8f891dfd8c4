/**
 * @file TOKENS_FILE checks (each error names the entry and the field, never echoes a hash or a
 * token), the Authorization header parser, the verifier, durations and the auth configuration.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { parseDuration } from '../../src/auth/duration.js';
import { loadTokensFile, parseAuthorization, parseTokensFile, TokensFileError, TokenVerifier, tokenSha256 } from '../../src/auth/tokens.js';
import { ConfigError, loadConfig } from '../../src/config.js';

const H1 = tokenSha256('first-token');
const H2 = tokenSha256('second-token');
const ok = (extra: Record<string, unknown> = {}) => ({ name: 'ci', sha256: H1, scopes: ['inference'], ...extra });
const parse = (data: unknown) => parseTokensFile(JSON.stringify(data), '/etc/tokens.json');

/** Asserts a TokensFileError whose message matches every pattern. */
function refuses(data: unknown, ...patterns: RegExp[]): string {
  let message = '';
  assert.throws(() => (typeof data === 'string' ? parseTokensFile(data, '/etc/tokens.json') : parse(data)), (err: unknown) => {
    assert.ok(err instanceof TokensFileError, String(err));
    assert.ok(err instanceof ConfigError);
    assert.equal(err.variable, 'TOKENS_FILE');
    message = err.message;
    assert.match(message, /^Invalid configuration: TOKENS_FILE \(\/etc\/tokens\.json\): /);
    for (const p of patterns) assert.match(message, p);
    return true;
  });
  return message;
}

describe('TOKENS_FILE', () => {
  it('accepts a valid file: digests, scopes, rate limits, frozen principals', () => {
    const entries = parse([
      ok({ rate_limit: { max: 5, window: '30s' } }),
      { name: 'admin', sha256: H2.toUpperCase(), scopes: ['manage', 'metrics', 'evaluate'], rate_limit: { max: 100 } },
    ]);
    assert.equal(entries.length, 2);
    assert.equal(entries[0]!.digest.toString('hex'), H1);
    assert.equal(entries[1]!.digest.toString('hex'), H2); // upper-case hex accepted
    assert.deepEqual(entries[0]!.rateLimit, { max: 5, windowMs: 30_000 });
    assert.deepEqual(entries[1]!.rateLimit, { max: 100, windowMs: undefined });
    assert.deepEqual(entries[1]!.principal, { name: 'admin', scopes: ['manage', 'metrics', 'evaluate'] });
    assert.ok(Object.isFrozen(entries[1]!.principal) && Object.isFrozen(entries[1]!.principal.scopes));
  });

  it('refuses bad hex, naming the entry and the field, without echoing the value', () => {
    const bad = `${H1.slice(0, 63)}g`;
    const m = refuses([ok(), { name: 'ops', sha256: bad, scopes: ['inference'] }], /entry \[1\] "ops", field "sha256"/, /64 hexadecimal digits/, /64 characters, not all hexadecimal/);
    assert.ok(!m.includes(bad));
    refuses([ok({ sha256: H1.slice(0, 40) })], /entry \[0\] "ci", field "sha256"/, /got 40 characters\)/);
    refuses([ok({ sha256: 42 })], /field "sha256"/, /got number/);
    refuses([{ name: 'ci', scopes: ['inference'] }], /field "sha256"/, /got undefined/);
  });

  it('refuses unknown and repeated scopes', () => {
    refuses([ok({ scopes: ['inference', 'admin'] })], /entry \[0\] "ci", field "scopes"/, /unknown scope "admin"/, /inference, evaluate, manage, metrics/);
    refuses([ok({ scopes: ['public'] })], /unknown scope "public"/);
    refuses([ok({ scopes: [] })], /field "scopes" must be a non-empty array/);
    refuses([ok({ scopes: 'inference' })], /field "scopes"/, /got string/);
    refuses([ok({ scopes: ['evaluate', 'evaluate'] })], /lists "evaluate" twice/);
  });

  it('refuses a duplicate name or hash, naming both entries', () => {
    refuses([ok(), { name: 'ci', sha256: H2, scopes: ['evaluate'] }], /entry \[1\] "ci", field "name" duplicates the name of entry \[0\]/);
    const m = refuses([ok(), { name: 'other', sha256: H1.toUpperCase(), scopes: ['evaluate'] }], /entry \[1\] "other", field "sha256" duplicates the sha256 of entry \[0\]/);
    assert.ok(!m.toLowerCase().includes(H1));
  });

  it('refuses bad names, unknown fields (a pasted token is not echoed), bad rate limits', () => {
    refuses([ok({ name: '' })], /entry \[0\], field "name" must be 1 to 64 characters/);
    refuses([ok({ name: 'has space' })], /entry \[0\], field "name"/, /"has space"/);
    refuses([ok({ name: 'x'.repeat(65) })], /field "name"/);
    const m = refuses([ok({ token: 'my-secret-token-value' })], /entry \[0\] "ci", field "token" is not a known field/, /only its sha256/);
    assert.ok(!m.includes('my-secret-token-value'));
    refuses([ok({ rate_limit: { max: 0 } })], /field "rate_limit.max" must be an integer >= 1/);
    refuses([ok({ rate_limit: { max: 1.5 } })], /field "rate_limit.max"/);
    refuses([ok({ rate_limit: { max: 3, window: '60' } })], /field "rate_limit.window" must be a number and a unit/, /got "60"/);
    refuses([ok({ rate_limit: { max: 3, window: '3 fortnights' } })], /field "rate_limit.window"/);
    refuses([ok({ rate_limit: { max: 3, per: 'minute' } })], /field "rate_limit.per" is not a known field/);
    refuses([ok({ rate_limit: 10 })], /field "rate_limit" must be an object/);
  });

  it('refuses a file that is not a non-empty JSON array of objects', () => {
    refuses('[{"name": "ci",', /is not valid JSON/);
    refuses({ name: 'ci' }, /must be a JSON array/, /got object/);
    refuses([], /lists no token/, /unset TOKENS_FILE/);
    refuses([ok(), 'x'], /entry \[1\] must be an object \(got string\)/);
  });

  it('loadTokensFile names a file that cannot be read', async () => {
    await assert.rejects(loadTokensFile('/nonexistent/tokens.json'), (err: unknown) => {
      assert.ok(err instanceof TokensFileError);
      assert.match(err.message, /TOKENS_FILE \(\/nonexistent\/tokens\.json\): cannot be read \(ENOENT\)/);
      return true;
    });
  });
});

describe('Authorization header', () => {
  it('parses Bearer tokens (scheme case-insensitive, spaces before the token)', () => {
    assert.deepEqual(parseAuthorization(undefined), { kind: 'none' });
    assert.deepEqual(parseAuthorization('Bearer abc-DEF_1.2~3+4/5=='), { kind: 'bearer', token: 'abc-DEF_1.2~3+4/5==' });
    assert.deepEqual(parseAuthorization('bearer abc'), { kind: 'bearer', token: 'abc' });
    assert.deepEqual(parseAuthorization('BEARER   abc  '), { kind: 'bearer', token: 'abc' });
  });

  it('anything else is malformed', () => {
    for (const h of ['', 'Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'Bearer a b', 'Bearer\tabc', 'Bearerabc', 'Token abc',
      'Bearer é', 'Bearer abc\n', 'Bearer =abc', `Bearer ${'a'.repeat(513)}`, ['Bearer a', 'Bearer b']] as Array<string | string[]>) {
      assert.deepEqual(parseAuthorization(h), { kind: 'malformed' }, JSON.stringify(h));
    }
    assert.equal(parseAuthorization(`Bearer ${'a'.repeat(512)}`).kind, 'bearer');
  });
});

describe('TokenVerifier', () => {
  it('finds the entry whose sha256 is the token\'s, whichever its position', () => {
    const tokens = Array.from({ length: 5 }, (_, i) => `token-${i}`);
    const entries = parse(tokens.map((t, i) => ({ name: `t${i}`, sha256: createHash('sha256').update(t).digest('hex'), scopes: ['inference'] })));
    const v = new TokenVerifier(entries);
    tokens.forEach((t, i) => assert.equal(v.verify(t)?.name, `t${i}`));
    assert.equal(v.verify('token-5'), null);
    assert.equal(v.verify(''), null);
    assert.equal(v.verify(createHash('sha256').update('token-0').digest('hex')), null); // the hash is not the token
  });
});

describe('durations and configuration', () => {
  it('parseDuration needs a unit', () => {
    assert.equal(parseDuration('1 minute'), 60_000);
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('1.5 h'), 5_400_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('2 Days'), 172_800_000);
    for (const bad of ['60', 'minute', '1 fortnight', '-1s', '1 m s', '']) assert.equal(parseDuration(bad), undefined, bad);
  });

  it('auth variables: defaults, values, errors naming the variable', () => {
    const d = loadConfig({}, [], '/srv').auth;
    assert.deepEqual(d, { tokensFile: undefined, metricsAuth: false, rateLimitMax: 0, rateLimitWindowMs: 60_000 });
    const c = loadConfig({ TOKENS_FILE: 'conf/tokens.json', METRICS_AUTH: 'on', RATE_LIMIT_MAX: '100', RATE_LIMIT_WINDOW: '10 s' }, [], '/srv').auth;
    assert.deepEqual(c, { tokensFile: '/srv/conf/tokens.json', metricsAuth: true, rateLimitMax: 100, rateLimitWindowMs: 10_000 });
    assert.equal(loadConfig({}, ['--tokens-file', '/t.json'], '/srv').auth.tokensFile, '/t.json');
    assert.throws(() => loadConfig({ RATE_LIMIT_WINDOW: '60' }), /RATE_LIMIT_WINDOW must be a number and a unit .* \(got "60"\)/);
    assert.throws(() => loadConfig({ RATE_LIMIT_WINDOW: '500ms' }), /RATE_LIMIT_WINDOW .*from 1 s to 24 h/);
    assert.throws(() => loadConfig({ RATE_LIMIT_MAX: '-1' }), /RATE_LIMIT_MAX must be an integer/);
    assert.throws(() => loadConfig({ METRICS_AUTH: 'maybe' }), /METRICS_AUTH must be true\|false/);
  });
});
