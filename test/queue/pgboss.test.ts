/**
 * Two service instances (the real app, in this process) on one PostgreSQL with the pg-boss queue
 * share one model-mode job: both evaluate some of its images, either answers GET /evaluations/{id},
 * and the merged result equals the one of a single instance running the job by itself (in-process
 * queue, same database engine). Then cancellation: a job cancelled on one instance stops on both and
 * its waiting tasks are dropped; a job committed without its tasks is sent by a sweep; and the queue
 * depth gauge follows the waiting tasks. Skipped, with the reason, without PostgreSQL or the model.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { PgBossQueue, QUEUES } from '../../src/queue/pgboss.js';
import { skipNoModel, startApp } from '../robustness/helpers.js';
import { postgresUnavailableReason, startPostgres, type PostgresServer } from '../support/postgres.js';
import { datasetForm, shapesDataset, type ShapesDataset } from '../support/shapes-dataset.js';

const skip = skipNoModel || postgresUnavailableReason();

type JobJson = { id: string; status: string; progress: { images_done: number; images_total: number }; result: Record<string, unknown> | null; error: unknown };

async function submit(baseUrl: string, ds: ShapesDataset): Promise<string> {
  const res = await fetch(`${baseUrl}/evaluations`, { method: 'POST', body: datasetForm(ds) });
  const body = await res.json() as { id?: string };
  assert.equal(res.status, 202, JSON.stringify(body));
  return body.id!;
}

async function getJob(baseUrl: string, id: string): Promise<JobJson> {
  const res = await fetch(`${baseUrl}/evaluations/${id}`);
  assert.equal(res.status, 200);
  return await res.json() as JobJson;
}

async function waitFor(baseUrl: string, id: string, pred: (j: JobJson) => boolean): Promise<JobJson> {
  for (;;) {
    const j = await getJob(baseUrl, id);
    if (pred(j)) return j;
    await sleep(100);
  }
}

const ENV = { JOBS_LEASE_SECONDS: '10', QUEUE_BATCH_IMAGES: '2' };
const comparable = (r: Record<string, unknown>) => ({ coco: r.coco, voc: r.voc, losses: r.losses, counts: r.counts, warnings: r.warnings });

describe('two instances on one PostgreSQL share a job through pg-boss', { skip: skip ?? false, timeout: 240_000 }, () => {
  let pg: PostgresServer;
  let ds: ShapesDataset;
  const apps: FastifyInstance[] = [];
  before(async () => {
    pg = await startPostgres();
    ds = await shapesDataset(12, 20261130);
  });
  after(async () => {
    for (const app of apps) await app.close().catch(() => undefined);
    await pg?.teardown();
  });

  let reference: Record<string, unknown>;
  test('reference: one instance, in-process queue', async () => {
    const { app, baseUrl } = await startApp({ ...ENV, DATABASE_URL: await pg.createDatabase(), JOBS_QUEUE: 'local' }, true);
    apps.push(app);
    assert.equal(app.jobs.queue.kind, 'in-process');
    const id = await submit(baseUrl, ds);
    const end = await waitFor(baseUrl, id, (j) => j.status === 'done' || j.status === 'failed');
    assert.equal(end.status, 'done', JSON.stringify(end.error));
    reference = end.result!;
    await app.close();
  });

  let a: { app: FastifyInstance; baseUrl: string };
  let b: { app: FastifyInstance; baseUrl: string };
  test('both instances evaluate images of the job; either answers; the merge equals the reference', async () => {
    const url = await pg.createDatabase();
    a = await startApp({ ...ENV, DATABASE_URL: url }, true);
    apps.push(a.app);
    b = await startApp({ ...ENV, DATABASE_URL: url }, true);
    apps.push(b.app);
    const qa = a.app.jobs.queue as PgBossQueue, qb = b.app.jobs.queue as PgBossQueue;
    assert.equal(qa.kind, 'pgboss');
    await Promise.all([qa.whenStarted(), qb.whenStarted()]);
    const id = await submit(a.baseUrl, ds);
    // live progress from the other instance (the store's count of records, not process memory)
    const mid = await waitFor(b.baseUrl, id, (j) => j.progress.images_done > 0);
    assert.ok(mid.progress.images_done <= ds.files.length);
    const end = await waitFor(b.baseUrl, id, (j) => j.status !== 'queued' && j.status !== 'running');
    assert.equal(end.status, 'done', JSON.stringify(end.error));
    assert.equal(end.progress.images_done, ds.files.length);
    assert.deepEqual(comparable(end.result!), comparable(reference));
    assert.deepEqual(comparable((await getJob(a.baseUrl, id)).result!), comparable(reference));
    const sa = qa.runner.stats, sb = qb.runner.stats;
    assert.equal(sa.images + sb.images, ds.files.length, `each image evaluated once (a: ${JSON.stringify(sa)}, b: ${JSON.stringify(sb)})`);
    assert.ok(sa.images > 0 && sb.images > 0, `both instances took tasks (a: ${JSON.stringify(sa)}, b: ${JSON.stringify(sb)})`);
    assert.equal(sa.merges + sb.merges, 1, 'one merge');
    // the queue depth gauge is exported
    const metrics = await (await fetch(`${b.baseUrl}/metrics`)).text();
    assert.match(metrics, /^mrcnn_queue_tasks\{queue="images"\} \d+$/m);
  });

  test('a job cancelled on one instance stops on both; its waiting tasks are dropped', async () => {
    const big = await shapesDataset(40, 7);
    const id = await submit(a.baseUrl, big);
    await waitFor(b.baseUrl, id, (j) => j.progress.images_done > 0);
    const before = { a: (a.app.jobs.queue as PgBossQueue).runner.stats.images, b: (b.app.jobs.queue as PgBossQueue).runner.stats.images };
    const res = await fetch(`${b.baseUrl}/evaluations/${id}`, { method: 'DELETE' });
    assert.ok(res.status < 300, String(res.status));
    const end = await waitFor(a.baseUrl, id, (j) => j.status === 'cancelled');
    assert.ok(end.progress.images_done < big.files.length);
    // no task of the job waits any more (cancelled in pg-boss or skipped when claimed)
    const qa = a.app.jobs.queue as PgBossQueue;
    for (;;) {
      const { rows } = await qa.boss.getDb().executeSql(
        `SELECT count(*)::int AS n FROM pgboss.job WHERE data->>'jobId' = $1 AND state IN ('created', 'retry', 'active')`, [id]);
      if (rows[0].n === 0) break;
      await sleep(100);
    }
    const after = { a: (a.app.jobs.queue as PgBossQueue).runner.stats.images, b: (b.app.jobs.queue as PgBossQueue).runner.stats.images };
    // at most the images in flight when the cancel arrived (one task of 2 images per instance)
    assert.ok(after.a + after.b - before.a - before.b <= 4, `${JSON.stringify(before)} → ${JSON.stringify(after)}`);
    assert.equal((await getJob(b.baseUrl, id)).status, 'cancelled');
  });

  test('a job committed without its tasks (its replica died right after the 202) is sent by a sweep', async () => {
    const store = a.app.jobs.store;
    const model = (await store.listJobs({ limit: 1 })).jobs[0]!;
    const small = await shapesDataset(4, 5);
    const job = await store.createJob({
      options: model.options, total: small.files.length, modelName: model.modelName, modelVersion: model.modelVersion,
      createdAt: Date.now() - 60_000, // old enough for the sweep (it leaves jobs younger than 10 s to their submitter)
      input: { mode: 'model', annotations: small.annotations, images: small.files.map((f, index) => ({ index, fileName: f.fileName, bytes: f.bytes })) },
    });
    const end = await waitFor(b.baseUrl, job.id, (j) => j.status !== 'queued' && j.status !== 'running');
    assert.equal(end.status, 'done', JSON.stringify(end.error));
    assert.equal(end.progress.images_done, small.files.length);
  });

  test('the queue depth gauge counts the waiting tasks on every instance (the autoscaling metric)', async () => {
    const depth = async (base: string): Promise<number> => Number(/^mrcnn_queue_tasks\{queue="images"\} (\d+)$/m.exec(await (await fetch(`${base}/metrics`)).text())?.[1]);
    // nobody takes tasks now: the backlog stays until the job is cancelled
    for (const q of [a.app.jobs.queue, b.app.jobs.queue] as PgBossQueue[]) await q.boss.offWork(QUEUES.images);
    const small = await shapesDataset(8, 11);
    const id = await submit(a.baseUrl, small);
    while (await depth(a.baseUrl) !== 4 || await depth(b.baseUrl) !== 4) await sleep(200); // 8 images, 2 per task
    const res = await fetch(`${a.baseUrl}/evaluations/${id}`, { method: 'DELETE' });
    assert.ok(res.status < 300, String(res.status));
    while (await depth(a.baseUrl) !== 0 || await depth(b.baseUrl) !== 0) await sleep(200);
    assert.equal((await getJob(b.baseUrl, id)).status, 'cancelled');
  });
});
