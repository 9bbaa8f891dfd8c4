#!/usr/bin/env node
// Runs the test suite with node:test through tsx. The files are listed here (every test/**/*.test.ts
// outside fixtures/) so that arguments can pick them by substring; node --test gets the explicit list.
// Usage: node scripts/run-tests.mjs [dir-or-file-substring ...]
// Each file runs in its own child process (a native-addon crash stays inside its file).
// TEST_CONCURRENCY (default 1: the model tests are CPU-bound on small machines).
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'fixtures' || name === 'node_modules') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}
const filters = process.argv.slice(2);
let files = walk(join(root, 'test'), []).sort();
if (filters.length) files = files.filter((f) => filters.some((s) => f.includes(s)));
if (!files.length) {
  console.error('no test files match', filters);
  process.exit(1);
}
const r = spawnSync(process.execPath, [
  '--import', 'tsx', '--test', `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 1}`,
  '--test-timeout=600000', ...files,
], { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
