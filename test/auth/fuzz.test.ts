/**
 * @file Fuzzing the Authorization header (fast-check, through inject): random bytes, unicode, wrong
 * schemes, lowercase "bearer", several spaces or tabs, huge values, repeated headers, near-miss
 * tokens. Always 401 in the common error shape or a success — a success only for exactly one
 * `Bearer <the token>` — never a 5xx, and the app keeps answering.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { bareApp, bearer, token, writeTokensFile } from './support.js';

// A fixed secret (with lowercase letters, so case-only near misses are generated): runs repeat exactly for a seed.
const reader = token('reader', ['inference'], { secret: 'q7aXk2mZp9_LwT4vB-cN8yHf3RdJs6GuE1oVtYiWbKa' });
const RUNS = Number(process.env.AUTH_FUZZ_RUNS ?? 400);

/**
 * What the service accepts: scheme Bearer in any case, spaces, the exact token, spaces. Of a
 * repeated Authorization header Node keeps the first (and drops the others), as inject does.
 */
const acceptedRe = new RegExp(`^[Bb][Ee][Aa][Rr][Ee][Rr] +${reader.secret.replace(/[-/\\^$*+?.()|[\]{}]/g, '\\$&')} *$`); // the token itself is case-sensitive
const accepted = (h: string | string[]): boolean => acceptedRe.test(Array.isArray(h) ? h[0]! : h);

const schemes = fc.constantFrom('Bearer', 'bearer', 'BEARER', 'BeArEr', 'Basic', 'Token', 'Digest', 'Bearer:', 'Bearer=', '', 'Bearer\u00a0');
const separators = fc.constantFrom(' ', '  ', '     ', '\t', '', ' \t ', '\u3000');
const tokens = fc.oneof(
  fc.constant(reader.secret),
  fc.constant(reader.secret.toUpperCase()),
  fc.constant(`${reader.secret}=`),
  fc.constant(`${reader.secret} ${reader.secret}`),
  fc.constant(reader.secret.slice(0, -1)),
  fc.nat({ max: reader.secret.length - 1 }).map((i) => `${reader.secret.slice(0, i)}${reader.secret[i] === 'A' ? 'B' : 'A'}${reader.secret.slice(i + 1)}`),
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.stringMatching(/^[A-Za-z0-9\-._~+/]{1,600}=*$/),
);
const structured = fc.tuple(fc.constantFrom('', ' ', '  '), schemes, separators, tokens, fc.constantFrom('', ' ', '   ', '\t', ',', ', Bearer x'))
  .map(([lead, scheme, sep, tok, tail]) => `${lead}${scheme}${sep}${tok}${tail}`);
const bytes = fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1'));
const unicode = fc.string({ unit: 'grapheme', maxLength: 100 }).map((s) => `Bearer ${s}`);
const huge = fc.tuple(fc.integer({ min: 1000, max: 200_000 }), fc.constantFrom('a', 'A', '=', ' ', 'é', reader.secret)).map(([n, c]) => `Bearer ${c.repeat(Math.ceil(n / c.length))}`);
const valid = fc.tuple(fc.constantFrom('Bearer', 'bearer', 'BEARER', 'bEARER'), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 3 }))
  .map(([scheme, before, after]) => `${scheme}${' '.repeat(before)}${reader.secret}${' '.repeat(after)}`);
const single = fc.oneof({ weight: 2, arbitrary: valid }, { weight: 5, arbitrary: structured }, { weight: 2, arbitrary: bytes }, { weight: 2, arbitrary: unicode }, { weight: 1, arbitrary: huge });
const header = fc.oneof({ weight: 6, arbitrary: single }, { weight: 1, arbitrary: fc.array(single, { minLength: 2, maxLength: 4 }) });

describe('Authorization header fuzzing', () => {
  it(`${RUNS} random headers: 401 or success, never 5xx`, async (t) => {
    const app = await bareApp(t, { TOKENS_FILE: writeTokensFile([reader]) }, (a) => {
      a.get('/infer', { config: { scope: 'inference' } }, async (request) => ({ name: request.principal?.name ?? null }));
      a.get('/open', { config: { scope: 'public' } }, async () => ({ ok: true }));
    });
    let successes = 0;
    let injectRefused = 0;
    await fc.assert(fc.asyncProperty(header, fc.boolean(), async (value, publicRoute) => {
      let res: Awaited<ReturnType<typeof app.inject>>;
      try {
        // an array = the header sent several times (light-my-request joins them as Node does)
        res = await app.inject({ url: publicRoute ? '/open' : '/infer', headers: { authorization: value as string } });
      } catch (err) {
        // the test client itself refuses a few header values Node would never deliver (not the app)
        if ((err as NodeJS.ErrnoException).code === 'ERR_INVALID_CHAR' || (err as NodeJS.ErrnoException).code === 'ERR_HTTP_INVALID_HEADER_VALUE') {
          injectRefused++;
          return;
        }
        throw err;
      }
      assert.ok(res.statusCode < 500, `${res.statusCode} for ${JSON.stringify(value).slice(0, 200)}: ${res.body}`);
      if (publicRoute) {
        assert.equal(res.statusCode, 200);
        return;
      }
      if (accepted(value)) {
        assert.equal(res.statusCode, 200, JSON.stringify(value).slice(0, 200));
        assert.deepEqual(res.json(), { name: 'reader' });
        successes++;
      } else {
        assert.equal(res.statusCode, 401, `${JSON.stringify(value).slice(0, 200)} → ${res.statusCode} ${res.body}`);
        const body = res.json();
        assert.equal(body.code, 'MRC_ERR_UNAUTHORIZED');
        assert.match(String(res.headers['www-authenticate']), /^Bearer realm="maskrcnn-serve"/);
        assert.ok(!JSON.stringify(body).includes(reader.secret));
      }
    }), { numRuns: RUNS, seed: Number(process.env.AUTH_FUZZ_SEED ?? 20261130) });
    t.diagnostic(`accepted ${successes}, refused by the test client ${injectRefused}`);
    assert.ok(successes > 0, 'the generator produced accepted headers too');
    assert.ok(injectRefused < RUNS / 2);
    // still serving
    assert.equal((await app.inject({ url: '/infer', headers: bearer(reader) })).statusCode, 200);
  });
});
