/**
 * RPN targets and losses (docs/losses.md#rpn): anchors matched to the resized GT with
 * Matcher(fg, bg, allow_low_quality_matches=True), labels 1/0/-1, regression targets
 * encode(gt, anchor, rpn weights); loss_objectness = mean BCE over the sample,
 * loss_rpn_box_reg = sum smoothL1 over sampled positives / |sample|.
 */
import { boxIou, encodeBox } from './boxes.js';
import { bceWithLogits, samplingWeights, smoothL1, weightedMean } from './functional.js';
import { match } from './matcher.js';
import type { SamplingMode } from './types.js';

/** RPN labels and matches per anchor. */
export interface RpnTargets {
  /** [A] 1 positive, 0 negative, -1 ignored. */
  labels: Int8Array;
  /** [A] matched GT (valid where labels = 1). */
  matched: Int32Array;
  numPos: number;
  numNeg: number;
}

/**
 * Label every anchor.
 * @param gt f32 [G*4] resized-frame GT
 * @param anchors f32 [A*4]
 */
export function rpnTargets(gt: Float32Array, anchors: Float32Array, fgIou: number, bgIou: number): RpnTargets {
  const G = gt.length / 4;
  const A = anchors.length / 4;
  const labels = new Int8Array(A);
  let matched: Int32Array = new Int32Array(A);
  let numPos = 0;
  let numNeg = A;
  if (G > 0) {
    const m = match(boxIou(gt, anchors), G, A, fgIou, bgIou, true);
    matched = m.matches;
    numNeg = 0;
    for (let a = 0; a < A; a++) {
      const v = m.matches[a]!;
      if (v >= 0) {
        labels[a] = 1;
        numPos++;
      } else if (v === -1) {
        labels[a] = 0;
        numNeg++;
      } else {
        labels[a] = -1;
      }
    }
  }
  return { labels, matched, numPos, numNeg };
}

/** RPN loss inputs for one image. */
export interface RpnLossInput {
  /** f32 [A] logits. */
  objectness: Float32Array;
  /** f32 [A*4] predicted deltas. */
  deltas: Float32Array;
  anchors: Float32Array;
  gt: Float32Array;
  targets: RpnTargets;
  weights: readonly number[];
  beta: number;
  batchSize: number;
  positiveFraction: number;
  mode: SamplingMode;
}

/** Compute loss_objectness and loss_rpn_box_reg. */
export function rpnLosses(p: RpnLossInput): { loss_objectness: number; loss_rpn_box_reg: number } {
  const { labels, matched, numPos, numNeg } = p.targets;
  const t = new Float64Array(4);
  let clsPos = 0, clsNeg = 0, boxPos = 0;
  for (let a = 0; a < labels.length; a++) {
    const l = labels[a]!;
    if (l < 0) continue;
    const x = p.objectness[a]!;
    if (l === 0) {
      clsNeg += bceWithLogits(x, 0);
      continue;
    }
    clsPos += bceWithLogits(x, 1);
    encodeBox(p.gt, matched[a]!, p.anchors, a, p.weights, t, 0);
    for (let k = 0; k < 4; k++) boxPos += smoothL1(Math.fround(p.deltas[a * 4 + k]! - t[k]!), p.beta);
  }
  const w = samplingWeights(numPos, numNeg, p.batchSize, p.positiveFraction, p.mode);
  return { loss_objectness: weightedMean(w, clsPos, clsNeg), loss_rpn_box_reg: weightedMean(w, boxPos, 0) };
}
