#!/usr/bin/env node
// The long robustness run (`npm run test:robustness [-- step ...]`), see docs/robustness.md.
// Steps, in order (default: all): fuzz (>= 10,000 fast-check cases, FUZZ_RUNS=2000), overload
// (4x the sustainable /predict rate for 30 s), shutdown (SIGTERM under load), soak (10,000
// requests, memory growth). Each step is a node:test file run through tsx in its own process;
// numbers land in test-artifacts/robustness/<step>.json. Exit code: non-zero if any step failed.
// Environment passes through (FUZZ_RUNS, FUZZ_SEED, OVERLOAD_SECONDS, OVERLOAD_FACTOR,
// SOAK_REQUESTS, INTRA_OP_THREADS, ROBUSTNESS_SERVER=dist to test the compiled server).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const STEPS = {
  fuzz: { file: 'test/robustness/fuzz.test.ts', env: { FUZZ_RUNS: process.env.FUZZ_RUNS ?? '2000' } },
  overload: { file: 'test/robustness/long/overload.long.ts', env: {} },
  shutdown: { file: 'test/robustness/long/shutdown.long.ts', env: {} },
  soak: { file: 'test/robustness/long/soak.long.ts', env: {} },
};

const asked = process.argv.slice(2);
const unknown = asked.filter((s) => !(s in STEPS));
if (unknown.length) {
  console.error(`unknown step(s): ${unknown.join(', ')}; steps: ${Object.keys(STEPS).join(', ')}`);
  process.exit(2);
}
const steps = asked.length ? asked : Object.keys(STEPS);
const results = [];
for (const name of steps) {
  const { file, env } = STEPS[name];
  const t0 = Date.now();
  console.log(`\n=== robustness: ${name} (${file})`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-timeout=14400000', file], {
    cwd: root, stdio: 'inherit', env: { ...process.env, ...env },
  });
  results.push({ name, ok: r.status === 0, seconds: Math.round((Date.now() - t0) / 1000) });
}
console.log('\n=== robustness summary');
for (const r of results) console.log(`${r.ok ? 'pass' : 'FAIL'}  ${r.name.padEnd(9)} ${r.seconds} s`);
const failed = results.filter((r) => !r.ok).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
