/**
 * Jobs evaluate a detections-mode set in chunks of images and accumulate per group of categories
 * (src/evaluation/evaluate.ts on the chunkable src/eval Evaluation): over two halves, single images
 * and one chunk, with one category per group or more, the precision/recall/scores arrays are the
 * bits of one evaluateDetections call, and the stats, per-category rows, VOC table, counts and
 * warnings are equal (the coco-eval fixtures). A step that throws stops the evaluation
 * (cancellation); the report keeps a compact PR-curve slice whose means are the AP50 and AP.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { evaluateDetections } from '../../src/eval/index.js';
import { evaluateDetectionsInput } from '../../src/evaluation/evaluate.js';
import { compactCurves, prCurve } from '../../src/report/curves.js';
import { ROOT } from '../helper.js';

const dir = join(ROOT, 'test/fixtures/coco-eval');
const gt = JSON.parse(readFileSync(join(dir, 'gt.json'), 'utf8')) as { images: unknown[]; annotations: Array<Record<string, unknown>> };
const dt = JSON.parse(readFileSync(join(dir, 'dt_segm.json'), 'utf8')) as unknown[];
const opts = { lossSampling: 'expected' as const };

const bits = (a: Float64Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

test('two halves, single images and one chunk, accumulated per category group, give the bits of evaluateDetections', async () => {
  const g = structuredClone(gt);
  g.annotations[0]!.area = 0; // a GT box mmdetection leaves out of the VOC table (warned)
  const ref = evaluateDetections({ groundTruth: g, detections: dt, includeArrays: true });
  assert.ok(ref.warnings.some((w) => /left out of the VOC table/.test(w.message)));
  const half = Math.ceil(gt.images.length / 2);
  for (const [chunkImages, groupDetections] of [[half, undefined], [1, 1], [gt.images.length, 1], [half, 50]] as const) {
    const { response, outcome } = await evaluateDetectionsInput(g, dt, opts, { chunkImages, ...(groupDetections ? { groupDetections } : {}) });
    for (const t of ['bbox', 'segm'] as const) {
      const acc = outcome.accumulated[t]!;
      const r = ref.coco[t]!;
      assert.ok(bits(acc.precision).equals(bits(r.precision!.data)), `${t} precision, chunk ${chunkImages}`);
      assert.ok(bits(acc.recall).equals(bits(r.recall!.data)), `${t} recall, chunk ${chunkImages}`);
      assert.ok(bits(acc.scores).equals(bits(r.scores!.data)), `${t} scores, chunk ${chunkImages}`);
      assert.deepEqual(response.coco[t]!.stats, r.stats);
      assert.deepEqual(response.coco[t]!.per_category, r.per_category);
    }
    assert.deepEqual(response.voc, ref.voc);
    assert.deepEqual(response.counts, { images: ref.counts.images, gt_instances: ref.counts.gtInstances, detections: ref.counts.detections });
    assert.deepEqual(response.warnings, ref.warnings);
  }
});

test('a step that throws stops the evaluation (cancellation between chunks)', async () => {
  let calls = 0;
  await assert.rejects(evaluateDetectionsInput(gt, dt, opts, { chunkImages: 1, step: () => { if (++calls > 3) throw new Error('stop'); } }), /stop/);
  assert.equal(calls, 4);
});

test('the report keeps a compact PR-curve slice whose means are the per-category AP50 and AP', async () => {
  const { response, outcome } = await evaluateDetectionsInput(gt, dt, opts);
  const c = compactCurves(outcome.accumulated.bbox!);
  assert.equal(c.precision.length, c.T * c.R * c.K);
  response.coco.bbox!.per_category.forEach((pc, k) => {
    const mean = (v: number[] | null): number | null => (v ? v.reduce((s, x) => s + x, 0) / v.length : null);
    const ap50 = mean(prCurve(c, k, 0.5)), ap = mean(prCurve(c, k, 'mean'));
    if (pc.ap50 === null) assert.equal(ap50, null);
    else assert.ok(Math.abs(ap50! - pc.ap50) < 1e-12, `${pc.name} AP50 ${ap50} vs ${pc.ap50}`);
    if (pc.ap !== null) assert.ok(Math.abs(ap! - pc.ap) < 1e-12, `${pc.name} AP ${ap} vs ${pc.ap}`);
  });
});
