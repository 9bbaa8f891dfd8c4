/**
 * The job service on its own (no HTTP, no model; the in-memory store, a fake clock, and a job
 * runner the test controls with gates): TTL expiry driven by the clock, eviction of the oldest
 * finished job when JOBS_MAX_STORED is reached, 429 when running + queued (+ uploads in progress)
 * fill every slot, cancel (queued at once; running at its next checkpoint, `cancelled` shown at
 * once), a failing run recorded with the common error fields, the observer told about counts and
 * durations, and close() leaving a running job resumable by the next service on the same store.
 * Nothing here waits for time to pass: every wait is for a state.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InputError } from '../../src/eval/index.js';
import { loadConfig, type JobsConfig } from '../../src/config.js';
import { errorBody, normalizeError } from '../../src/errors.js';
import { MemoryStore } from '../../src/jobs/memory-store.js';
import type { JobRunOutput, RunJobContext } from '../../src/jobs/run-job.js';
import { JobService, type JobServiceOptions } from '../../src/jobs/service.js';
import type { Job, JobStatus } from '../../src/jobs/types.js';
import { jobView } from '../../src/jobs/view.js';

const GT = { images: [{ id: 1, file_name: 'a.png', width: 10, height: 10 }], categories: [{ id: 1, name: 'a' }], annotations: [] };
const detections = { mode: 'detections' as const, groundTruth: GT, detections: [], options: { lossSampling: 'expected' as const }, total: 1 };
const output = { result: { images: 1 }, report: { curves: {}, overlays: [] } } as unknown as JobRunOutput;

/** A clock the test moves. */
function fakeClock(start = 1_700_000_000_000): { now: () => number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => { t += ms; } };
}

/** A promise the test resolves. */
function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => { open = r; });
  return { promise, open };
}

function service(o: Partial<Omit<JobServiceOptions, 'limits'>> & { limits?: Partial<JobsConfig> } = {}): JobService {
  const limits = { ...loadConfig({}).jobs, ...o.limits };
  const s = new JobService({
    store: o.store ?? new MemoryStore(),
    model: () => Promise.reject(new Error('no model here')),
    describeError: (err) => {
      const b = errorBody(normalizeError(err), '');
      return { statusCode: b.statusCode, code: b.code, message: b.message, field: b.field };
    },
    pollMs: 60_000,
    ...o,
    limits,
  });
  s.start();
  return s;
}

/** Resolves once the job has the status (the service runs jobs in the background). */
async function until(s: JobService, id: string, pred: (j: Job) => boolean): Promise<Job> {
  for (;;) {
    const j = await s.get(id);
    if (pred(j)) return j;
    await s.idle();
    await new Promise((r) => setImmediate(r));
  }
}

test('finished jobs expire after the TTL (the clock says when); the oldest finished job is evicted when the store is full', async (t) => {
  const clock = fakeClock();
  const s = service({ clock: clock.now, limits: { ttlMs: 150_000, maxStored: 2, maxQueued: 5 }, run: async () => output });
  t.after(() => s.close());
  const a = await s.submit(detections);
  await until(s, a.id, (j) => j.status === 'done');
  clock.advance(10);
  const b = await s.submit(detections);
  const bDone = await until(s, b.id, (j) => j.status === 'done');
  assert.equal(bDone.expiresAt, bDone.finishedAt! + 150_000);
  assert.equal(jobView(bDone).expires_at, new Date(bDone.finishedAt! + 150_000).toISOString());
  clock.advance(10);
  const c = await s.submit(detections); // evicts a, the oldest finished job
  await until(s, c.id, (j) => j.status === 'done');
  await assert.rejects(s.get(a.id), { code: 'MRC_ERR_JOB_NOT_FOUND' });
  assert.equal((await s.get(b.id)).status, 'done');
  clock.advance(150_000 - 11);
  assert.equal((await s.get(b.id)).status, 'done', 'one ms before it expires');
  clock.advance(1);
  await assert.rejects(s.get(b.id), { code: 'MRC_ERR_JOB_NOT_FOUND' }, 'expired at finishedAt + TTL');
  assert.equal((await s.get(c.id)).status, 'done');
  clock.advance(20);
  await assert.rejects(s.get(c.id), { code: 'MRC_ERR_JOB_NOT_FOUND' });
});

test('429 when running + queued + reserved uploads fill every slot; a reservation is consumed by its job', async (t) => {
  const g = gate();
  const s = service({ limits: { maxConcurrent: 1, maxQueued: 1 }, run: async () => { await g.promise; return output; } });
  t.after(async () => { g.open(); await s.close(); });
  const running = await s.submit(detections);
  await until(s, running.id, (j) => j.status === 'running');
  const r = await s.reserve();
  await assert.rejects(s.submit(detections), (e: Error & { code?: string; retryAfter?: number }) => e.code === 'MRC_ERR_TOO_MANY_JOBS' && e.retryAfter === 10);
  await assert.rejects(s.reserve(), /Too many evaluation jobs/);
  const queued = await s.submit(detections, r); // consumes the reservation
  assert.equal(queued.status, 'queued');
  const cancelled = await s.cancel(queued.id);
  assert.equal(cancelled.status, 'cancelled');
  g.open();
  assert.equal((await until(s, running.id, (j) => j.status !== 'running')).status, 'done');
});

test('cancel: a running job shows cancelled at once and stops at its next checkpoint; a finished job is deleted', async (t) => {
  const reached = gate();
  const release = gate();
  let after = 0;
  const s = service({
    run: async (ctx: RunJobContext) => {
      reached.open();
      await release.promise;
      await ctx.checkpoint(); // throws: cancelled
      after++;
      return output;
    },
  });
  t.after(() => s.close());
  const job = await s.submit(detections);
  await reached.promise;
  const c = await s.cancel(job.id);
  assert.equal(jobView(c).status, 'cancelled', 'shown as cancelled at once');
  assert.equal(c.finishedAt, null, 'still stopping');
  release.open();
  const end = await until(s, job.id, (j) => j.finishedAt !== null);
  assert.equal(end.status, 'cancelled');
  assert.equal(after, 0, 'stopped at the checkpoint');
  assert.equal(jobView(end).result, null);
  await s.cancel(job.id); // deletes the finished job
  await assert.rejects(s.get(job.id), { code: 'MRC_ERR_JOB_NOT_FOUND' });
});

test('a failing run is recorded as failed with the common error fields; the observer sees counts and durations', async (t) => {
  const finished: Array<[JobStatus, number]> = [];
  let counts: Record<JobStatus, number> | null = null;
  const s = service({
    run: async () => { throw new InputError('annotations.images[0].width', 'width is 10 but the image is 20', 422); },
    observer: { finished: (job, sec) => finished.push([job.status, sec]), counts: (c) => { counts = c; } },
  });
  t.after(() => s.close());
  const job = await s.submit(detections);
  const end = await until(s, job.id, (j) => j.finishedAt !== null);
  assert.equal(end.status, 'failed');
  assert.deepEqual(end.error, { statusCode: 422, code: 'MRC_ERR_INVALID_INPUT', message: 'width is 10 but the image is 20', field: 'annotations.images[0].width' });
  assert.deepEqual(finished.map(([st]) => st), ['failed']);
  assert.ok(finished.every(([, sec]) => sec >= 0));
  await s.idle();
  await until(s, job.id, () => counts !== null && counts.failed === 1);
});

test('close() leaves a running job resumable: the next service on the same store takes it over at once', async (t) => {
  const store = new MemoryStore();
  const reached = gate();
  const first = service({
    store, run: async (ctx) => {
      reached.open();
      for (;;) {
        await ctx.checkpoint(); // throws once the service closes
        await new Promise((r) => setImmediate(r));
      }
    },
  });
  const job = await first.submit(detections);
  await reached.promise;
  await first.close();
  const left = await store.getJob(job.id);
  assert.equal(left?.status, 'running', 'not cancelled, not failed: resumable');
  const second = service({ store, run: async () => output });
  t.after(() => second.close());
  const end = await until(second, job.id, (j) => j.finishedAt !== null);
  assert.equal(end.status, 'done');
  assert.equal(end.attempts, 2);
  await assert.rejects(first.submit(detections), { code: 'MRC_ERR_SHUTTING_DOWN' });
});

test('a job started more than maxAttempts times without finishing is failed, not run again', async (t) => {
  const store = new MemoryStore();
  const reached = gate();
  const first = service({ store, run: async (ctx) => { reached.open(); for (;;) { await ctx.checkpoint(); await new Promise((r) => setImmediate(r)); } } });
  const job = await first.submit(detections);
  await reached.promise;
  await first.close(); // one start without an end (a crash would leave the same)
  let ran = false;
  const second = service({ store, maxAttempts: 1, run: async () => { ran = true; return output; } });
  t.after(() => second.close());
  const end = await until(second, job.id, (j) => j.finishedAt !== null);
  assert.equal(end.status, 'failed');
  assert.equal(ran, false);
  assert.deepEqual(end.error, { statusCode: 500, code: 'MRC_ERR_JOB_ABANDONED', message: 'Evaluation job was started 1 time without finishing (its process died or hung each time); it is not run again', field: null });
});
