/**
 * @file `npx tsx bench/store.ts`: what durability costs per image. A running job records, for each
 * image, its per-image record (the mergeable COCO/VOC records + losses: a ~4 KB JSON here) and its
 * progress. This measures that loop for BENCH_STORE_IMAGES (500) images on:
 * - an in-memory Map (what the jobs did before the store: the baseline),
 * - SQLite, synchronous=FULL (the default) and NORMAL, record + progress in one call (one commit),
 * - SQLite FULL with two calls per image (putImageRecord, then updateProgress: two commits),
 * - PostgreSQL 15 (throwaway local server with fsync on, synchronous_commit on; skipped when it
 *   cannot be started), one call per image,
 * and prints images/s, µs per image and the ratio to the Map. Each engine runs BENCH_STORE_ROUNDS
 * (3) rounds on a fresh job after a 50-image warm-up; the median round is shown. The temp dirs are
 * on os.tmpdir() (say which disk in the report).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPostgresStore } from '../src/store/postgres.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import type { JobProgress, Store } from '../src/store/types.js';
import { postgresUnavailableReason, startPostgres } from '../test/support/postgres.js';

const IMAGES = Number(process.env.BENCH_STORE_IMAGES ?? 500);
const ROUNDS = Math.max(1, Number(process.env.BENCH_STORE_ROUNDS ?? 3));

/** A per-image record of realistic size: 40 detections + the five losses. */
function record(i: number): Record<string, unknown> {
  const dets = Array.from({ length: 40 }, (_, k) => ({
    image_id: i, category_id: 1 + (k % 3), score: Math.round((1 - k / 40) * 1e6) / 1e6,
    bbox: [k * 3.25, k * 1.5, 20 + k, 30 + k / 2], area: (20 + k) * (30 + k / 2), iou_max: Math.round(Math.random() * 1e6) / 1e6,
  }));
  return { image_id: i, detections: dets, losses: { loss_objectness: 0.05, loss_rpn_box_reg: 0.004, loss_classifier: 0.12, loss_box_reg: 0.08, loss_mask: 0.55 } };
}

type Step = (index: number, rec: Record<string, unknown>, progress: JobProgress) => Promise<void>;
interface Engine { name: string; prepare(): Promise<Step>; close(): Promise<void> }

async function timeRun(step: Step): Promise<number> {
  const recs = Array.from({ length: IMAGES }, (_, i) => record(i)); // built before timing
  const t0 = performance.now();
  for (let i = 0; i < IMAGES; i++) await step(i, recs[i]!, { phase: 'images', done: i + 1, total: IMAGES, imageMs: i * 100 });
  return performance.now() - t0;
}

const jobSpec = { options: {}, total: IMAGES, input: { mode: 'detections' as const, groundTruth: {}, detections: [] } };

/** A fresh running job on `store` and the per-image step recording into it. */
function storeEngine(name: string, open: () => Promise<Store>, twoCalls = false): Engine {
  let store: Store | undefined;
  return {
    name,
    async prepare() {
      store ??= await open();
      const s = store;
      const job = await s.createJob(jobSpec);
      await s.claimJob(job.id, 'bench', 3_600_000);
      if (twoCalls) {
        return async (i, rec, p) => {
          await s.putImageRecord(job.id, i, rec);
          await s.updateProgress(job.id, 'bench', p);
        };
      }
      return (i, rec, p) => s.putImageRecord(job.id, i, rec, p);
    },
    async close() { await store?.close(); },
  };
}

function mapEngine(): Engine {
  return {
    name: 'in-memory Map (baseline)',
    async prepare() {
      const records = new Map<number, unknown>();
      const job = { progress: { phase: 'queued', done: 0, total: IMAGES, imageMs: 0 } as JobProgress };
      return async (i, rec, p) => {
        records.set(i, rec);
        job.progress = p;
      };
    },
    async close() {},
  };
}

async function measure(engine: Engine): Promise<number> {
  const warm = await engine.prepare();
  for (let i = 0; i < 50; i++) await warm(i, record(i), { phase: 'images', done: i, total: 50, imageMs: 0 });
  const times: number[] = [];
  for (let r = 0; r < ROUNDS; r++) times.push(await timeRun(await engine.prepare()));
  await engine.close();
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'bench-store-'));
  dirs.push(d);
  return d;
};

const engines: Engine[] = [
  mapEngine(),
  storeEngine('SQLite, synchronous=FULL (default)', () => openSqliteStore({ dataDir: tmp() })),
  storeEngine('SQLite, synchronous=NORMAL', () => openSqliteStore({ dataDir: tmp(), synchronous: 'NORMAL' })),
  storeEngine('SQLite FULL, record + progress as 2 calls', () => openSqliteStore({ dataDir: tmp() }), true),
];
const pgSkip = postgresUnavailableReason();
const server = pgSkip ? null : await startPostgres({ fsync: true });
if (server) {
  engines.push(storeEngine('PostgreSQL 15 (local, fsync on)', () => openPostgresStore({ url: server.url() })));
  engines.push(storeEngine('PostgreSQL 15, record + progress as 2 calls', async () => openPostgresStore({ url: await server.createDatabase() }), true));
}

try {
  console.log(`store bench: ${IMAGES} images per round, ${ROUNDS} rounds (median), ~${JSON.stringify(record(0)).length} B JSON record per image, tmpdir ${tmpdir()}`);
  if (pgSkip) console.log(`PostgreSQL skipped: ${pgSkip}`);
  let baseline = 0;
  const rows: string[][] = [['engine', 'images/s', 'µs/image', 'vs Map']];
  for (const e of engines) {
    const ms = await measure(e);
    const ips = IMAGES / (ms / 1000);
    if (!baseline) baseline = ips;
    rows.push([e.name, ips.toFixed(0), ((ms * 1000) / IMAGES).toFixed(1), `${(ips / baseline).toFixed(4)}x (1/${(baseline / ips).toFixed(0)})`]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
} finally {
  await server?.teardown();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
