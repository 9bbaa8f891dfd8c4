/**
 * A large detections-mode job (2000 images, 120 000 detections, synthetic) does not hold the event
 * loop: per-image records in chunks of images, the accumulation per category group, the VOC table
 * from per-image records, with a turn of the event loop between steps. A 5 ms timer keeps firing
 * during the whole job (it must fire many times, and its largest gap must stay below what one
 * synchronous evaluateDetections takes on the same data), and the result equals evaluateDetections.
 * Uses the job service on the in-memory store (no HTTP, no model).
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
  let ticks = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    ticks++;
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 5);
  const t0 = performance.now();
  const submitted = await service.submit({ mode: 'detections', groundTruth: gt, detections: dets, options: { lossSampling: 'expected', iouTypes: ['bbox'] }, total: gt.images.length });
  let job = await service.get(submitted.id);
  while (job.finishedAt === null) {
    await service.idle();
    job = await service.get(submitted.id);
  }
  clearInterval(timer);
  const jobMs = performance.now() - t0;
  assert.equal(job.status, 'done', JSON.stringify(job.error));
  const s0 = performance.now();
  const ref = evaluateDetections({ groundTruth: gt, detections: dets, iouTypes: ['bbox'] });
  const syncMs = performance.now() - s0;
  t.diagnostic(`job ${jobMs.toFixed(0)} ms, largest event-loop gap ${maxGap.toFixed(0)} ms; one synchronous evaluateDetections ${syncMs.toFixed(0)} ms`);
  assert.deepEqual(job.result!.coco, ref.coco);
  assert.deepEqual(job.result!.voc, ref.voc);
  // Structural, not a latency budget (timings on a shared CI machine vary): the loop kept turning
  // during the job (a synchronous evaluation would let the timer fire at most once), and no single
  // block lasted as long as the whole synchronous evaluation.
  assert.ok(ticks >= 10, `the event loop turned ${ticks} times during the job`);
  assert.ok(maxGap < syncMs, `largest gap ${maxGap.toFixed(0)} ms vs ${syncMs.toFixed(0)} ms synchronous`);
});
