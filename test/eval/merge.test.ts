/**
 * Issue 9: per-image evaluation records computed in pieces (image subsets, in any order, even from
 * separately loaded GT/result batches) accumulate to exactly the numbers of a single pass.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  accumulate, evaluateImages, loadGroundTruth, loadResults, prepareEvaluation, resolveParams, summarize,
  WarningCollector, type Accumulated, type IouType,
} from '../../src/eval/index.js';
import { fixture } from './helpers.js';

function context(gtJson: unknown, dtJson: unknown, iouType: IouType) {
  const w = new WarningCollector();
  const gt = loadGroundTruth(gtJson, 'ground_truth', w);
  const dt = loadResults(gt, dtJson, 'detections', w);
  return prepareEvaluation(gt, dt, resolveParams(iouType, undefined));
}

function assertBitIdentical(a: Accumulated, b: Accumulated): void {
  for (const key of ['precision', 'recall', 'scores'] as const) {
    assert.equal(a[key].length, b[key].length);
    for (let i = 0; i < a[key].length; i++) {
      if (!Object.is(a[key][i], b[key][i])) assert.fail(`${key}[${i}]: ${a[key][i]} !== ${b[key][i]}`);
    }
  }
  assert.deepEqual(summarize(a), summarize(b));
}

for (const [dtFile, iouType] of [['dt_bbox.json', 'bbox'], ['dt_segm.json', 'segm']] as const) {
  test(`${iouType}: image subsets evaluated separately and merged equal one pass, bit for bit`, () => {
    const ctx = context(fixture('gt.json'), fixture(dtFile), iouType);
    const whole = accumulate(evaluateImages(ctx));
    // pieces in a scrambled order (accumulate orders records by image id itself)
    const p1 = evaluateImages(ctx, [25, 13]);
    const p2 = evaluateImages(ctx, [19]);
    const p3 = evaluateImages(ctx, [16, 10, 22]);
    assertBitIdentical(accumulate(p2, p3, p1), whole);
    // a different split, and one record per piece
    const single = [10, 13, 16, 19, 22, 25].map((id) => evaluateImages(ctx, [id]));
    assertBitIdentical(accumulate(...single.reverse()), whole);
    // sanity: dropping a piece changes the numbers (the check above can fail)
    assert.notDeepEqual(summarize(accumulate(p1, p3)), summarize(whole));
  });
}

test('batches loaded separately (own GT subset + own results) merge to the full-dataset numbers', () => {
  const gt = fixture('gt.json');
  const dt = fixture('dt_bbox.json') as Array<{ image_id: number }>;
  const batch = (ids: number[]) => {
    const g = { ...gt, images: gt.images.filter((im: any) => ids.includes(im.id)), annotations: gt.annotations.filter((a: any) => ids.includes(a.image_id)) };
    return evaluateImages(context(g, dt.filter((d) => ids.includes(d.image_id)), 'bbox'));
  };
  const whole = accumulate(evaluateImages(context(gt, dt, 'bbox')));
  // result ids differ between batches (1-based per batch input) but only matching inside a cell uses them
  assertBitIdentical(accumulate(batch([10, 19, 25]), batch([13, 16, 22])), whole);
  assert.deepEqual(summarize(whole), fixture('expected/coco_bbox.json').stats);
});

test('accumulate refuses overlapping pieces and mismatched parameters', () => {
  const ctx = context(fixture('gt.json'), fixture('dt_bbox.json'), 'bbox');
  assert.throws(() => accumulate(evaluateImages(ctx, [10]), evaluateImages(ctx, [10, 13])), /evaluated twice/);
  const other = prepareEvaluation(ctx.gt, ctx.dt, resolveParams('bbox', { maxDets: [1, 10, 50] }));
  assert.throws(() => accumulate(evaluateImages(ctx, [10]), evaluateImages(other, [13])), /different params/);
  assert.throws(() => accumulate(), /at least one/);
});
