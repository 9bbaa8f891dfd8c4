/**
 * The chunkable evaluation (src/eval/evaluation.ts) gives the bits of one pass however it is fed:
 * the results of one image at a time (each image's results loaded as their own batch, ids and paths
 * continuing), one batch cut into chunks of images, parts added in any order, and the accumulation
 * per group of categories. Checked on the pycocotools fixtures (bbox and segm, with warnings) for
 * the precision/recall/scores arrays, the stats, the per-category rows, the VOC table, the counts and
 * the warnings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateDetections, Evaluation, type EvaluateDetectionsResult, type RecordSet } from '../../src/eval/index.js';
import { fixture } from './helpers.js';

const gt = fixture('gt.json') as { images: Array<{ id: number }>; annotations: Array<Record<string, unknown>> };
const bits = (a: Float64Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function assertSame(got: { result: EvaluateDetectionsResult; accumulated: Record<string, { precision: Float64Array; recall: Float64Array; scores: Float64Array } | undefined> }, ref: EvaluateDetectionsResult, label: string): void {
  for (const t of ['bbox', 'segm'] as const) {
    const r = ref.coco[t];
    if (!r) {
      assert.equal(got.result.coco[t], undefined, `${label}: ${t}`);
      continue;
    }
    const acc = got.accumulated[t]!;
    assert.ok(bits(acc.precision).equals(bits(r.precision!.data)), `${label}: ${t} precision`);
    assert.ok(bits(acc.recall).equals(bits(r.recall!.data)), `${label}: ${t} recall`);
    assert.ok(bits(acc.scores).equals(bits(r.scores!.data)), `${label}: ${t} scores`);
    assert.deepEqual(got.result.coco[t]!.stats, r.stats, `${label}: ${t} stats`);
    assert.deepEqual(got.result.coco[t]!.per_category, r.per_category, `${label}: ${t} per_category`);
  }
  assert.deepEqual(got.result.voc, ref.voc, `${label}: voc`);
  assert.deepEqual(got.result.counts, ref.counts, `${label}: counts`);
  assert.deepEqual(got.result.warnings, ref.warnings, `${label}: warnings`);
}

/** The results of `dt` grouped per GT image, in GT file order (how model mode produces them). */
function perImage(dt: Array<{ image_id: number }>): Array<{ id: number; results: unknown[] }> {
  return gt.images.map((im) => ({ id: im.id, results: dt.filter((d) => d.image_id === im.id) }));
}

for (const dtFile of ['dt_bbox.json', 'dt_segm.json', 'dt_segm_with_bbox.json']) {
  test(`${dtFile}: image by image, in chunks, in any order, per category group = one pass (bits)`, () => {
    const dt = fixture(dtFile) as Array<{ image_id: number; category_id: number }>;
    // results ordered image by image, as the model produces them; plus one unknown category (dropped, warned)
    const ordered = perImage(dt).flatMap((p) => p.results) as Array<{ image_id: number; category_id: number }>;
    ordered.splice(3, 0, { ...ordered[0]!, category_id: 999 });
    const g = structuredClone(gt);
    g.annotations[0]!.area = 0; // a GT box the VOC table leaves out (warned)
    const ref = evaluateDetections({ groundTruth: g, detections: ordered, includeArrays: true });
    assert.ok(ref.warnings.some((w) => /category_id not in the ground truth/.test(w.message)));

    // one image at a time: each image's results are their own batch
    const one = Evaluation.open(g);
    for (const { id } of gt.images) one.add(one.loadResults(ordered.filter((d) => d.image_id === id)).evaluate([id]));
    assertSame(one.finish({ groupDetections: 1 }), ref, 'per image');

    // one batch, chunks of 2 images, parts added in reverse
    const chunked = Evaluation.open(g);
    const batch = chunked.loadResults(ordered, { offset: 0 });
    const ids = gt.images.map((i) => i.id);
    const parts: RecordSet[] = [];
    for (let s = 0; s < ids.length; s += 2) parts.push(batch.evaluate(ids.slice(s, s + 2)));
    for (const p of parts.reverse()) chunked.add(p);
    assertSame(chunked.finish(), ref, 'chunked');
  });
}

test('explicit iou_types and VOC options are honoured the same way fed whole or per image', () => {
  const dt = fixture('dt_segm.json') as Array<{ image_id: number }>;
  const ordered = perImage(dt).flatMap((p) => p.results) as Array<{ image_id: number }>;
  const opts = { iouTypes: ['segm' as const], vocMode: '11points' as const, vocIouThr: 0.7 };
  const ref = evaluateDetections({ groundTruth: gt, detections: ordered, includeArrays: true, ...opts });
  const ev = Evaluation.open(gt, opts);
  for (const { id } of gt.images) ev.add(ev.loadResults(ordered.filter((d) => d.image_id === id)).evaluate([id]));
  assertSame(ev.finish(), ref, 'segm only');
});

test('results without masks: segm is skipped with the one-pass warning', () => {
  const dt = fixture('dt_bbox.json') as Array<{ image_id: number }>;
  const ordered = perImage(dt).flatMap((p) => p.results) as Array<{ image_id: number }>;
  const ref = evaluateDetections({ groundTruth: gt, detections: ordered, includeArrays: true });
  assert.ok(ref.warnings.some((w) => /segm not evaluated/.test(w.message)));
  const ev = Evaluation.open(gt);
  for (const { id } of gt.images) ev.add(ev.loadResults(ordered.filter((d) => d.image_id === id)).evaluate([id]));
  assertSame(ev.finish(), ref, 'bbox only');
});

test('BAD CALL - an image recorded twice, or not in the ground truth, is refused', () => {
  const ev = Evaluation.open(gt);
  const id = gt.images[0]!.id;
  const part = ev.loadResults([]).evaluate([id]);
  ev.add(part);
  assert.throws(() => ev.add(part), /recorded twice/);
  assert.throws(() => ev.loadResults([]).evaluate([987654]), RangeError);
});

test('finishSteps yields between category groups and ends with the same outcome', () => {
  const dt = fixture('dt_segm.json');
  const ref = evaluateDetections({ groundTruth: gt, detections: dt, includeArrays: true });
  const ev = Evaluation.open(gt);
  ev.add(ev.loadResults(dt, { offset: 0 }).evaluate());
  const steps = ev.finishSteps({ groupDetections: 1 });
  let n = 0;
  for (;;) {
    const r = steps.next();
    if (r.done) {
      assertSame(r.value, ref, 'stepped');
      break;
    }
    n++;
  }
  assert.ok(n > 3, `${n} steps`);
});
