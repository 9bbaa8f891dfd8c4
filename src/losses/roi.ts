/**
 * RoI-head targets and losses (docs/losses.md#roi-heads and #mask): RoIs (proposals ++ GT) matched with
 * Matcher(fg, bg, no low-quality matches); loss_classifier = mean softmax CE over the sample,
 * loss_box_reg = sum smoothL1 of the GT-class deltas over sampled fg / |sample|, and the mask
 * targets/losses of the fg RoIs (RoIAlign of the nearest-resized GT mask, soft targets).
 */
import { boxIou, encodeBox } from './boxes.js';
import {
  MASK_LABEL_SMOOTHING, bceWithLogits, crossEntropy, diceLoss, samplingWeights, smoothL1, weightedMean,
} from './functional.js';
import { match } from './matcher.js';
import { roiAlign } from './roi-align.js';
import type { SamplingMode } from './types.js';

/** Labels of the RoIs. */
export interface RoiTargets {
  /** [R] class of fg RoIs, 0 background, -1 ignored (only when bg < fg threshold). */
  labels: Int32Array;
  /** [R] matched GT index (valid where labels > 0). */
  matched: Int32Array;
  /** [R] best float32 IoU with any GT (-Infinity when G = 0). */
  maxIou: Float32Array;
  /** Ascending indices of fg RoIs. */
  fg: number[];
  numFg: number;
  numBg: number;
}

/**
 * Label every RoI.
 * @param gt f32 [G*4] resized GT
 * @param gtLabels [G] classes 1..C-1
 * @param rois f32 [R*4]
 */
export function roiTargets(gt: Float32Array, gtLabels: Int32Array, rois: Float32Array, fgIou: number, bgIou: number): RoiTargets {
  const G = gt.length / 4;
  const R = rois.length / 4;
  const labels = new Int32Array(R);
  const matched = new Int32Array(R);
  const fg: number[] = [];
  let numBg = R;
  let maxIou: Float32Array = new Float32Array(R).fill(-Infinity);
  if (G > 0) {
    const m = match(boxIou(gt, rois), G, R, fgIou, bgIou, false);
    maxIou = m.maxIou;
    numBg = 0;
    for (let r = 0; r < R; r++) {
      const v = m.matches[r]!;
      if (v >= 0) {
        labels[r] = gtLabels[v]!;
        matched[r] = v;
        fg.push(r);
      } else if (v === -1) {
        numBg++;
      } else {
        labels[r] = -1;
      }
    }
  }
  return { labels, matched, maxIou, fg, numFg: fg.length, numBg };
}

/** Box-head loss inputs. */
export interface BoxHeadInput {
  /** f32 [R*C] class logits. */
  logits: Float32Array;
  /** f32 [R*4C] class-major deltas. */
  deltas: Float32Array;
  C: number;
  rois: Float32Array;
  gt: Float32Array;
  targets: RoiTargets;
  weights: readonly number[];
  beta: number;
  batchSize: number;
  positiveFraction: number;
  mode: SamplingMode;
}

/** Compute loss_classifier and loss_box_reg. */
export function boxHeadLosses(p: BoxHeadInput): { loss_classifier: number; loss_box_reg: number } {
  const { labels, matched, numFg, numBg } = p.targets;
  const C = p.C;
  const t = new Float64Array(4);
  let clsPos = 0, clsNeg = 0, boxPos = 0;
  for (let r = 0; r < labels.length; r++) {
    const l = labels[r]!;
    if (l < 0) continue;
    const ce = crossEntropy(p.logits, r * C, C, l);
    if (l === 0) {
      clsNeg += ce;
      continue;
    }
    clsPos += ce;
    encodeBox(p.gt, matched[r]!, p.rois, r, p.weights, t, 0);
    const o = r * 4 * C + 4 * l;
    for (let k = 0; k < 4; k++) boxPos += smoothL1(Math.fround(p.deltas[o + k]! - t[k]!), p.beta);
  }
  const w = samplingWeights(numFg, numBg, p.batchSize, p.positiveFraction, p.mode);
  return { loss_classifier: weightedMean(w, clsPos, clsNeg), loss_box_reg: weightedMean(w, boxPos, 0) };
}

/** Mask-head loss inputs. */
export interface MaskHeadInput {
  /** f32 [M*C*S*S] mask logits of the fg RoIs, in ascending RoI order. */
  logits: Float32Array;
  C: number;
  S: number;
  rois: Float32Array;
  targets: RoiTargets;
  /** Resized GT mask plane g (f32 [h*w]), computed lazily by the caller. */
  plane: (g: number) => Float32Array;
  h: number;
  w: number;
  aligned: boolean;
}

/**
 * loss_mask (mean BCE over fg RoIs x S x S on the GT-class channel; 0 without fg) and the two
 * diagnostics over the same pixels. The expectation under the stock sampler equals the mean over
 * all fg RoIs, so both modes share this value.
 */
export function maskLosses(p: MaskHeadInput): { loss_mask: number; mask_dice: number; mask_bce_smooth: number } {
  const { fg, labels, matched } = p.targets;
  const SS = p.S * p.S;
  const eps = MASK_LABEL_SMOOTHING;
  let bce = 0, bceSmooth = 0, dice = 0;
  fg.forEach((r, j) => {
    const target = roiAlign(p.plane(matched[r]!), p.h, p.w, p.rois, r * 4, p.S, -1, p.aligned);
    const o = (j * p.C + labels[r]!) * SS;
    for (let k = 0; k < SS; k++) {
      const x = p.logits[o + k]!;
      const t = target[k]!;
      bce += bceWithLogits(x, t);
      bceSmooth += bceWithLogits(x, t * (1 - eps) + eps / 2);
    }
    dice += diceLoss(p.logits, o, target);
  });
  const n = fg.length;
  if (n === 0) return { loss_mask: 0, mask_dice: 0, mask_bce_smooth: 0 };
  return { loss_mask: bce / (n * SS), mask_dice: dice / n, mask_bce_smooth: bceSmooth / (n * SS) };
}
