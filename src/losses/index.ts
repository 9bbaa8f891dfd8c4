/**
 * Loss core entry point: the five torchvision 0.14 Mask R-CNN training losses of one image from
 * the loss-capable graph's outputs and the image's ground truth (docs/losses.md), in two
 * sampling modes, plus mask diagnostics. Pure: typed arrays in, numbers out.
 */
import { InputError } from '../eval/errors.js';
import { checkAnchors, generateAnchors } from './anchors.js';
import { boxHeadLosses, maskLosses, roiTargets } from './roi.js';
import { rpnLosses, rpnTargets } from './rpn.js';
import { f32Output, intOutput } from './tensors.js';
import { resizeMaskNearest, resizedSize, scaleBoxes } from './transform.js';
import type { ImageLosses, LossConstants, LossGraphOutputs, LossGroundTruth, SamplingMode } from './types.js';
import { defaultLossPath, validateGroundTruth, type LossPathMapper } from './validate.js';

export * from './types.js';
export { generateAnchors, checkAnchors, cellAnchors, anchorLevels } from './anchors.js';
export { boxIou, encodeBoxes, decodeBoxes } from './boxes.js';
export { match } from './matcher.js';
export { resizedSize, scaleBoxes, resizeMaskNearest, nearestSourceIndex } from './transform.js';
export { roiAlign } from './roi-align.js';
export { meanLosses, diagnose, LOSS_ALIASES } from './diagnose.js';
export type { MeanLosses, Diagnosis, DiagnosisFlag, DiagnoseOptions } from './diagnose.js';
export { validateGroundTruth, type LossPathMapper } from './validate.js';

/** Optional knobs of computeImageLosses. */
export interface ComputeOptions {
  /** Maps GT fields to request JSON paths for InputError (default `gt.boxes[i]` ...). */
  path?: LossPathMapper;
}

/**
 * The five losses of one image (batch of 1), torchvision 0.14 definitions.
 * @param out graph outputs (docs/architecture.md); `anchors` optional (regenerated and checked if present)
 * @param gt ground truth in original pixels; must be the GT fed to the graph as `gt_boxes`, same order
 * @param c the manifest's loss_constants
 * @param sampling `expected` = exact expectation of the stock sampler, `all` = every labelled element
 * @throws InputError for invalid GT; Error when the graph outputs break the contract
 *   (e.g. mask_roi_inds differs from the float32 IoU >= fg set, anchors differ, GT rows differ)
 */
export function computeImageLosses(
  out: LossGraphOutputs, gt: LossGroundTruth, c: LossConstants, sampling: SamplingMode = 'expected', opts: ComputeOptions = {},
): ImageLosses {
  if (sampling !== 'expected' && sampling !== 'all') throw new InputError('sampling', `sampling must be "expected" or "all", got ${String(sampling)}`, 400);
  const path = opts.path ?? defaultLossPath;
  const C = c.num_classes;
  const S = c.mask_size;
  const G = validateGroundTruth(gt, C, path);

  // Geometry: resized size as eager torch, GT into that frame.
  const [h, w] = intOutput(out, 'image_size', 1).data as [number, number];
  const [Hp, Wp] = intOutput(out, 'padded_size', 1).data as [number, number];
  const [eh, ew] = resizedSize(gt.height, gt.width, c.min_size, c.max_size);
  if (eh !== h || ew !== w) {
    throw new InputError(path('height'), `GT image size ${gt.height}x${gt.width} resizes to ${eh}x${ew}, but the graph's image resized to ${h}x${w}: GT and image sizes differ`);
  }
  const gtScaled = scaleBoxes(gt.boxes, gt.height, gt.width, h, w);
  for (let i = 0; i < G; i++) {
    if (!(gtScaled[i * 4 + 2]! > gtScaled[i * 4]!) || !(gtScaled[i * 4 + 3]! > gtScaled[i * 4 + 1]!)) {
      throw new InputError(path('boxes', i), 'box is degenerate after resizing to the model frame (torchvision would reject it)');
    }
  }

  // RoIs: proposals ++ the graph's scaled GT; use the graph's rows (bit-equal to ours when the contract holds).
  const proposals = f32Output(out, 'proposals', 2, [4]);
  const rois = f32Output(out, 'rois', 2, [4]);
  const P = proposals.dims[0]!;
  const R = rois.dims[0]!;
  if (R !== P + G) throw new Error(`rois has ${R} rows, expected proposals (${P}) + GT (${G}): was gt_boxes fed with the same GT?`);
  const gtRows = rois.data.subarray(P * 4, R * 4);
  for (let k = 0; k < G * 4; k++) {
    if (Math.abs(gtRows[k]! - gtScaled[k]!) > 1e-3 * Math.max(1, Math.abs(gtScaled[k]!))) {
      throw new Error(`GT row ${Math.floor(k / 4)} of rois (${gtRows[k]}) differs from the scaled GT (${gtScaled[k]}): was gt_boxes fed in the same order?`);
    }
  }

  // RPN.
  const anchors = generateAnchors(Hp, Wp, c.anchor_sizes, c.aspect_ratios);
  if (out.anchors) {
    const ga = f32Output(out, 'anchors', 2, [4]);
    const chk = checkAnchors(ga.data, anchors);
    if (!chk.equal) {
      throw new Error(`graph anchors differ from the regenerated ones (graph ${chk.graphCount}, expected ${chk.expectedCount}, first mismatch ${chk.firstMismatch}, max |diff| ${chk.maxAbsDiff}): loss_constants do not describe this graph`);
    }
  }
  const A = anchors.length / 4;
  const objectness = f32Output(out, 'rpn_objectness', 1);
  const rpnDeltas = f32Output(out, 'rpn_box_deltas', 2, [4]);
  if (objectness.dims[0] !== A || rpnDeltas.dims[0] !== A) {
    throw new Error(`rpn outputs have ${objectness.dims[0]} / ${rpnDeltas.dims[0]} rows, expected ${A} anchors`);
  }
  const rt = rpnTargets(gtRows, anchors, c.rpn_fg_iou, c.rpn_bg_iou);
  const rpn = rpnLosses({
    objectness: objectness.data, deltas: rpnDeltas.data, anchors, gt: gtRows, targets: rt,
    weights: c.rpn_reg_weights, beta: c.smooth_l1_beta, batchSize: c.rpn_batch_size_per_image,
    positiveFraction: c.rpn_positive_fraction, mode: sampling,
  });

  // RoI heads.
  const logits = f32Output(out, 'roi_class_logits', 2, [C]);
  const deltas = f32Output(out, 'roi_box_deltas', 2, [4 * C]);
  if (logits.dims[0] !== R || deltas.dims[0] !== R) throw new Error(`roi heads have ${logits.dims[0]} / ${deltas.dims[0]} rows, expected ${R} RoIs`);
  const roiT = roiTargets(gtRows, gt.labels, rois.data, c.box_fg_iou, c.box_bg_iou);
  const box = boxHeadLosses({
    logits: logits.data, deltas: deltas.data, C, rois: rois.data, gt: gtRows, targets: roiT,
    weights: c.bbox_reg_weights, beta: c.smooth_l1_beta, batchSize: c.box_batch_size_per_image,
    positiveFraction: c.box_positive_fraction, mode: sampling,
  });

  // Mask head: the graph's mask RoIs must be exactly our fg set.
  const inds = intOutput(out, 'mask_roi_inds', 1).data;
  const same = inds.length === roiT.fg.length && inds.every((v, i) => v === roiT.fg[i]);
  if (!same) {
    const extra = inds.filter((v) => !roiT.fg.includes(v)).slice(0, 5);
    const missing = roiT.fg.filter((v) => !inds.includes(v)).slice(0, 5);
    throw new Error(`mask_roi_inds (${inds.length}) differs from the float32 IoU >= ${c.box_fg_iou} set (${roiT.fg.length}): graph-only [${extra.join(',')}], JS-only [${missing.join(',')}]`);
  }
  const ml = f32Output(out, 'mask_logits', 4, [C, S, S]);
  if (ml.dims[0] !== inds.length) throw new Error(`mask_logits has ${ml.dims[0]} rows, mask_roi_inds ${inds.length}`);
  const planes = new Map<number, Float32Array>();
  const mask = maskLosses({
    logits: ml.data, C, S, rois: rois.data, targets: roiT, h, w, aligned: c.roialign_aligned,
    plane: (g) => {
      let p = planes.get(g);
      if (!p) {
        p = resizeMaskNearest(gt.masks[g]!, gt.height, gt.width, h, w);
        planes.set(g, p);
      }
      return p;
    },
  });

  const total = rpn.loss_objectness + rpn.loss_rpn_box_reg + box.loss_classifier + box.loss_box_reg + mask.loss_mask;
  return {
    loss_objectness: rpn.loss_objectness,
    loss_rpn_box_reg: rpn.loss_rpn_box_reg,
    loss_classifier: box.loss_classifier,
    loss_box_reg: box.loss_box_reg,
    loss_mask: mask.loss_mask,
    loss: total,
    mask_dice: mask.mask_dice,
    mask_bce_smooth: mask.mask_bce_smooth,
    counts: { anchors_pos: rt.numPos, anchors_neg: rt.numNeg, rois_fg: roiT.numFg, rois_bg: roiT.numBg },
  };
}
