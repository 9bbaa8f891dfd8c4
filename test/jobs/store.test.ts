/**
 * The job store on its own (no HTTP, no model): TTL expiry, eviction of the oldest finished job when
 * JOBS_MAX_STORED is reached, 429 when running + queued (+ uploads in progress) fill every slot,
 * temp dirs removed when a job ends and on close, a failing run recorded as `failed` with the
 * common error fields, and the observer (metrics) told about counts and durations.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { InputError } from '../../src/eval/index.js';
import { loadJobsConfig, type JobsConfig } from '../../src/jobs/config.js';
import { JobStore } from '../../src/jobs/store.js';
import type { Job, JobInput, JobStatus } from '../../src/jobs/types.js';
import { testConfig } from '../helper.js';

const input: JobInput = { mode: 'detections', groundTruth: { images: [] }, detections: [] };
const opts = { lossSampling: 'expected' as const };
const limits = (o: Partial<JobsConfig>): JobsConfig => loadJobsConfig(testConfig(), {}, o);
const settle = async (job: Job): Promise<void> => { while (job.status === 'queued' || job.status === 'running') await sleep(5); };

test('finished jobs expire after the TTL; the oldest finished job is evicted when the store is full', async (t) => {
  const store = new JobStore(limits({ ttlMs: 150, maxStored: 2, maxQueued: 5 }), async () => {});
  t.after(() => store.close());
  const a = store.submit(input, opts, null);
  await settle(a);
  const b = store.submit(input, opts, null);
  await settle(b);
  const c = store.submit(input, opts, null); // evicts a
  await settle(c);
  assert.equal(store.get(a.id), undefined);
  assert.equal(store.get(b.id)?.status, 'done');
  await sleep(200);
  assert.equal(store.get(b.id), undefined, 'expired');
  assert.equal(store.get(c.id), undefined, 'expired');
});

test('429 when running + queued + reserved uploads fill every slot; a reservation is released', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const store = new JobStore(limits({ maxConcurrent: 1, maxQueued: 1 }), () => gate);
  t.after(async () => { release(); await store.close(); });
  const running = store.submit(input, opts, null);
  const r = store.reserve();
  assert.throws(() => store.submit(input, opts, null), (e: Error & { code?: string; statusCode?: number }) => e.code === 'MRC_ERR_TOO_MANY_JOBS' && e.statusCode === 429);
  assert.throws(() => store.reserve(), /Too many evaluation jobs/);
  const queued = store.submit(input, opts, null, r); // consumes the reservation
  assert.equal(running.status, 'running');
  assert.equal(queued.status, 'queued');
  store.cancel(queued.id);
  assert.equal(queued.status, 'cancelled');
  release();
  await settle(running);
  assert.equal(running.status, 'done');
});

test('temp dirs go when a job ends (done, failed, cancelled) and on close; failures keep the error fields', async () => {
  const finished: Array<[JobStatus, number]> = [];
  let counts: Record<JobStatus, number> | null = null;
  const store = new JobStore(limits({ maxConcurrent: 1, maxQueued: 3 }), async (job) => {
    if (job.tmpDir === d2) throw new InputError('annotations.images[0].width', 'width is 10 but the image is 20', 422);
    if (job.tmpDir === d3) await sleep(300); // "the current image": close() waits for it
  }, { finished: (job, s) => finished.push([job.status, s]), counts: (c) => { counts = c; } });
  const dir = (): string => mkdtempSync(join(tmpdir(), 'mrcnn-store-test-'));
  const d1 = dir(), d2 = dir(), d3 = dir();

  const ok = store.submit(input, opts, d1);
  await settle(ok);
  assert.equal(ok.status, 'done');
  assert.equal(existsSync(d1), false);
  const bad = store.submit(input, opts, d2);
  await settle(bad);
  assert.equal(bad.status, 'failed');
  assert.deepEqual(bad.error, { statusCode: 422, code: 'MRC_ERR_INVALID_INPUT', message: 'width is 10 but the image is 20', field: 'annotations.images[0].width' });
  assert.equal(existsSync(d2), false);
  const s = store.submit(input, opts, d3);
  await sleep(20);
  assert.equal(s.status, 'running');
  await store.close();
  assert.equal(s.status, 'cancelled');
  assert.equal(existsSync(d3), false);
  assert.deepEqual(finished.map(([st]) => st), ['done', 'failed', 'cancelled']);
  assert.ok(finished.every(([, sec]) => sec >= 0));
  assert.ok(counts !== null);
  assert.throws(() => store.submit(input, opts, null), /shutting down/);
});
