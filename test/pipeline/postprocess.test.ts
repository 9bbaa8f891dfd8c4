/**
 * polygon.ts and postprocess.ts on synthetic graph outputs (both graph flavours): threshold,
 * order, max detections, RLE equal to pycocotools' encoding of the pasted mask, area, polygons that
 * pycocotools' rasteriser (ported in src/eval) turns back into the mask.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeToRowMajor, encodeRowMajor, countsToString, frPoly, merge, parseCountsString } from '../../src/eval/rle.js';
import { pasteMask } from '../../src/pipeline/paste-masks.js';
import { maskToPolygons } from '../../src/pipeline/polygon.js';
import { detectionOutputNames, postprocess } from '../../src/pipeline/postprocess.js';
import type { TensorMap } from '../../src/pipeline/session-types.js';

const W = 40, H = 30;

function rasterize(polys: number[][], h = H, w = W): Uint8Array {
  if (polys.length === 0) return new Uint8Array(h * w);
  const m = merge(polys.map((p) => ({ h, w, counts: frPoly(p, h, w) })));
  return decodeToRowMajor(m.counts, h, w);
}

function maskOf(fn: (x: number, y: number) => boolean, w = W, h = H): Uint8Array {
  const m = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) m[y * w + x] = fn(x, y) ? 1 : 0;
  return m;
}

test('maskToPolygons: pixel-corner outlines that pycocotools rasterises back to the same mask', () => {
  const cases: Record<string, Uint8Array> = {
    rect: maskOf((x, y) => x >= 3 && x < 20 && y >= 5 && y < 15),
    disc: maskOf((x, y) => (x - 20) ** 2 + (y - 15) ** 2 < 100),
    pixel: maskOf((x, y) => x === 5 && y === 5),
    border: maskOf(() => true),
    lshape: maskOf((x, y) => (x >= 2 && x < 6 && y >= 2 && y < 20) || (x >= 2 && x < 15 && y >= 16 && y < 20)),
  };
  for (const [name, m] of Object.entries(cases)) {
    const polys = maskToPolygons(m, W, H);
    assert.equal(polys.length, 1, name);
    assert.deepEqual(rasterize(polys), m, name);
  }
  // Square pixel (5,5): its four corners, clockwise on screen.
  assert.deepEqual(maskToPolygons(cases.pixel!, W, H), [[5, 5, 6, 5, 6, 6, 5, 6]]);
});

test('maskToPolygons: diagonal pixels are two polygons; holes are filled (COCO polygons have none)', () => {
  const diag = maskOf((x, y) => (x === 5 && y === 5) || (x === 6 && y === 6));
  assert.equal(maskToPolygons(diag, W, H).length, 2);
  const ring = maskOf((x, y) => x >= 5 && x < 15 && y >= 5 && y < 15 && !(x >= 8 && x < 12 && y >= 8 && y < 12));
  const polys = maskToPolygons(ring, W, H);
  assert.equal(polys.length, 1);
  assert.equal(rasterize(polys).reduce((a, b) => a + b, 0), 100, 'the 4x4 hole comes back filled');
  assert.deepEqual(maskToPolygons(new Uint8Array(W * H), W, H), []);
});

/** Loss-capable style outputs: D detections with un-pasted 28x28 probabilities. */
function lossCapableOutputs(dets: Array<{ box: number[]; label: number; score: number; prob: number }>): TensorMap {
  const D = dets.length;
  const masks = new Float32Array(D * 28 * 28);
  dets.forEach((d, i) => masks.fill(d.prob, i * 784, (i + 1) * 784));
  return {
    det_boxes: { type: 'float32', data: new Float32Array(dets.flatMap((d) => d.box)), dims: [D, 4] },
    det_labels: { type: 'int64', data: new BigInt64Array(dets.map((d) => BigInt(d.label))), dims: [D] },
    det_scores: { type: 'float32', data: new Float32Array(dets.map((d) => d.score)), dims: [D] },
    det_masks: { type: 'float32', data: masks, dims: [D, 1, 28, 28] },
  };
}

const base = {
  format: 'loss-capable' as const, names: detectionOutputNames('loss-capable', {}), width: W, height: H,
  classes: ['square', 'circle', 'triangle'], scoreThreshold: 0.5, maxDetections: 100, maskFormat: 'rle' as const,
};

test('postprocess: score threshold, best first, max_detections, labels, COCO xywh boxes', () => {
  const out = lossCapableOutputs([
    { box: [2, 3, 12, 13], label: 1, score: 0.6, prob: 1 },
    { box: [20, 5, 30, 25], label: 2, score: 0.9, prob: 1 },
    { box: [0, 0, 5, 5], label: 3, score: 0.3, prob: 1 },
  ]);
  const all = postprocess(out, base);
  assert.deepEqual(all.map((i) => [i.label, i.category_id]), [['circle', 2], ['square', 1]]);
  assert.deepEqual(all[1]!.bbox, [2, 3, 10, 10]);
  assert.equal(postprocess(out, { ...base, maxDetections: 1 }).length, 1);
  assert.equal(postprocess(out, { ...base, scoreThreshold: 0 }).length, 3);
  assert.equal(postprocess(out, { ...base, scoreThreshold: 1 }).length, 0);
});

test('postprocess: RLE is pycocotools encode of the torchvision-pasted mask; area = pixel count', () => {
  const box = [4.3, 6.1, 17.8, 21.2];
  const out = lossCapableOutputs([{ box, label: 1, score: 0.8, prob: 0.9 }]);
  const [inst] = postprocess(out, base);
  const pasted = new Uint8Array(W * H);
  pasteMask(new Float32Array(784).fill(0.9), 28, box as [number, number, number, number], pasted, W, H);
  const counts = encodeRowMajor(pasted, H, W);
  assert.deepEqual(inst!.segmentation, { size: [H, W], counts: countsToString(counts) });
  assert.equal(inst!.area, pasted.reduce((a, b) => a + b, 0));
  const parsed = parseCountsString((inst!.segmentation as { counts: string }).counts);
  assert.ok(parsed instanceof Uint32Array);
  assert.deepEqual(decodeToRowMajor(parsed, H, W), pasted);
  // polygon format: same pixels back through pycocotools' rasteriser; none: no segmentation, same area
  const [poly] = postprocess(out, { ...base, maskFormat: 'polygon' });
  assert.deepEqual(rasterize(poly!.segmentation as number[][]), pasted);
  const [none] = postprocess(out, { ...base, maskFormat: 'none' });
  assert.equal(none!.segmentation, undefined);
  assert.equal(none!.area, inst!.area);
});

test('postprocess: stock torchvision export (pasted [D,1,H,W] probabilities) thresholds at > 0.5', () => {
  const probs = new Float32Array(W * H).fill(0.2);
  for (let y = 2; y < 10; y++) for (let x = 3; x < 9; x++) probs[y * W + x] = 0.7;
  probs[0] = 0.5; // not > 0.5
  const out: TensorMap = {
    boxes: { type: 'float32', data: new Float32Array([3, 2, 9, 10]), dims: [1, 4] },
    labels: { type: 'int64', data: new BigInt64Array([3n]), dims: [1] },
    scores: { type: 'float32', data: new Float32Array([0.77]), dims: [1] },
    masks: { type: 'float32', data: probs, dims: [1, 1, H, W] },
  };
  const [inst] = postprocess(out, { ...base, format: 'stock', names: detectionOutputNames('stock', {}) });
  assert.equal(inst!.label, 'triangle');
  assert.equal(inst!.area, 48);
  const m = decodeToRowMajor(parseCountsString((inst!.segmentation as { counts: string }).counts) as Uint32Array, H, W);
  assert.equal(m[0], 0);
  assert.equal(m[2 * W + 3], 1);
});

test('postprocess: missing or inconsistent outputs are errors (a model bug, not user input)', () => {
  assert.throws(() => postprocess({}, base), /det_boxes/);
  const out = lossCapableOutputs([{ box: [1, 1, 5, 5], label: 1, score: 0.9, prob: 1 }]);
  out.det_labels = { type: 'int64', data: new BigInt64Array(2), dims: [2] };
  assert.throws(() => postprocess(out, base), /inconsistent/);
});
