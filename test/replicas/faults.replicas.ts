/**
 * Fault tests of several replicas (`npm run test:replicas`; several minutes): three real server
 * processes on loopback ports sharing one throwaway PostgreSQL (test/support/postgres.ts) through the
 * pg-boss queue, one model-mode job of 60 generated images each time, compared with the result of one
 * process running the same job alone (in-process queue):
 *
 * 1. SIGKILL one replica while it runs a task → the job completes, the result is identical, every
 *    image has one record (none counted twice);
 * 2. PostgreSQL restarted (immediate stop: a crash, then recovery) mid-job → the replicas reconnect,
 *    the job completes with the same result, and /predict, polled on every replica throughout,
 *    never fails;
 * 3. SIGSTOP a replica while it runs a task → the others finish the job without it; after SIGCONT it
 *    finishes its stale task late, and that changes nothing (same result, one record per image).
 *
 * Every wait is on a condition (job state, metrics, the queue's tables), bounded by the test timeout.
 * Skipped, with the reason, without PostgreSQL or the model.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { FIXTURE_IMAGES, skipNoModel, spawnServer, type ServerProcess } from '../robustness/helpers.js';
import { postgresUnavailableReason, startPostgres, type PostgresServer } from '../support/postgres.js';
import { datasetForm, shapesDataset, type ShapesDataset } from '../support/shapes-dataset.js';

const skip = skipNoModel || postgresUnavailableReason();
const IMAGES = 60;
/** Short heartbeat (10 s, pg-boss's minimum) and small tasks: a lost task is retried within seconds. */
const ENV = { JOBS_LEASE_SECONDS: '10', QUEUE_BATCH_IMAGES: '2', LOG_LEVEL: 'warn' };

type JobJson = { id: string; status: string; progress: { images_done: number; images_total: number }; result: Record<string, unknown> | null; error: unknown };
const comparable = (r: Record<string, unknown>) => ({ coco: r.coco, voc: r.voc, losses: r.losses, counts: r.counts, warnings: r.warnings });
const finished = (j: JobJson): boolean => !['queued', 'running'].includes(j.status);

async function submit(baseUrl: string, ds: ShapesDataset): Promise<string> {
  const res = await fetch(`${baseUrl}/evaluations`, { method: 'POST', body: datasetForm(ds) });
  const body = await res.json() as { id?: string };
  assert.equal(res.status, 202, JSON.stringify(body));
  return body.id!;
}

/** Polls GET /evaluations/{id} on the replicas in turn until `pred` holds (answers other than 200 — the database restarting — are waited out). */
async function waitJob(replicas: ServerProcess[], id: string, pred: (j: JobJson) => boolean): Promise<JobJson> {
  for (let i = 0; ; i++) {
    const r = replicas[i % replicas.length]!;
    try {
      const res = await fetch(`${r.baseUrl}/evaluations/${id}`, { signal: AbortSignal.timeout(10_000) });
      if (res.status === 200) {
        const j = await res.json() as JobJson;
        if (pred(j)) return j;
      } else await res.arrayBuffer();
    } catch { /* a stopped or killed replica */ }
    await sleep(150);
  }
}

/** The value of the sample `name` (with its labels, as exposed) in Prometheus text, or 0 when absent. */
function metricValue(text: string, name: string): number {
  const m = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} ([^ \n]+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

async function metric(r: ServerProcess, name: string): Promise<number> {
  const text = await (await fetch(`${r.baseUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  return metricValue(text, name);
}

async function startReplicas(n: number, url: string): Promise<ServerProcess[]> {
  return Promise.all(Array.from({ length: n }, () => spawnServer({ ...ENV, DATABASE_URL: url }, true, 300_000)));
}

async function stopAll(replicas: ServerProcess[]): Promise<void> {
  for (const r of replicas) r.child.kill('SIGCONT');
  await Promise.all(replicas.map((r) => r.stop(20_000)));
}

/** Records of the job, and how many image positions have one. */
async function recordCount(url: string, id: string): Promise<{ rows: number; distinct: number }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query('SELECT count(*)::int AS rows, count(DISTINCT image_index)::int AS distinct FROM image_records WHERE job_id = $1', [id]);
    return r.rows[0] as { rows: number; distinct: number };
  } finally {
    await c.end();
  }
}

describe('three replicas on one PostgreSQL: faults', { skip: skip ?? false, timeout: 1_800_000 }, () => {
  let server: PostgresServer;
  let ds: ShapesDataset;
  let reference: Record<string, unknown>;
  const running: ServerProcess[] = [];
  before(async () => {
    server = await startPostgres({ fsync: true });
    ds = await shapesDataset(IMAGES, 20261130);
  });
  after(async () => {
    await stopAll(running).catch(() => undefined);
    await server?.teardown();
  });

  test('reference: one process runs the job alone (in-process queue)', async () => {
    const one = await spawnServer({ ...ENV, DATABASE_URL: await server.createDatabase(), JOBS_QUEUE: 'local' }, true, 300_000);
    running.push(one);
    try {
      const id = await submit(one.baseUrl, ds);
      const end = await waitJob([one], id, finished);
      assert.equal(end.status, 'done', JSON.stringify(end.error));
      reference = end.result!;
    } finally {
      await one.stop();
      running.splice(running.indexOf(one), 1);
    }
  });

  test('SIGKILL one replica mid-task: the others complete the job, same result, one record per image', async (t) => {
    const url = await server.createDatabase();
    const replicas = await startReplicas(3, url);
    running.push(...replicas);
    try {
      const id = await submit(replicas[0]!.baseUrl, ds);
      const victim = replicas[1]!;
      // some images in, and the victim running a task of the job (its own gauge says so): kill it
      await waitJob(replicas, id, (j) => j.progress.images_done >= 10);
      for (;;) {
        if (await metric(victim, 'mrcnn_queue_tasks_running{queue="images"}') >= 1) break;
        await sleep(50);
      }
      victim.child.kill('SIGKILL');
      assert.equal((await victim.exited).signal, 'SIGKILL');
      const survivors = replicas.filter((r) => r !== victim);
      const atKill = await waitJob(survivors, id, () => true);
      const end = await waitJob(survivors, id, finished);
      t.diagnostic(`killed with ${atKill.progress.images_done}/${IMAGES} images recorded`);
      assert.equal(end.status, 'done', JSON.stringify(end.error));
      assert.equal(end.progress.images_done, IMAGES);
      assert.deepEqual(comparable(end.result!), comparable(reference));
      assert.deepEqual(await recordCount(url, id), { rows: IMAGES, distinct: IMAGES });
    } finally {
      await stopAll(replicas);
      for (const r of replicas) running.splice(running.indexOf(r), 1);
    }
  });

  test('PostgreSQL restarted mid-job: the replicas reconnect, the job completes, /predict never fails', async (t) => {
    const url = await server.createDatabase();
    const replicas = await startReplicas(3, url);
    running.push(...replicas);
    const image = readFileSync(join(FIXTURE_IMAGES, 'sq-256.png'));
    let predicts = 0;
    const failures: string[] = [];
    let polling = true;
    const poller = (async () => {
      for (let i = 0; polling; i++) {
        const r = replicas[i % replicas.length]!;
        const form = new FormData();
        form.append('image', new Blob([new Uint8Array(image)], { type: 'image/png' }), 'sq-256.png');
        try {
          const res = await fetch(`${r.baseUrl}/predict`, { method: 'POST', body: form, signal: AbortSignal.timeout(60_000) });
          const body = await res.text();
          if (res.status !== 200) failures.push(`${res.status} ${body.slice(0, 200)}`);
        } catch (err) {
          failures.push(String(err));
        }
        predicts++;
      }
    })();
    try {
      const id = await submit(replicas[0]!.baseUrl, ds);
      await waitJob(replicas, id, (j) => j.progress.images_done >= 10);
      const predictsBefore = predicts;
      await server.stop('immediate');
      // the database stays away while /predict keeps answering
      while (predicts < predictsBefore + 3) await sleep(100);
      await server.start();
      const end = await waitJob(replicas, id, finished);
      polling = false;
      await poller;
      t.diagnostic(`${predicts} /predict requests during the job, ${failures.length} failed`);
      assert.deepEqual(failures, []);
      assert.equal(end.status, 'done', JSON.stringify(end.error));
      assert.deepEqual(comparable(end.result!), comparable(reference));
      assert.deepEqual(await recordCount(url, id), { rows: IMAGES, distinct: IMAGES });
    } finally {
      polling = false;
      await poller;
      await stopAll(replicas);
      for (const r of replicas) running.splice(running.indexOf(r), 1);
    }
  });

  test('SIGSTOP a replica mid-task: the others finish without it; after SIGCONT its late task changes nothing', async (t) => {
    const url = await server.createDatabase();
    const replicas = await startReplicas(3, url);
    running.push(...replicas);
    try {
      const id = await submit(replicas[0]!.baseUrl, ds);
      const stalled = replicas[2]!;
      let runsBefore = 0;
      for (;;) {
        const text = await (await fetch(`${stalled.baseUrl}/metrics`)).text();
        if (metricValue(text, 'mrcnn_queue_tasks_running{queue="images"}') >= 1) {
          runsBefore = metricValue(text, 'mrcnn_queue_task_runs_total{queue="images",outcome="done"}') || 0;
          break;
        }
        await sleep(50);
      }
      stalled.child.kill('SIGSTOP');
      const others = replicas.filter((r) => r !== stalled);
      const end = await waitJob(others, id, finished);
      assert.equal(end.status, 'done', JSON.stringify(end.error));
      assert.deepEqual(comparable(end.result!), comparable(reference));
      stalled.child.kill('SIGCONT');
      // the woken replica ends the task it held (its images are evaluated again and upserted)
      for (;;) {
        const text = await (await fetch(`${stalled.baseUrl}/metrics`)).text();
        const done = metricValue(text, 'mrcnn_queue_task_runs_total{queue="images",outcome="done"}') || 0;
        const retried = metricValue(text, 'mrcnn_queue_task_runs_total{queue="images",outcome="retry"}') || 0;
        if (done + retried > runsBefore) break;
        await sleep(100);
      }
      for (const r of replicas) {
        const again = await waitJob([r], id, () => true);
        assert.equal(again.status, 'done');
        assert.deepEqual(again.result, end.result, 'the stored result is untouched');
      }
      assert.deepEqual(await recordCount(url, id), { rows: IMAGES, distinct: IMAGES });
      t.diagnostic('the stalled replica woke up, finished its task late, and the job stayed as it was');
    } finally {
      await stopAll(replicas);
      for (const r of replicas) running.splice(running.indexOf(r), 1);
    }
  });
});
