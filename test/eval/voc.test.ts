/**
 * mmdet eval_map port: hand-derived cases for tpfp_default, average_precision (both modes), mAP,
 * float32 box IoU and the table formatter.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { averagePrecision, cocoBoxIou, evalMap, formatMapTable, mmdetIouF32, tpfpDefault } from '../../src/eval/index.js';

const f32 = Math.fround;

test('tpfpDefault: best GT only, no fallback to a free second-best GT (unlike COCO)', () => {
  // g0 [0,0,10,10], g1 [0,0,10,9]. d0 = d1 = [0,0,10,10]: IoU 1 with g0, 90/100 = 0.9 with g1.
  // d0 (.9) covers g0 → TP. d1 (.8) also has its best on g0, already covered → FP, although g1 is free.
  const dets = Float32Array.from([0, 0, 10, 10, 0.9, 0, 0, 10, 10, 0.8]);
  const gts = Float32Array.from([0, 0, 10, 10, 0, 0, 10, 9]);
  const { tp, fp } = tpfpDefault(dets, gts, new Float32Array(0));
  assert.deepEqual([...tp], [1, 0]);
  assert.deepEqual([...fp], [0, 1]);
});

test('tpfpDefault: a detection whose best box is an ignored (crowd) box is neither TP nor FP', () => {
  const dets = Float32Array.from([0, 0, 10, 10, 0.9, 50, 50, 60, 60, 0.8]);
  const { tp, fp } = tpfpDefault(dets, new Float32Array(0), Float32Array.from([0, 0, 10, 10]));
  assert.deepEqual([...tp], [0, 0]);
  assert.deepEqual([...fp], [0, 1]); // the second one misses everything → FP
  // no GT at all: every detection is a false positive
  assert.deepEqual([...tpfpDefault(dets, new Float32Array(0), new Float32Array(0)).fp], [1, 1]);
});

test('mmdetIouF32: float32 arithmetic, legacy +1 and the 1e-6 union floor', () => {
  // [0,0,10,10] vs [5,0,15,10]: overlap 50, union 150 → f32(1/3)
  const a = [0, 0, 10, 10], b = [5, 0, 15, 10];
  assert.equal(mmdetIouF32(a, 0, b, 0), f32(50 / 150));
  // legacy: widths +1 → overlap 6*11 = 66, areas 121 each → 66/176
  assert.equal(mmdetIouF32(a, 0, b, 0, 1), f32(66 / 176));
  // degenerate boxes: union clamped to f32(1e-6) → 0/1e-6 = 0
  assert.equal(mmdetIouF32([1, 1, 1, 1], 0, [1, 1, 1, 1], 0), 0);
  // coordinates that are not float32 are rounded first: 0.1 → f32(0.1)
  assert.equal(mmdetIouF32([0.1, 0, 1, 1], 0, [0.1, 0, 1, 1], 0), 1);
});

test('averagePrecision area: right envelope and pairwise sum (hand-derived)', () => {
  // recall [.5, 1], precision [1, .5]: mrec [0,.5,1,1], mpre [0,1,.5,0] → envelope [1,1,.5,0];
  // steps where recall changes: (.5-0)*1 + (1-.5)*.5 = 0.75
  assert.equal(averagePrecision([0.5, 1], Float32Array.from([1, 0.5]), 'area'), 0.75);
  // a precision dip is lifted by the envelope: [1, .2, .6] at recall [.25, .25, .5] → .25*1 + .25*.6
  assert.equal(averagePrecision([0.25, 0.25, 0.5], Float32Array.from([1, 0.2, 0.6]), 'area'), f32(0.25 + 0.25 * f32(0.6)));
  assert.equal(averagePrecision([], new Float32Array(0), 'area'), 0);
});

test('averagePrecision 11points: thresholds k*0.1, so recall exactly 0.3 misses 0.30000000000000004', () => {
  // recall [.3, .6], precision [1, .5]. Thresholds 0, .1, .2 → max(1, .5) = 1 (x3);
  // 0.30000000000000004 > .3 → only .6 qualifies → .5; .4, .5 → .5; 0.6000000000000001 > .6 → 0;
  // .7 .. 1 → 0. Sum 4.5 → f32(4.5/11). (Exact thresholds would give (4*1 + 3*.5)/11 = .5.)
  assert.equal(averagePrecision([0.3, 0.6], Float32Array.from([1, 0.5]), '11points'), f32(4.5 / 11));
  assert.notEqual(f32(4.5 / 11), 0.5);
});

test('evalMap: per-class recall/precision, class without GT excluded from mAP', () => {
  // Class 0: image 0 has one GT, dets .9 (hit) and .8 (miss); image 1 has one GT, det .7 (hit).
  //   sorted: TP, FP, TP → recall [.5,.5,1], precision [1, .5, 2/3] → AP = .5*1 + .5*(2/3)
  // Class 1: no GT, one det → AP 0 and excluded; mAP = AP(class 0).
  const det = (boxes: number[][]) => Float32Array.from(boxes.flat());
  const detResults = [
    [det([[0, 0, 10, 10, 0.9], [50, 50, 60, 60, 0.8]]), det([[0, 0, 5, 5, 0.6]])],
    [det([[20, 20, 30, 30, 0.7]]), det([])],
  ];
  const annotations = [
    { bboxes: Float32Array.from([0, 0, 10, 10]), labels: Int32Array.from([0]) },
    { bboxes: Float32Array.from([20, 20, 30, 30]), labels: Int32Array.from([0]) },
  ];
  const { meanAp, results } = evalMap(detResults, annotations);
  assert.deepEqual([...results[0]!.recall], [0.5, 0.5, 1]);
  assert.deepEqual([...results[0]!.precision], [1, 0.5, f32(2 / 3)]);
  const ap0 = f32(0.5 * 1 + 0.5 * f32(2 / 3));
  assert.equal(results[0]!.ap, ap0);
  assert.deepEqual([results[1]!.numGts, results[1]!.numDets, results[1]!.ap], [0, 1, 0]);
  assert.equal(meanAp, ap0);
  // iouThr is compared in float32: an IoU of exactly f32(0.7) passes 0.7
  const iou = mmdetIouF32([0, 0, 10, 10], 0, [0, 0, 10, 7], 0);
  assert.equal(iou, f32(0.7));
  const r = evalMap([[det([[0, 0, 10, 10, 0.5]])]], [{ bboxes: Float32Array.from([0, 0, 10, 7]), labels: Int32Array.from([0]) }], { iouThr: 0.7 });
  assert.equal(r.results[0]!.ap, 1);
});

test('formatMapTable: AsciiTable layout with Python half-even {:.3f}', () => {
  // 0.0625 is an exact tie: Python prints 0.062 (JS toFixed would print 0.063)
  const t = formatMapTable([{ class: 'x', gts: 1, dets: 20, recall: 0.0625, ap: 0.5625 }], 0.5625);
  assert.equal(t, [
    '+-------+-----+------+--------+-------+',
    '| class | gts | dets | recall | ap    |',
    '+-------+-----+------+--------+-------+',
    '| x     | 1   | 20   | 0.062  | 0.562 |',
    '+-------+-----+------+--------+-------+',
    '| mAP   |     |      |        | 0.562 |',
    '+-------+-----+------+--------+-------+',
  ].join('\n'));
});

// sizes below 1e-6 are snapped to 0: subnormal boxes make 0/0 = NaN in pycocotools' formula too
const size = fc.double({ min: 0, max: 100, noNaN: true }).map((v) => (v < 1e-6 ? 0 : v));
const boxArb = fc.tuple(fc.double({ min: -100, max: 100, noNaN: true }), fc.double({ min: -100, max: 100, noNaN: true }), size, size);

test('property: COCO box IoU is symmetric for non-crowd GT, within [0,1]; a box with itself has IoU 1', () => {
  fc.assert(fc.property(boxArb, boxArb, (a, b) => {
    const v = cocoBoxIou(a, 0, b, 0, false);
    assert.ok(v >= 0 && v <= 1, String(v));
    assert.equal(cocoBoxIou(b, 0, a, 0, false), v);
    const crowd = cocoBoxIou(a, 0, b, 0, true);
    assert.ok(crowd >= 0 && crowd <= 1 + 1e-12 && crowd >= v * (1 - 1e-12), 'crowd IoU divides by the smaller detection area');
    // (x+w)-x is not exactly w in doubles, so self-IoU is 1 up to rounding (exact for integers)
    if (a[2] > 1e-3 && a[3] > 1e-3) assert.ok(Math.abs(cocoBoxIou(a, 0, a, 0, false) - 1) < 1e-9);
  }), { numRuns: 1000 });
  const intBox = fc.tuple(fc.integer({ min: -500, max: 500 }), fc.integer({ min: -500, max: 500 }), fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 500 }));
  fc.assert(fc.property(intBox, (a) => {
    assert.equal(cocoBoxIou(a, 0, a, 0, false), 1);
    assert.equal(cocoBoxIou(a, 0, a, 0, true), 1);
  }));
});

test('property: mmdet float32 IoU is symmetric, within [0,1]; a box with itself has IoU 1', () => {
  const xyxy = boxArb.map(([x, y, w, h]) => [x, y, x + w, y + h]);
  fc.assert(fc.property(xyxy, xyxy, (a, b) => {
    const v = mmdetIouF32(a, 0, b, 0);
    assert.ok(v >= 0 && v <= 1, String(v));
    assert.equal(mmdetIouF32(b, 0, a, 0), v);
    if (f32(f32(a[2]!) - f32(a[0]!)) * f32(f32(a[3]!) - f32(a[1]!)) > 1e-3) assert.equal(mmdetIouF32(a, 0, a, 0), 1);
  }), { numRuns: 1000 });
});
