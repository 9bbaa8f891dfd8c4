/**
 * @file History benchmark (`npm run bench:history [-- --write] [--rows N] [--backend sqlite|postgres]`):
 * 1. per store backend (SQLite; PostgreSQL on a throwaway server when available), seeds N (10 000)
 *    done dataset evaluations through the Store API (createJob → claimJob → finishJob with a result
 *    of three classes), spread over 10 datasets, 3 models and 5 versions, then times through
 *    `inject` on the real app (no model run: WARMUP=false) the history list (no filter, by dataset,
 *    by model, by dataset+model+time range, a page 20 cursors deep) and the series of a
 *    (dataset, model): p50/p95 over 200 requests each, after 20 warm-up requests;
 * 2. the paired bootstrap: 1000 resamples of 200 images × 3 classes (about 5 detections per image
 *    and class), boxes and masks, two evaluations — the statistics a comparison computes.
 * SQLite is opened with synchronous=NORMAL while seeding (it only speeds the 30 000 commits up; reads
 * do not depend on it). With `--write` the table replaces the bench-history block of bench/RESULTS.md.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { ApEvaluator, pairedBootstrap, type MatchTable } from '../src/eval/bootstrap.js';
import { mulberry32 } from '../src/eval/prng.js';
import { resolveParams } from '../src/eval/index.js';
import { openPostgresStore } from '../src/store/postgres.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import type { Store } from '../src/store/index.js';
import { postgresUnavailableReason, startPostgres } from '../test/support/postgres.js';
import { machine } from './lib.js';

const ROOT = join(import.meta.dirname, '..');
const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const ROWS = Number(arg('rows') ?? 10_000);
const REQUESTS = 200;
const log = (msg: string): void => void process.stderr.write(`${msg}\n`);
const T0 = Date.UTC(2026, 0, 1);

function result(rnd: () => number): unknown {
  const ap = () => Math.round(rnd() * 1000) / 1000;
  const cats = [[1, 'square'], [2, 'circle'], [3, 'triangle']] as const;
  const block = () => ({ stats: [ap(), ap(), ap(), -1, ap(), ap(), ap(), ap(), ap(), -1, ap(), ap()], per_category: cats.map(([id, name]) => ({ category_id: id, name, ap: ap() })) });
  return {
    counts: { images: 17, gt_instances: 29, detections: 40 },
    losses: { mean: { loss_objectness: rnd() / 100, loss_rpn_box_reg: rnd() / 100, loss_classifier: rnd() / 10, loss_box_reg: rnd() / 10, loss_mask: rnd() / 5, loss: rnd() } },
    coco: { bbox: block(), segm: block() },
    voc: { iou_thr: 0.5, mode: 'area', classes: [], mAP: ap() },
  };
}

async function seed(store: Store): Promise<{ datasets: string[] }> {
  const rnd = mulberry32(1);
  const datasets: string[] = [];
  for (let d = 0; d < 10; d++) {
    const ds = await store.createDataset({
      name: `golden-${d}`, annotations: { images: [], annotations: [], categories: [] }, annotationCount: 0, categories: [{ id: 1, name: 'square' }],
      images: [{ index: 0, fileName: 'a.png', bytes: new Uint8Array(64) }], createdAt: T0,
    });
    datasets.push(ds.id);
  }
  const t = performance.now();
  const one = async (i: number): Promise<void> => {
    const createdAt = T0 + i * 60_000;
    const job = await store.createJob({
      options: {}, total: 0, createdAt, datasetId: datasets[i % 10]!, modelName: `model-${i % 3}`, modelVersion: `1.${i % 5}.0`, modelSha256: 'ab'.repeat(32),
      trigger: 'schedule', input: { mode: 'dataset' },
    });
    await store.claimJob(job.id, 'bench', 60_000, createdAt);
    await store.finishJob(job.id, { status: 'done', result: result(rnd), now: createdAt + 20_000, ttlMs: 3_600_000, leaseOwner: 'bench' });
  };
  const CONCURRENCY = 8;
  for (let i = 0; i < ROWS; i += CONCURRENCY) {
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, ROWS - i) }, (_, k) => one(i + k)));
    if ((i / CONCURRENCY) % 250 === 0) log(`  seeded ${i} / ${ROWS}`);
  }
  log(`  seeded ${ROWS} evaluations in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  return { datasets };
}

const pct = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

async function timeQueries(store: Store, datasets: string[]): Promise<Array<{ query: string; p50: number; p95: number }>> {
  const env = { MODEL_DIR: join(ROOT, 'models'), MODEL_NAME: 'shapes', LOG_LEVEL: 'silent', WARMUP: 'false', INFERENCE_WORKERS: '1', INTRA_OP_THREADS: '1', EXECUTION_PROVIDER: 'cpu', DATA_DIR: mkdtempSync(join(tmpdir(), 'bench-history-')) };
  const app = await buildApp(loadConfig(env, [], ROOT), { logger: false, jobs: { store, pollMs: 3_600_000 }, history: { pollMs: 0 } });
  const ds = datasets[3]!;
  const since = new Date(T0 + 2_000 * 60_000).toISOString(), until = new Date(T0 + 6_000 * 60_000).toISOString();
  // a cursor 20 pages deep
  let cursor: string | null = null;
  for (let p = 0; p < 20; p++) cursor = (await app.inject({ method: 'GET', url: `/evaluations?limit=50${cursor ? `&cursor=${cursor}` : ''}` })).json().next_cursor;
  const queries: Array<[string, string]> = [
    ['list, newest 50', '/evaluations?limit=50'],
    ['list by dataset', `/evaluations?dataset_id=${ds}&limit=50`],
    ['list by model', '/evaluations?model=model-1&limit=50'],
    ['list by dataset+model+version+time range', `/evaluations?dataset_id=${ds}&model=model-1&version=1.3.0&since=${since}&until=${until}&limit=50`],
    ['list, page 21 (cursor)', `/evaluations?limit=50&cursor=${cursor}`],
    ['series, dataset+model, 100 points', `/evaluations/series?dataset_id=${ds}&model=model-1&limit=100`],
  ];
  const out: Array<{ query: string; p50: number; p95: number }> = [];
  try {
    for (const [name, url] of queries) {
      for (let i = 0; i < 20; i++) await app.inject({ method: 'GET', url });
      const ms: number[] = [];
      for (let i = 0; i < REQUESTS; i++) {
        const t = performance.now();
        const res = await app.inject({ method: 'GET', url });
        ms.push(performance.now() - t);
        if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
      }
      out.push({ query: name, p50: pct(ms, 0.5), p95: pct(ms, 0.95) });
      log(`  ${name}: p50 ${pct(ms, 0.5).toFixed(2)} ms, p95 ${pct(ms, 0.95).toFixed(2)} ms`);
    }
  } finally {
    await app.close();
    rmSync(env.DATA_DIR, { recursive: true, force: true });
  }
  return out;
}

/** Synthetic match tables: n images, K classes, ~5 detections per image and class, T thresholds. */
function syntheticTable(n: number, K: number, rnd: () => number): MatchTable {
  const p = resolveParams('bbox', undefined);
  const T = p.iouThrs.length;
  return {
    n, iouThrs: Array.from(p.iouThrs), recThrs: Array.from(p.recThrs),
    categories: Array.from({ length: K }, (_, k) => {
      const dets = Array.from({ length: n * 5 }, () => ({ img: Math.floor(rnd() * n), score: rnd(), q: rnd() }));
      dets.sort((a, b) => b.score - a.score);
      const D = dets.length;
      const flags = new Uint8Array(T * D);
      for (let t = 0; t < T; t++) dets.forEach((d, j) => { flags[t * D + j] = d.q > 0.3 + t * 0.05 ? 1 : 2; });
      return { id: k + 1, name: `c${k}`, npig: Float64Array.from({ length: n }, () => 1 + Math.floor(rnd() * 3)), image: Int32Array.from(dets, (d) => d.img), flags };
    }),
  };
}

function timeBootstrap(): { images: number; resamples: number; seconds: number } {
  const rnd = mulberry32(5);
  const n = 200;
  const evs = [0, 1, 2, 3].map(() => new ApEvaluator(syntheticTable(n, 3, rnd))); // bbox + segm, two evaluations
  const t = performance.now();
  pairedBootstrap(n, (w) => {
    const out: number[] = [];
    for (let i = 0; i < 2; i++) {
      const a = evs[2 * i]!.evaluate(w), b = evs[2 * i + 1]!.evaluate(w);
      out.push(b.ap - a.ap, b.ap50 - a.ap50, ...Array.from(b.classAp, (x, k) => x - a.classAp[k]!), ...Array.from(b.classAp50, (x, k) => x - a.classAp50[k]!));
    }
    return out;
  }, { resamples: 1000, seed: 1, confidence: 0.95 });
  return { images: n, resamples: 1000, seconds: (performance.now() - t) / 1000 };
}

async function main(): Promise<void> {
  const info = machine();
  const only = arg('backend');
  const rows: string[] = [];
  const details: Record<string, unknown> = { machine: info, rows: ROWS, requests: REQUESTS };
  for (const backend of ['sqlite', 'postgres'] as const) {
    if (only && only !== backend) continue;
    if (backend === 'postgres' && postgresUnavailableReason()) {
      log(`postgres skipped: ${postgresUnavailableReason()}`);
      continue;
    }
    log(`${backend}: seeding ${ROWS} evaluations`);
    const pg = backend === 'postgres' ? await startPostgres() : null;
    const dir = mkdtempSync(join(tmpdir(), 'bench-history-store-'));
    const store = backend === 'sqlite' ? await openSqliteStore({ dataDir: dir, synchronous: 'NORMAL' }) : await openPostgresStore({ url: await pg!.createDatabase() });
    try {
      const { datasets } = await seed(store);
      const times = await timeQueries(store, datasets);
      details[backend] = times;
      for (const q of times) rows.push(`| ${backend} | ${q.query} | ${q.p50.toFixed(2)} ms | ${q.p95.toFixed(2)} ms | ${q.p95 < 50 ? 'met (p95 < 50 ms)' : 'missed (p95 < 50 ms)'} |`);
    } finally {
      await store.close();
      await pg?.teardown();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const boot = timeBootstrap();
  details.bootstrap = boot;
  log(`bootstrap: ${boot.resamples} resamples of ${boot.images} images, 3 classes, boxes and masks: ${boot.seconds.toFixed(3)} s`);
  const table = [
    `| backend | query (${ROWS} evaluations stored, through inject) | p50 | p95 | goal |`, '|---|---|---|---|---|', ...rows, '',
    '| bootstrap | images | resamples | seconds | goal |', '|---|---|---|---|---|',
    `| paired, 3 classes, boxes and masks, two evaluations | ${boot.images} | ${boot.resamples} | ${boot.seconds.toFixed(3)} | ${boot.seconds < 2 ? 'met (< 2 s)' : 'missed (< 2 s)'} |`,
  ].join('\n');
  process.stdout.write(`${table}\n`);
  if (process.argv.includes('--write')) {
    const file = join(ROOT, 'bench', 'RESULTS.md');
    const begin = '<!-- bench-history:begin', end = '<!-- bench-history:end -->';
    const block = [
      `${begin} (generated by \`npm run bench:history -- --write\`; edit outside these markers) -->`,
      `Run finished ${new Date().toISOString()}. Machine: ${info.cpu}; ${info.cores} cores; node ${info.node}. Load average at start: ${info.loadavg_at_start}.`,
      '', table, '', '<details><summary>All numbers (JSON)</summary>', '', '```json', JSON.stringify(details, null, 2), '```', '', '</details>', end,
    ].join('\n');
    const old = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n';
    const esc = (x: string): string => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const re = new RegExp(`${esc(begin)}[\\s\\S]*?${esc(end)}`);
    writeFileSync(file, re.test(old) ? old.replace(re, block) : `${old.trimEnd()}\n\n## History: listing, series and the bootstrap\n\n${block}\n`);
    log(`wrote ${file}`);
  }
}

await main();
