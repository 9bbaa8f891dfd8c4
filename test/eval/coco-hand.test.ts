/**
 * Small COCO cases whose expected values are derived by hand (derivations in comments), covering the
 * matching rules and quirks pycocotools has: crowd absorption, GT id 0, equal-IoU tie-breaking,
 * inclusive area bounds, maxDets truncation, categories without GT.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  accumulate, evaluateDetections, evaluateImages, loadGroundTruth, loadResults, prepareEvaluation, resolveParams,
  WarningCollector, type ImageEvalRecord,
} from '../../src/eval/index.js';

const img = (id: number, w = 100, h = 100) => ({ id, width: w, height: h });
const ann = (id: number, image_id: number, category_id: number, bbox: number[], extra: Record<string, unknown> = {}) => ({
  id, image_id, category_id, bbox, area: bbox[2]! * bbox[3]!, iscrowd: 0, ...extra,
});
const det = (image_id: number, category_id: number, bbox: number[], score: number) => ({ image_id, category_id, bbox, score });
const cats = [{ id: 1, name: 'a' }, { id: 2, name: 'b' }, { id: 3, name: 'c' }];

function records(gtJson: unknown, dtJson: unknown, params?: unknown): ImageEvalRecord[] {
  const w = new WarningCollector();
  const gt = loadGroundTruth(gtJson, 'ground_truth', w);
  const dt = loadResults(gt, dtJson, 'detections', w);
  return evaluateImages(prepareEvaluation(gt, dt, resolveParams('bbox', params))).records;
}

test('two GTs, three detections: AP, AP50, AP75, AR1/AR10 by hand', () => {
  // GT g1 [0,0,10,10], g2 [50,50,10,10] (category a, both area 100 → small).
  // d1 = g1 exactly (IoU 1, score .9); d2 [50,50,10,5] (score .8): inter 50, union 100+50-50 = 100 → IoU 0.5;
  // d3 far away (score .7).
  // t = 0.5: TP, TP, FP → rc [.5, 1, 1], pr [1, 1, 2/3] → precision 1 at every recall threshold → AP 1.
  // t >= 0.55 (9 thresholds): TP, FP, FP → rc [.5,.5,.5], pr [1,.5,1/3] → 1 for recThrs 0..0.50
  // (51 of 101), 0 above → AP_t = 51/101.
  // AP = (1 + 9*51/101)/10 = 560/1010; AP50 = 1; AP75 = 51/101. Recall: 1 at t=.5, .5 otherwise → 0.55.
  // AR1 (first detection only): 0.5 at every t. No medium/large GT → null. Categories b, c: no GT → null.
  const gt = { images: [img(1)], categories: cats, annotations: [ann(1, 1, 1, [0, 0, 10, 10]), ann(2, 1, 1, [50, 50, 10, 10])] };
  const dt = [det(1, 1, [0, 0, 10, 10], 0.9), det(1, 1, [50, 50, 10, 5], 0.8), det(1, 1, [80, 80, 10, 10], 0.7)];
  const res = evaluateDetections({ groundTruth: gt, detections: dt, iouTypes: ['bbox'] });
  const s = res.coco.bbox!.stats;
  const near = (a: number | null, b: number) => assert.ok(a !== null && Math.abs(a - b) < 1e-12, `${a} vs ${b}`);
  near(s[0]!, 560 / 1010);
  near(s[1]!, 1);
  near(s[2]!, 51 / 101);
  near(s[3]!, 560 / 1010);
  assert.equal(s[4], null);
  assert.equal(s[5], null);
  near(s[6]!, 0.5);
  near(s[7]!, 0.55);
  near(s[8]!, 0.55);
  near(s[9]!, 0.55);
  assert.deepEqual([s[10], s[11]], [null, null]);
  const pc = res.coco.bbox!.per_category;
  near(pc[0]!.ap, 560 / 1010);
  assert.equal(pc[1]!.ap, null);
  assert.equal(pc[2]!.ap, null);
});

test('crowd GT absorbs any number of detections, which become ignored but keep their positions', () => {
  // Category b: crowd C [0,0,50,50] and normal g [60,60,20,20].
  // d1 [0,0,10,10] .95 and d2 [10,10,10,10] .94 lie inside C: crowd IoU = inter/area(d) = 1 → both
  // match C (crowd GTs can be matched repeatedly) → dtIgnore = 1. d3 = g exactly (.5) → TP.
  // npig = 1. Sorted: ig, ig, TP → rc [0,0,1], pr [0, 0, 1/(1+2^-52)]; the envelope lifts
  // positions 0,1 to 1/(1+2^-52), so every recall threshold reads 0.9999999999999998.
  const gt = {
    images: [img(1)], categories: cats,
    annotations: [ann(1, 1, 2, [0, 0, 50, 50], { iscrowd: 1 }), ann(2, 1, 2, [60, 60, 20, 20])],
  };
  const dt = [det(1, 2, [0, 0, 10, 10], 0.95), det(1, 2, [10, 10, 10, 10], 0.94), det(1, 2, [60, 60, 20, 20], 0.5)];
  const [rec] = records(gt, dt);
  assert.ok(rec);
  const T = 10, D = 3;
  assert.deepEqual(Array.from(rec.gtIds.subarray(0, 2)), [2, 1], 'non-ignored GT first');
  for (let t = 0; t < T; t++) {
    assert.deepEqual(Array.from(rec.dtMatches.subarray(t * D, t * D + D)), [1, 1, 2]);
    assert.deepEqual(Array.from(rec.dtIgnore.subarray(t * D, t * D + D)), [1, 1, 0]);
  }
  const res = evaluateDetections({ groundTruth: gt, detections: dt, iouTypes: ['bbox'] });
  assert.equal(res.coco.bbox!.stats[0], 1 / (1 + 2 ** -52));
  // without the crowd flag, d1/d2 have IoU 100/2500 and 100/2500 with C → false positives
  gt.annotations[0]!.iscrowd = 0;
  const res2 = evaluateDetections({ groundTruth: gt, detections: dt, iouTypes: ['bbox'] });
  assert.ok(res2.coco.bbox!.stats[0]! < 0.5);
});

test('annotation id 0 never matches: a perfect detection counts as a false positive (warned)', () => {
  // dtm stores the matched GT id and 0 means "unmatched", so matching GT id 0 is a FP; the GT is
  // still marked as taken, so recall is 0 too. With id 1 the same data gives AP 1/(1+2^-52)
  // (precision tp/(tp+fp+eps)).
  const mk = (id: number) => ({ images: [img(1)], categories: cats, annotations: [ann(id, 1, 1, [0, 0, 10, 10])] });
  const dt = [det(1, 1, [0, 0, 10, 10], 0.9)];
  const zero = evaluateDetections({ groundTruth: mk(0), detections: dt, iouTypes: ['bbox'] });
  assert.equal(zero.coco.bbox!.stats[0], 0);
  assert.equal(zero.coco.bbox!.stats[8], 0);
  assert.ok(zero.warnings.some((w) => w.path === 'ground_truth.annotations[0].id' && /id 0/.test(w.message)));
  const one = evaluateDetections({ groundTruth: mk(1), detections: dt, iouTypes: ['bbox'] });
  assert.equal(one.coco.bbox!.stats[0], 1 / (1 + 2 ** -52));
  assert.equal(one.warnings.length, 0);
});

test('equal IoU: the later GT in the list wins (>= comparison), per threshold independently', () => {
  // g11 [0,0,10,10] and g12 [10,0,10,10]; d [5,0,10,10] overlaps each by 50 px: IoU 50/150 = 1/3
  // for both. With iouThrs [0.3] the scan keeps replacing on >=, so d matches g12 (the later one).
  const gt = { images: [img(1)], categories: cats, annotations: [ann(11, 1, 1, [0, 0, 10, 10]), ann(12, 1, 1, [10, 0, 10, 10])] };
  const [rec] = records(gt, [det(1, 1, [5, 0, 10, 10], 0.9)], { iouThrs: [0.3, 0.4] });
  assert.deepEqual(Array.from(rec!.dtMatches.subarray(0, 2)), [12, 0]); // [a=all][t=.3], [t=.4]
  assert.deepEqual(Array.from(rec!.gtMatches.subarray(0, 2)), [0, 1]); // g11 untouched, g12 ← d (id 1)
});

test('area bounds are inclusive: area 1024 is small and medium; unmatched out-of-range dets are ignored', () => {
  // GT area 1024 → gtIgnore 0 in all, small [0,1024] and medium [1024,9216], 1 in large.
  // The detection (IoU 1) is matched in every range where the GT is not ignored; in 'large' it matches
  // the ignored GT → dtIgnore 1. A second, unmatched detection of area 10000 is ignored in small and
  // medium (out of range) but counted in all and large.
  const gt = { images: [img(1, 200, 200)], categories: cats, annotations: [ann(1, 1, 1, [0, 0, 32, 32])] };
  const [rec] = records(gt, [det(1, 1, [0, 0, 32, 32], 0.9), det(1, 1, [100, 100, 100, 100], 0.8)]);
  assert.deepEqual(Array.from(rec!.gtIgnore), [0, 0, 0, 1]);
  const T = 10, D = 2;
  const ig = (a: number) => Array.from(rec!.dtIgnore.subarray(a * T * D, a * T * D + D)); // t = 0
  assert.deepEqual(ig(0), [0, 0]);
  assert.deepEqual(ig(1), [0, 1]);
  assert.deepEqual(ig(2), [0, 1]);
  assert.deepEqual(ig(3), [1, 0]);
});

test('maxDets: only the 100 best-scored detections per image and category are evaluated', () => {
  const gt = { images: [img(1)], categories: cats, annotations: [ann(1, 1, 1, [0, 0, 10, 10])] };
  // 101 detections; the perfect one has the lowest score, so it is cut: AP 0. With maxDets
  // [1, 10, 101] it is kept and ranks last: precision 1/101 at recall 1 → AP 1/101 (envelope).
  const dt = Array.from({ length: 100 }, (_, i) => det(1, 1, [50, 50, 5, 5], 0.9 - i * 0.001));
  dt.push(det(1, 1, [0, 0, 10, 10], 0.1));
  const [rec] = records(gt, dt);
  assert.equal(rec!.dtIds.length, 100);
  assert.equal(evaluateDetections({ groundTruth: gt, detections: dt, iouTypes: ['bbox'] }).coco.bbox!.stats[1], 0);
  const wide = evaluateDetections({ groundTruth: gt, detections: dt, iouTypes: ['bbox'], params: { maxDets: [1, 10, 101] } });
  assert.equal(wide.coco.bbox!.stats[0], null, 'stat 0 looks up maxDets == 100 by value: absent → -1 → null');
  assert.ok(Math.abs(wide.coco.bbox!.stats[1]! - 1 / (101 + 2 ** -52)) < 1e-15);
});

test('score ties keep input order (stable sort), within and across images', () => {
  // Two images, each with one GT; the tied detections are ordered by image id, then input order.
  const gt = { images: [img(2), img(1)], categories: cats, annotations: [ann(1, 1, 1, [0, 0, 10, 10]), ann(2, 2, 1, [0, 0, 10, 10])] };
  const dt = [det(2, 1, [0, 0, 10, 10], 0.5), det(1, 1, [60, 60, 10, 10], 0.5)];
  // concatenation order is image 1 (FP) then image 2 (TP): rc [0, .5], pr [0, 1/(2+2^-52) = .5]
  // → envelope .5 for recall thresholds 0..0.50 (51 of 101) → AP50 = .5*51/101
  const res = evaluateDetections({ groundTruth: gt, detections: dt, iouTypes: ['bbox'] });
  assert.ok(Math.abs(res.coco.bbox!.stats[1]! - 0.5 * 51 / 101) < 1e-15);
  // swapping the image ids reverses the concatenation order: TP first → precision 1 up to recall .5
  const res2 = evaluateDetections({ groundTruth: gt, detections: [det(1, 1, [0, 0, 10, 10], 0.5), det(2, 1, [60, 60, 10, 10], 0.5)], iouTypes: ['bbox'] });
  assert.ok(Math.abs(res2.coco.bbox!.stats[1]! - 51 / 101) < 1e-15);
});

test('accumulate leaves categories without GT at -1 and images without GT or dets produce no record', () => {
  const gt = { images: [img(1), img(2)], categories: cats, annotations: [ann(1, 1, 1, [0, 0, 10, 10])] };
  const w = new WarningCollector();
  const g = loadGroundTruth(gt, 'ground_truth', w);
  const d = loadResults(g, [det(1, 3, [0, 0, 5, 5], 0.3)], 'detections', w);
  const recs = evaluateImages(prepareEvaluation(g, d, resolveParams('bbox', undefined)));
  assert.deepEqual(recs.records.map((r) => [r.imageId, r.categoryId]), [[1, 1], [1, 3]]);
  const acc = accumulate(recs);
  const K = 3, A = 4, M = 3;
  // category c (k = 2) has detections but no GT: recall stays -1 (npig = 0)
  assert.equal(acc.recall[((0 * K + 2) * A + 0) * M + 2], -1);
  assert.equal(acc.recall[((0 * K + 0) * A + 0) * M + 2], 0);
});
