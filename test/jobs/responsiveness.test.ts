/**
 * A large detections-mode job (2000 images, 120 000 detections, synthetic) does not hold the event
 * loop: per-image records in chunks of images, the accumulation per category group, the VOC table
 * from per-image records, with a turn of the event loop between steps. Counted, not timed: a
 * setImmediate chain counts the event-loop turns during the job (each one is a moment other requests
 * are served); a synchronous evaluation would allow a handful, the job must allow at least one per
 * chunk of images. The wall-clock gaps are reported as a diagnostic only (they depend on the
 * machine's load). The result equals evaluateDetections. Uses the job service on the in-memory store
 * (no HTTP, no model).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../../src/config.js';
import { evaluateDetections } from '../../src/eval/index.js';
import { errorBody, normalizeError } from '../../src/errors.js';
import { MemoryStore } from '../../src/jobs/memory-store.js';
import { JobService } from '../../src/jobs/service.js';

function synthetic(I: number, G: number, D: number): { gt: { images: unknown[]; annotations: unknown[]; categories: unknown[] }; dets: unknown[] } {
  let seed = 7;
  const rnd = (): number => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const box = (): number[] => { const w = 20 + rnd() * 100, h = 20 + rnd() * 80; return [rnd() * 500, rnd() * 380, w, h]; };
  const images = [], annotations = [], dets = [];
  for (let i = 1; i <= I; i++) {
    images.push({ id: i, file_name: `${i}.png`, width: 640, height: 480 });
    for (let g = 0; g < G; g++) { const b = box(); annotations.push({ id: annotations.length + 1, image_id: i, category_id: 1 + (g % 3), bbox: b, area: b[2]! * b[3]!, iscrowd: 0 }); }
    for (let d = 0; d < D; d++) dets.push({ image_id: i, category_id: 1 + (d % 3), bbox: box(), score: rnd() });
  }
  return { gt: { images, annotations, categories: [{ id: 1, name: 'a' }, { id: 2, name: 'b' }, { id: 3, name: 'c' }] }, dets };
}

test('a 120k-detection job keeps the event loop responsive and equals evaluateDetections', async (t) => {
  const { gt, dets } = synthetic(2000, 8, 60);
  const service = new JobService({
    store: new MemoryStore(), limits: loadConfig({}).jobs,
    model: () => Promise.reject(new Error('no model')),
    describeError: (err) => { const b = errorBody(normalizeError(err), ''); return { statusCode: b.statusCode, code: b.code, message: b.message, field: b.field }; },
  });
  service.start();
  t.after(() => service.close());
  let maxGap = 0;
  let turns = 0;
  let last = performance.now();
  let spinning = true;
  const spin = (): void => {
    turns++;
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    if (spinning) setImmediate(spin);
  };
  setImmediate(spin);
  const t0 = performance.now();
  const submitted = await service.submit({ mode: 'detections', groundTruth: gt, detections: dets, options: { lossSampling: 'expected', iouTypes: ['bbox'] }, total: gt.images.length });
  let job = await service.get(submitted.id);
  while (job.finishedAt === null) {
    await service.idle();
    job = await service.get(submitted.id);
  }
  spinning = false;
  const jobMs = performance.now() - t0;
  assert.equal(job.status, 'done', JSON.stringify(job.error));
  const s0 = performance.now();
  const ref = evaluateDetections({ groundTruth: gt, detections: dets, iouTypes: ['bbox'] });
  const syncMs = performance.now() - s0;
  t.diagnostic(`job ${jobMs.toFixed(0)} ms, ${turns} event-loop turns, largest gap ${maxGap.toFixed(0)} ms; one synchronous evaluateDetections ${syncMs.toFixed(0)} ms`);
  assert.deepEqual(job.result!.coco, ref.coco);
  assert.deepEqual(job.result!.voc, ref.voc);
  const chunks = Math.ceil(gt.images.length / 64);
  assert.ok(turns >= chunks, `the event loop turned ${turns} times during the job (>= one per chunk of 64 images: ${chunks})`);
});
