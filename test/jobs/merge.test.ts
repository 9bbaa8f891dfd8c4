/**
 * Split-then-merge equals one pass, bit for bit (detections mode, the coco-eval fixtures):
 * evaluateSet over two halves of the images (chunk = half), over single images, and in one chunk
 * — accumulated in one call or per group of categories — give the same precision/recall/scores arrays as src/eval evaluateDetections (includeArrays), and
 * the same stats, per-category rows and VOC table (computed here or in the worker thread).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { evaluateDetections } from '../../src/eval/index.js';
import { evaluateSet } from '../../src/jobs/evaluate-set.js';
import { compactCurves, prCurve } from '../../src/report/svg.js';
import { ROOT } from '../helper.js';

const dir = join(ROOT, 'test/fixtures/coco-eval');
const gt = JSON.parse(readFileSync(join(dir, 'gt.json'), 'utf8')) as { images: unknown[] };
const dt = JSON.parse(readFileSync(join(dir, 'dt_segm.json'), 'utf8')) as unknown[];

const bits = (a: Float64Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

test('two halves, single images and one chunk, accumulated per category group, give the bits of evaluateDetections', async () => {
  const ref = evaluateDetections({ groundTruth: gt, detections: dt, includeArrays: true });
  const half = Math.ceil(gt.images.length / 2);
  for (const [chunkImages, groupDetections, vocWorkerMinDetections] of [[half, undefined, undefined], [1, 1, 0], [gt.images.length, 1, undefined], [half, 50, 0]] as const) {
    const { result, accumulated } = await evaluateSet({
      groundTruth: gt, detections: dt, chunkImages,
      ...(groupDetections ? { groupDetections } : {}), ...(vocWorkerMinDetections !== undefined ? { vocWorkerMinDetections } : {}),
    });
    for (const t of ['bbox', 'segm'] as const) {
      const acc = accumulated[t]!;
      const r = ref.coco[t]!;
      assert.ok(bits(acc.precision).equals(bits(r.precision!.data)), `${t} precision, chunk ${chunkImages}`);
      assert.ok(bits(acc.recall).equals(bits(r.recall!.data)), `${t} recall, chunk ${chunkImages}`);
      assert.ok(bits(acc.scores).equals(bits(r.scores!.data)), `${t} scores, chunk ${chunkImages}`);
      assert.deepEqual(result.coco[t]!.stats, r.stats);
      assert.deepEqual(result.coco[t]!.per_category, r.per_category);
    }
    assert.deepEqual(result.voc, ref.voc);
    assert.deepEqual(result.counts, ref.counts);
    assert.deepEqual(result.warnings, ref.warnings);
  }
});

test('cancellation between chunks stops the evaluation', async () => {
  let calls = 0;
  await assert.rejects(evaluateSet({
    groundTruth: gt, detections: dt, chunkImages: 1,
    checkpoint: () => { if (++calls > 3) throw new Error('stop'); },
  }), /stop/);
});

test('the VOC table from the worker thread carries the same warnings (GT boxes mmdetection skips)', async () => {
  const g = structuredClone(gt) as unknown as { annotations: Array<Record<string, unknown>> };
  g.annotations[0]!.area = 0;
  g.annotations[1]!.ignore = 1;
  const ref = evaluateDetections({ groundTruth: g, detections: dt });
  const { result } = await evaluateSet({ groundTruth: g, detections: dt, vocWorkerMinDetections: 0 });
  assert.ok(ref.warnings.some((w) => /left out of the VOC table/.test(w.message)));
  assert.deepEqual(result.warnings, ref.warnings);
  assert.deepEqual(result.voc, ref.voc);
});

test('the report keeps a compact PR-curve slice whose means are the per-category AP50 and AP', async () => {
  const { result, accumulated } = await evaluateSet({ groundTruth: gt, detections: dt });
  const c = compactCurves(accumulated.bbox!);
  assert.equal(c.precision.length, c.T * c.R * c.K);
  result.coco.bbox!.per_category.forEach((pc, k) => {
    const mean = (v: number[] | null): number | null => (v ? v.reduce((s, x) => s + x, 0) / v.length : null);
    const ap50 = mean(prCurve(c, k, 0.5)), ap = mean(prCurve(c, k, 'mean'));
    if (pc.ap50 === null) assert.equal(ap50, null);
    else assert.ok(Math.abs(ap50! - pc.ap50) < 1e-12, `${pc.name} AP50 ${ap50} vs ${pc.ap50}`);
    if (pc.ap !== null) assert.ok(Math.abs(ap! - pc.ap) < 1e-12, `${pc.name} AP ${ap} vs ${pc.ap}`);
  });
});
