/**
 * @file `npx tsx bench/auth.ts [--write]` (also run by `npm run bench`): what access control costs
 * /predict. Real servers (src/server.ts in child processes, 1 inference worker of BENCH_THREADS
 * intra-op threads each): one with TOKENS_FILE (BENCH_AUTH_TOKENS entries, the caller's token last,
 * so the request pays the whole comparison loop, which never stops early anyway) and
 * RATE_LIMIT_MAX set high enough never to refuse (so the counter is paid too), one without.
 * A third server, also without access control, is the A/A control: the ratio of two identical
 * servers is the noise floor of the machine. Sequential POST /predict calls in rounds (each server
 * once per round, rotating order, 50 ms apart) so drift in the machine's load hits all three; p50 of
 * each, the ratio on/off (goal <= 1.01x) next to the A/A ratio, and the median per-round ratio with
 * a 95% bootstrap interval.
 * Also, in this process: the auth hook's own work per request (parse the header, SHA-256, compare
 * with every stored digest), in microseconds, for scale.
 * Knobs: BENCH_AUTH_RUNS (80 rounds), BENCH_AUTH_TOKENS (20), BENCH_THREADS (all cores).
 * `--write` replaces the block between `bench-auth:begin` / `bench-auth:end` in bench/RESULTS.md.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAuthorization, parseTokensFile, TokenVerifier, tokenSha256 } from '../src/auth/tokens.js';
import { FIXTURE_IMAGES, ROOT, spawnServer } from '../test/robustness/helpers.js';
import { machine, pct, post } from './lib.js';

const { values: args } = parseArgs({ options: { write: { type: 'boolean', default: false }, model: { type: 'string' } }, strict: false });
const RUNS = Number(process.env.BENCH_AUTH_RUNS ?? 80);
const TOKENS = Math.max(1, Number(process.env.BENCH_AUTH_TOKENS ?? 20));
const THREADS = Number(process.env.BENCH_THREADS ?? availableParallelism());
const log = (msg: string): void => { process.stderr.write(`[bench:auth] ${msg}\n`); };

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mrcnn-bench-auth-'));
  const secret = randomBytes(32).toString('base64url');
  const entries = Array.from({ length: TOKENS }, (_, i) => ({
    name: `t${i}`, sha256: tokenSha256(i === TOKENS - 1 ? secret : randomBytes(32).toString('base64url')), scopes: ['inference'],
  }));
  const tokensFile = join(dir, 'tokens.json');
  writeFileSync(tokensFile, JSON.stringify(entries));
  const env = { INFERENCE_WORKERS: '1', INTRA_OP_THREADS: String(THREADS), QUEUE_SIZE: '8' };
  // started in the order off, on, off2: the second server without access control is the A/A control
  // (two identical servers differ by this much on this machine, with nothing changed)
  const off = await spawnServer(env);
  const on = await spawnServer({ ...env, TOKENS_FILE: tokensFile, RATE_LIMIT_MAX: '1000000', RATE_LIMIT_WINDOW: '1 minute' });
  const off2 = await spawnServer(env);
  try {
    const image = readFileSync(join(FIXTURE_IMAGES, 'sq-256.png'));
    const call = async (base: string, headers: Record<string, string>): Promise<number> => {
      const t0 = performance.now();
      await post(`${base}/predict`, image, { 'content-type': 'image/png', ...headers });
      return performance.now() - t0;
    };
    const auth = { authorization: `Bearer ${secret}` };
    const unauth = await fetch(`${on.baseUrl}/predict`, { method: 'POST', body: image, headers: { 'content-type': 'image/png' } });
    if (unauth.status !== 401) throw new Error(`the server with TOKENS_FILE answered ${unauth.status} without a token`);
    const tOff: number[] = [];
    const tOn: number[] = [];
    const tOff2: number[] = [];
    const sides = [
      { times: tOff, run: () => call(off.baseUrl, {}) },
      { times: tOn, run: () => call(on.baseUrl, auth) },
      { times: tOff2, run: () => call(off2.baseUrl, {}) },
    ];
    for (let i = 0; i < 5; i++) for (const side of sides) await side.run();
    log(`${RUNS} rounds of POST /predict (sq-256.png) on each server, ${THREADS} threads, ${TOKENS} tokens`);
    for (let i = 0; i < RUNS; i++) {
      // each round calls the three servers in a rotating order, 50 ms apart (idle thread pools stop spinning)
      for (let k = 0; k < 3; k++) {
        const side = sides[(i + k) % 3]!;
        side.times.push(await side.run());
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const p50Off = pct(tOff, 0.5);
    const p50On = pct(tOn, 0.5);
    // the hook's own work, in this process
    const verifier = new TokenVerifier(parseTokensFile(JSON.stringify(entries), tokensFile));
    const header = `Bearer ${secret}`;
    const N = 20_000;
    for (let i = 0; i < 2000; i++) verifier.verify(secret);
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
      const c = parseAuthorization(header);
      if (c.kind !== 'bearer' || verifier.verify(c.token) === null) throw new Error('token not found');
    }
    const hookUs = ((performance.now() - t0) * 1000) / N;
    const ratio = p50On / p50Off;
    // each pair ran back to back: the median of the per-pair ratios cancels slower drift in load
    const ratioAA = pct(tOff2, 0.5) / p50Off;
    // each round ran back to back: the median of the per-round ratios cancels slower drift in load,
    // with a 95% bootstrap interval (how much the machine's noise allows one to say)
    let seed = 12345;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const pairedMedian = (a: number[], b: number[]): [number, number, number] => {
      const ratios = a.map((v, i) => v / b[i]!);
      const medians = Array.from({ length: 2000 }, () => pct(ratios.map(() => ratios[Math.floor(rand() * ratios.length)]!), 0.5));
      return [pct(ratios, 0.5), pct(medians, 0.025), pct(medians, 0.975)];
    };
    const [paired, lo, hi] = pairedMedian(tOn, tOff);
    const [pairedAA, loAA, hiAA] = pairedMedian(tOff2, tOff);
    const m = machine();
    const lines = [
      `Run of ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; ${m.cpu}, ${m.cores} cores, load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}; ${THREADS} intra-op threads, 1 worker.`,
      '',
      '| POST /predict, sq-256.png, sequential | p50 ms | p90 ms |',
      '|---|---|---|',
      `| access control off (no TOKENS_FILE) | ${p50Off.toFixed(2)} | ${pct(tOff, 0.9).toFixed(2)} |`,
      `| access control on (${TOKENS} tokens, rate limit counted) | ${p50On.toFixed(2)} | ${pct(tOn, 0.9).toFixed(2)} |`,
      `| control: a second server without access control | ${pct(tOff2, 0.5).toFixed(2)} | ${pct(tOff2, 0.9).toFixed(2)} |`,
      `| **ratio on / off** (goal <= 1.01x) | **${ratio.toFixed(3)}x** | ${(pct(tOn, 0.9) / pct(tOff, 0.9)).toFixed(3)}x |`,
      `| A/A ratio off2 / off (the noise floor: nothing differs) | ${ratioAA.toFixed(3)}x | ${(pct(tOff2, 0.9) / pct(tOff, 0.9)).toFixed(3)}x |`,
      `| median of the ${RUNS} per-round ratios on / off [95% interval] | ${paired.toFixed(3)}x [${lo.toFixed(3)} - ${hi.toFixed(3)}] | |`,
      `| the same for off2 / off | ${pairedAA.toFixed(3)}x [${loAA.toFixed(3)} - ${hiAA.toFixed(3)}] | |`,
      '',
      `The hook's own work per request (parse the header, SHA-256 of the token, ${TOKENS} constant-time comparisons), measured in-process: ${hookUs.toFixed(2)} µs, ${(hookUs / 10 / p50Off).toFixed(4)}% of the off p50. ${RUNS} rounds.`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    if (args.write && !args.model) {
      const file = join(ROOT, 'bench', 'RESULTS.md');
      const text = readFileSync(file, 'utf8');
      const begin = '<!-- bench-auth:begin -->';
      const end = '<!-- bench-auth:end -->';
      const block = `${begin}\n${lines.join('\n')}\n${end}`;
      const next = text.includes(begin) ? text.replace(new RegExp(`${begin}[\\s\\S]*?${end}`), block) : `${text.trimEnd()}\n\n## Access control on vs off (bench/auth.ts)\n\n${block}\n`;
      writeFileSync(file, next);
      log('bench/RESULTS.md updated');
    }
  } finally {
    await Promise.all([off.stop(), on.stop(), off2.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
