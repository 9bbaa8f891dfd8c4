/**
 * @file `npm run bench:jobs [-- --write]` (also run by `npm run bench`, scripts/bench.mjs): evaluation jobs on each
 * store backend, and how fast a killed job comes back.
 *
 * 1. Job throughput (images/s) of a model-mode job over the same BENCH_JOBS_IMAGES (100) generated
 *    shapes images (test/support/shapes-dataset.ts), the real app in this process with the default
 *    model (1 inference worker, BENCH_THREADS intra-op threads), on:
 *    - the in-memory store (src/jobs/memory-store.ts: what jobs were before they were durable, the
 *      baseline),
 *    - SQLite (DATA_DIR in os.tmpdir(), synchronous=FULL: one fsync per image record),
 *    - PostgreSQL (a throwaway local server, fsync on; skipped when it cannot be started).
 *    Rounds (BENCH_JOBS_ROUNDS, 3) run one job per backend, in a rotating order, so drift in the
 *    machine's load hits every backend; the median round per backend is compared with the memory
 *    store's (goal >= 0.95x). images/s = images / (job finished_at - started_at): the job's own run.
 * 2. Restart: a server process (the real src/server.ts) SIGKILLed during a job of
 *    BENCH_RESTART_IMAGES (60) images, a new one started on the same store: seconds from spawning it
 *    to ready (model load + warm-up), and from ready to the first image recorded after the kill
 *    (lease takeover: JOBS_LEASE_SECONDS=2 here, 15 by default, bounds it), per backend.
 * Prints a table; with --write, replaces the `bench-jobs` block of bench/RESULTS.md.
 */
import { availableParallelism } from 'node:os';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { MemoryStore } from '../src/jobs/memory-store.js';
import { crashAndResume } from '../test/jobs/crash-helpers.js';
import { ROOT, serverEnv, tempDataDir } from '../test/robustness/helpers.js';
import { postgresUnavailableReason, startPostgres, type PostgresServer } from '../test/support/postgres.js';
import { datasetForm, shapesDataset, type ShapesDataset } from '../test/support/shapes-dataset.js';
import { machine } from './lib.js';

const IMAGES = Number(process.env.BENCH_JOBS_IMAGES ?? 100);
const ROUNDS = Math.max(1, Number(process.env.BENCH_JOBS_ROUNDS ?? 3));
const RESTART_IMAGES = Number(process.env.BENCH_RESTART_IMAGES ?? 60);
const THREADS = Number(process.env.BENCH_THREADS ?? availableParallelism());
const log = (msg: string): void => { process.stderr.write(`[bench:jobs] ${msg}\n`); };

type Backend = 'memory' | 'sqlite' | 'postgres';

/** The app of one backend, built once. */
async function appFor(backend: Backend, pg: PostgresServer | null): Promise<FastifyInstance> {
  const env = serverEnv({ INTRA_OP_THREADS: String(THREADS), LOG_LEVEL: 'silent', ...(backend === 'postgres' ? { DATABASE_URL: await pg!.createDatabase(), JOBS_QUEUE: 'local' } : {}) });
  return buildApp(loadConfig(env, [], ROOT), { logger: false, ...(backend === 'memory' ? { jobs: { store: new MemoryStore() } } : {}) });
}

/** One job over `ds`; images per second of its run (started → finished). */
async function oneJob(app: FastifyInstance, ds: ShapesDataset): Promise<number> {
  const form = datasetForm(ds);
  const req = new Request('http://x/evaluations', { method: 'POST', body: form });
  const res = await app.inject({ method: 'POST', url: '/evaluations', headers: Object.fromEntries(req.headers), payload: Buffer.from(await req.arrayBuffer()) });
  if (res.statusCode !== 202) throw new Error(`POST /evaluations: ${res.statusCode} ${res.body}`);
  const id = res.json().id as string;
  for (;;) {
    const j = (await app.inject({ url: `/evaluations/${id}` })).json() as { status: string; started_at: string; finished_at: string | null; error: unknown };
    if (j.finished_at) {
      if (j.status !== 'done') throw new Error(`job ${j.status}: ${JSON.stringify(j.error)}`);
      return ds.files.length / ((Date.parse(j.finished_at) - Date.parse(j.started_at)) / 1000);
    }
    await sleep(100);
  }
}

const median = (v: number[]): number => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };

async function main(): Promise<void> {
  const info = machine();
  log(`${info.cpu}, ${info.cores} cores; threads ${THREADS}; load ${info.loadavg_at_start}`);
  const pgSkip = postgresUnavailableReason();
  const pg = pgSkip ? null : await startPostgres({ fsync: true });
  const backends: Backend[] = pg ? ['memory', 'sqlite', 'postgres'] : ['memory', 'sqlite'];
  if (pgSkip) log(`postgres skipped: ${pgSkip}`);
  const ds = await shapesDataset(IMAGES, 7);
  const apps = new Map<Backend, FastifyInstance>();
  const rates = new Map<Backend, number[]>(backends.map((b) => [b, []]));
  try {
    for (const b of backends) apps.set(b, await appFor(b, pg));
    for (const b of backends) await oneJob(apps.get(b)!, await shapesDataset(5, 99)); // warm-up
    for (let r = 0; r < ROUNDS; r++) {
      const order = backends.map((_, i) => backends[(i + r) % backends.length]!);
      for (const b of order) {
        const ips = await oneJob(apps.get(b)!, ds);
        rates.get(b)!.push(ips);
        log(`round ${r + 1}: ${b} ${ips.toFixed(2)} images/s`);
      }
    }
  } finally {
    for (const app of apps.values()) await app.close();
  }

  const restart: Record<string, { toReady: number; toProgress: number; killedAfter: number }> = {};
  const small = await shapesDataset(RESTART_IMAGES, 11);
  for (const b of backends.filter((x) => x !== 'memory')) {
    const env: Record<string, string> = b === 'sqlite' ? { DATA_DIR: tempDataDir() } : { DATABASE_URL: await pg!.createDatabase(), JOBS_QUEUE: 'local' };
    const run = await crashAndResume(small, { ...env, INTRA_OP_THREADS: String(THREADS) }, 10);
    restart[b] = { toReady: run.secondsToReady, toProgress: run.secondsToProgress, killedAfter: run.doneAtKill };
    log(`restart ${b}: ready after ${run.secondsToReady.toFixed(1)} s, progress ${run.secondsToProgress.toFixed(1)} s after ready`);
  }
  await pg?.teardown();

  const base = median(rates.get('memory')!);
  const rows = backends.map((b) => {
    const m = median(rates.get(b)!);
    return `| job throughput, ${b} | ${m.toFixed(2)} images/s | ${b === 'memory' ? 'baseline' : `${(m / base).toFixed(3)}x memory`} | ${b === 'memory' ? '' : m / base >= 0.95 ? 'met (>= 0.95x)' : 'missed (>= 0.95x)'} | ${rates.get(b)!.map((x) => x.toFixed(2)).join(', ')} |`;
  });
  for (const [b, r] of Object.entries(restart)) {
    rows.push(`| restart after SIGKILL, ${b}: spawn → ready | ${r.toReady.toFixed(1)} s | model load + warm-up | report | killed after ${r.killedAfter} images |`);
    rows.push(`| restart after SIGKILL, ${b}: ready → resumed progress | ${r.toProgress.toFixed(1)} s | lease 2 s (JOBS_LEASE_SECONDS) | report | first image recorded after the kill |`);
  }
  const table = ['| measure | value | vs | goal | rounds |', '|---|---|---|---|---|', ...rows].join('\n');
  process.stdout.write(`${table}\n`);
  const details = { machine: info, images: IMAGES, rounds: ROUNDS, threads: THREADS, images_per_s: Object.fromEntries(rates), restart, loadavg_at_end: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ') };
  if (process.argv.includes('--write')) writeResults(table, details);
}

/** Replaces the bench-jobs block of bench/RESULTS.md (the prose around it is kept). */
function writeResults(table: string, details: Record<string, unknown>): void {
  const file = join(ROOT, 'bench', 'RESULTS.md');
  const begin = '<!-- bench-jobs:begin', end = '<!-- bench-jobs:end -->';
  const info = details.machine as Record<string, string>;
  const block = [
    `${begin} (generated by \`npm run bench:jobs -- --write\`; edit outside these markers) -->`,
    `Run finished ${new Date().toISOString()}. Machine: ${info.cpu}; ${info.cores} cores; node ${info.node}. Load average at start: ${info.loadavg_at_start}, at end: ${String(details.loadavg_at_end)}.`,
    `${String(details.images)} images per job, ${String(details.rounds)} rounds, ${String(details.threads)} intra-op threads.`,
    '', table, '', '<details><summary>All numbers (JSON)</summary>', '', '```json', JSON.stringify(details, null, 2), '```', '', '</details>', end,
  ].join('\n');
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n';
  const esc = (x: string): string => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`${esc(begin)}[\\s\\S]*?${esc(end)}`);
  writeFileSync(file, re.test(old) ? old.replace(re, block) : `${old.trimEnd()}\n\n## Evaluation jobs: store backends and restart\n\n${block}\n`);
  log(`wrote ${file}`);
}

await main();
