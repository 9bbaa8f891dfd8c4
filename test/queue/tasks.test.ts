/**
 * The distributed task logic on its own (src/queue/tasks.ts; the in-memory store, no PostgreSQL, a
 * model runner that must not be reached where tasks are skipped): how jobs are cut into tasks, stable
 * task ids, a task of a finished or cancelled job skipped (the cancelled job finished once), the
 * job's own errors failing the job with the common error fields, the store being unavailable (and
 * closing) handing the task back, and a task that died on every retry failing its job as abandoned.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorBody, normalizeError } from '../../src/errors.js';
import { MemoryStore } from '../../src/jobs/memory-store.js';
import { taskId } from '../../src/queue/pgboss.js';
import { planJob, QUEUE_OWNER, RetryTaskError, TaskRunner } from '../../src/queue/tasks.js';
import type { ModelRunner } from '../../src/models/runtime.js';
import { StoreUnavailableError, type Store } from '../../src/store/index.js';

const describeError = (err: unknown) => {
  const b = errorBody(normalizeError(err), '');
  return { statusCode: b.statusCode, code: b.code, message: b.message, field: b.field };
};

function runner(store: Store, model: () => Promise<ModelRunner>, sent: string[] = []): TaskRunner {
  return new TaskRunner({ store, model, describeError, ttlMs: 60_000, sendJobTask: async (t) => { sent.push(t.jobId); } });
}

const annotations = { images: [{ id: 1, file_name: 'a.png', width: 4, height: 4 }, { id: 2, file_name: 'b.png', width: 4, height: 4 }], annotations: [], categories: [{ id: 1, name: 'a' }] };
async function modelJob(store: Store) {
  return store.createJob({
    options: { lossSampling: 'expected' }, total: 2, modelName: 'shapes', modelVersion: '1',
    input: { mode: 'model', annotations, images: [{ index: 0, fileName: 'a.png', bytes: new Uint8Array([1]) }, { index: 1, fileName: 'b.png', bytes: new Uint8Array([2]) }] },
  });
}

test('a model-mode job is cut into tasks of N images; a detections-mode job is one task', () => {
  const job = { id: 'j', mode: 'model' as const, progress: { phase: 'queued', done: 0, total: 10, imageMs: 0 } };
  assert.deepEqual(planJob(job, 4).images.map((t) => [t.from, t.to]), [[0, 4], [4, 8], [8, 10]]);
  assert.equal(planJob(job, 4).job, null);
  assert.equal(planJob(job, 1).images.length, 10);
  assert.deepEqual(planJob({ ...job, progress: { ...job.progress, total: 0 } }, 4), { images: [], job: { jobId: 'j' } });
  assert.deepEqual(planJob({ ...job, mode: 'detections' }, 4), { images: [], job: { jobId: 'j' } });
});

test('task ids are UUIDs derived from the task (the same on every replica; distinct per task)', () => {
  const a = taskId('job:images:0');
  assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(taskId('job:images:0'), a);
  assert.notEqual(taskId('job:images:4'), a);
});

test('tasks of a finished job are skipped; a cancel request finishes the job as cancelled once', async () => {
  const store = new MemoryStore();
  const unreachable = async (): Promise<ModelRunner> => { throw new Error('the model must not be reached'); };
  const job = await modelJob(store);
  const r = runner(store, unreachable);
  assert.ok(await store.claimJob(job.id, QUEUE_OWNER, 1e12));
  await store.requestCancel(job.id, 60_000);
  await r.runImages({ jobId: job.id, from: 0, to: 1 });
  const after = await store.getJob(job.id);
  assert.equal(after!.status, 'cancelled');
  const finishedAt = after!.finishedAt;
  await r.runImages({ jobId: job.id, from: 1, to: 2 });
  await r.runJob({ jobId: job.id });
  assert.equal((await store.getJob(job.id))!.finishedAt, finishedAt);
  await r.runImages({ jobId: '00000000-0000-4000-8000-000000000000', from: 0, to: 1 }); // unknown: skipped
});

test("the job's own error fails it with the common error fields; the task is done", async () => {
  const store = new MemoryStore();
  const job = await modelJob(store);
  const broken = async (): Promise<ModelRunner> => { throw Object.assign(new Error('bad model'), {}); };
  await runner(store, broken).runImages({ jobId: job.id, from: 0, to: 2 });
  const after = await store.getJob(job.id);
  assert.equal(after!.status, 'failed');
  assert.equal((after!.error as { statusCode: number }).statusCode, 500);
  assert.equal(after!.startedAt !== null, true, 'the first task marked it running');
});

test('the store unavailable, or the process closing: the task is handed back and the job stays running', async () => {
  const store = new MemoryStore();
  const job = await modelJob(store);
  const down = async (): Promise<ModelRunner> => { throw new StoreUnavailableError('down', 'connection', 1); };
  await assert.rejects(runner(store, down).runImages({ jobId: job.id, from: 0, to: 2 }), StoreUnavailableError);
  assert.equal((await store.getJob(job.id))!.status, 'running');
  const r = runner(store, async () => { throw new Error('not reached'); });
  r.close();
  await assert.rejects(r.runJob({ jobId: job.id }), /not reached/); // rethrown (handed back), not recorded
  await assert.rejects(r.runImages({ jobId: job.id, from: 0, to: 2 }), (e: unknown) => e instanceof RetryTaskError || /not reached/.test(String(e)));
  assert.equal((await store.getJob(job.id))!.status, 'running');
});

test('a task that died on every retry fails its job as abandoned', async () => {
  const store = new MemoryStore();
  const job = await modelJob(store);
  await store.claimJob(job.id, QUEUE_OWNER, 1e12);
  await runner(store, async () => { throw new Error('not reached'); }).abandon(job.id, 10);
  const after = await store.getJob(job.id);
  assert.equal(after!.status, 'failed');
  assert.equal((after!.error as { code: string }).code, 'MRC_ERR_JOB_ABANDONED');
});
