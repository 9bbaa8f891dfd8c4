/**
 * computeImageLosses contract: GT validation (InputError with JSON paths), graph-contract checks
 * (plain Errors: mask_roi_inds vs our float32 IoU set, anchors, GT rows), identical predictions
 * giving zero box losses, and anchors-present == anchors-absent.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../../src/eval/errors.js';
import {
  computeImageLosses, encodeBoxes, generateAnchors, type LossGraphOutputs, type LossGroundTruth,
} from '../../src/losses/index.js';
import { roiTargets } from '../../src/losses/roi.js';
import { rpnTargets } from '../../src/losses/rpn.js';
import { loadPipeline } from './helpers.js';

const base = loadPipeline('a');
const withGt = (patch: Partial<LossGroundTruth>): LossGroundTruth => ({ ...base.gt, ...patch });
const withOut = (patch: Record<string, unknown>): LossGraphOutputs => ({ ...base.out, ...patch }) as LossGraphOutputs;

function inputError(fn: () => unknown, path: string, re?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof InputError, `expected InputError, got ${String(e)}`);
    assert.equal(e.path, path);
    if (re) assert.match(e.message, re);
    return true;
  });
}

describe('GT validation -> InputError with a JSON path', () => {
  const run = (gt: LossGroundTruth) => () => computeImageLosses(base.out, gt, base.c, 'all');
  const boxes = (i: number, b: number[]) => {
    const x = base.gt.boxes.slice();
    x.set(b, i * 4);
    return x;
  };

  it('zero or negative box size', () => {
    inputError(run(withGt({ boxes: boxes(1, [10, 10, 10, 20]) })), 'gt.boxes[1]', /zero or negative/);
    inputError(run(withGt({ boxes: boxes(0, [10, 30, 20, 20]) })), 'gt.boxes[0]', /zero or negative/);
  });
  it('box outside the image', () => {
    inputError(run(withGt({ boxes: boxes(2, [-1, 0, 10, 10]) })), 'gt.boxes[2]', /outside/);
    inputError(run(withGt({ boxes: boxes(2, [0, 0, base.gt.width + 0.5, 10]) })), 'gt.boxes[2]', /outside/);
    inputError(run(withGt({ boxes: boxes(0, [0, 0, 5, Number.NaN]) })), 'gt.boxes[0]', /non-finite/);
  });
  it('labels out of range 1..C-1', () => {
    inputError(run(withGt({ labels: Int32Array.from([1, 0, 2]) })), 'gt.labels[1]', /out of range 1\.\.2/);
    inputError(run(withGt({ labels: Int32Array.from([1, 2, 3]) })), 'gt.labels[2]');
  });
  it('mask size / count / values', () => {
    const masks = [...base.gt.masks];
    masks[1] = new Uint8Array(10);
    inputError(run(withGt({ masks })), 'gt.masks[1]', /pixels, expected/);
    inputError(run(withGt({ masks: base.gt.masks.slice(0, 2) })), 'gt.masks', /expected 3 masks/);
    const bad = [...base.gt.masks];
    bad[0] = bad[0]!.slice();
    bad[0][5] = 255;
    inputError(run(withGt({ masks: bad })), 'gt.masks[0]', /not 0 or 1/);
  });
  it('box array length and image size', () => {
    inputError(run(withGt({ boxes: base.gt.boxes.subarray(0, 11) })), 'gt.boxes');
    inputError(run(withGt({ height: 0 })), 'gt.height');
    // 50x70 resizes to 63x89; a GT claiming 60x70 would resize elsewhere
    inputError(run(withGt({ height: 60, masks: base.gt.masks.map(() => new Uint8Array(60 * 70)) })), 'gt.height', /sizes differ/);
  });
  it('custom path mapper', () => {
    inputError(
      () => computeImageLosses(base.out, withGt({ boxes: boxes(1, [10, 10, 10, 20]) }), base.c, 'all',
        { path: (f, i) => `ground_truth.annotations[${i}].${f === 'boxes' ? 'bbox' : f}` }),
      'ground_truth.annotations[1].bbox');
  });
  it('invalid sampling mode', () => {
    inputError(() => computeImageLosses(base.out, base.gt, base.c, 'some' as 'all'), 'sampling');
  });
});

describe('graph contract checks -> Error', () => {
  it('mask_roi_inds differing from the float32 IoU >= 0.5 set', () => {
    const inds = base.out.mask_roi_inds;
    const fewer = { data: (inds.data as BigInt64Array).slice(1), dims: [inds.dims[0]! - 1] };
    const ml = base.out.mask_logits;
    const per = ml.data.length / ml.dims[0]!;
    const logits = { data: (ml.data as Float32Array).slice(per), dims: [ml.dims[0]! - 1, ...ml.dims.slice(1)] };
    assert.throws(() => computeImageLosses(withOut({ mask_roi_inds: fewer, mask_logits: logits }), base.gt, base.c), /mask_roi_inds \(8\) differs/);
  });
  it('anchors that do not match the constants', () => {
    const a = base.out.anchors!;
    const d = (a.data as Float32Array).slice();
    d[7] = d[7]! + 1;
    assert.throws(() => computeImageLosses(withOut({ anchors: { data: d, dims: a.dims } }), base.gt, base.c), /graph anchors differ/);
  });
  it('GT fed in another order than given', () => {
    const b = base.gt.boxes;
    const swapped = Float32Array.from([...b.subarray(4, 8), ...b.subarray(0, 4), ...b.subarray(8)]);
    const gt = withGt({ boxes: swapped, masks: [base.gt.masks[1]!, base.gt.masks[0]!, base.gt.masks[2]!],
      labels: Int32Array.from([base.gt.labels[1]!, base.gt.labels[0]!, base.gt.labels[2]!]) });
    assert.throws(() => computeImageLosses(base.out, gt, base.c), /differs from the scaled GT/);
  });
  it('missing output', () => {
    assert.throws(() => computeImageLosses(withOut({ rois: undefined }), base.gt, base.c), /"rois": missing/);
  });
});

describe('losses', () => {
  it('anchors output present or absent: same losses', () => {
    const noAnchors = withOut({ anchors: undefined });
    for (const mode of ['all', 'expected'] as const) {
      assert.deepEqual(computeImageLosses(noAnchors, base.gt, base.c, mode), computeImageLosses(base.out, base.gt, base.c, mode));
    }
  });

  it('deltas equal to the targets give loss_rpn_box_reg = loss_box_reg = 0', () => {
    const rois = base.out.rois.data as Float32Array;
    const P = base.out.proposals.dims[0]!;
    const gtRows = rois.slice(P * 4);
    const [Hp, Wp] = Array.from(base.out.padded_size.data as BigInt64Array, Number) as [number, number];
    const anchors = generateAnchors(Hp, Wp, base.c.anchor_sizes, base.c.aspect_ratios);
    const rt = rpnTargets(gtRows, anchors, base.c.rpn_fg_iou, base.c.rpn_bg_iou);
    const A = anchors.length / 4;
    const matchedGt = new Float32Array(A * 4);
    for (let a = 0; a < A; a++) matchedGt.set(gtRows.subarray(Math.max(rt.matched[a]!, 0) * 4, Math.max(rt.matched[a]!, 0) * 4 + 4), a * 4);
    const rpnDeltas = encodeBoxes(matchedGt, anchors, [1, 1, 1, 1]);
    const C = base.c.num_classes;
    const R = rois.length / 4;
    const t = roiTargets(gtRows, base.gt.labels, rois, 0.5, 0.5);
    const roiDeltas = (base.out.roi_box_deltas.data as Float32Array).slice();
    for (const r of t.fg) {
      const enc = encodeBoxes(gtRows.subarray(t.matched[r]! * 4, t.matched[r]! * 4 + 4), rois.subarray(r * 4, r * 4 + 4), [10, 10, 5, 5]);
      roiDeltas.set(enc, r * 4 * C + 4 * t.labels[r]!);
    }
    const out = withOut({ rpn_box_deltas: { data: rpnDeltas, dims: [A, 4] }, roi_box_deltas: { data: roiDeltas, dims: [R, 4 * C] } });
    for (const mode of ['all', 'expected'] as const) {
      const l = computeImageLosses(out, base.gt, base.c, mode);
      assert.equal(l.loss_rpn_box_reg, 0);
      assert.equal(l.loss_box_reg, 0);
      assert.ok(l.loss_objectness > 0 && l.loss_classifier > 0 && l.loss_mask > 0);
      assert.equal(l.loss, l.loss_objectness + l.loss_classifier + l.loss_mask);
    }
  });
});
