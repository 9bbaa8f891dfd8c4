/**
 * Element losses (float64 arithmetic on float32 inputs) and the sampling normalisers of
 * torchvision's BalancedPositiveNegativeSampler in both modes (docs/losses.md#sampling).
 */
import type { SamplingMode } from './types.js';

/** BCE with logits, torch's stable form: max(x,0) - x*t + log(1 + exp(-|x|)). */
export function bceWithLogits(x: number, t: number): number {
  return Math.max(x, 0) - x * t + Math.log1p(Math.exp(-Math.abs(x)));
}

/** Smooth L1 of a difference d: 0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta (beta > 0). */
export function smoothL1(d: number, beta: number): number {
  const a = Math.abs(d);
  return a < beta ? (0.5 * a * a) / beta : a - 0.5 * beta;
}

/**
 * Softmax cross-entropy of one row: logsumexp(z) - z[label].
 * @param z logits, row at z[o .. o+C)
 */
export function crossEntropy(z: ArrayLike<number>, o: number, C: number, label: number): number {
  let m = -Infinity;
  for (let c = 0; c < C; c++) m = Math.max(m, z[o + c]!);
  let s = 0;
  for (let c = 0; c < C; c++) s += Math.exp(z[o + c]! - m);
  return m + Math.log(s) - z[o + label]!;
}

/** Logistic sigmoid. */
export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** How the sampled loss weighs positive and negative sums: loss = (wPos*sumPos + wNeg*sumNeg) / denom. */
export interface SamplingWeights {
  wPos: number;
  wNeg: number;
  /** Number of sampled elements (the torchvision denominator); 0 when nothing is labelled. */
  denom: number;
  /** Sampled positives / negatives (all labelled ones in mode `all`). */
  kPos: number;
  kNeg: number;
}

/**
 * Normalisers for nPos positives and nNeg negatives.
 * - `all`: every labelled element is kept (deterministic recipe, batch 2**30): weights 1, denom nPos+nNeg.
 * - `expected`: torchvision draws kP = min(nP, floor(B*f)) positives and kN = min(nN, B - kP) negatives
 *   uniformly without replacement; each positive is kept with probability kP/nP, and the denominator
 *   kP+kN is fixed, so E[loss] = (kP/nP * sumPos + kN/nN * sumNeg) / (kP + kN) exactly.
 */
export function samplingWeights(
  nPos: number, nNeg: number, batchSize: number, positiveFraction: number, mode: SamplingMode,
): SamplingWeights {
  if (mode === 'all') return { wPos: 1, wNeg: 1, denom: nPos + nNeg, kPos: nPos, kNeg: nNeg };
  const kPos = Math.min(nPos, Math.floor(batchSize * positiveFraction));
  const kNeg = Math.min(nNeg, batchSize - kPos);
  return {
    wPos: nPos > 0 ? kPos / nPos : 0,
    wNeg: nNeg > 0 ? kNeg / nNeg : 0,
    denom: kPos + kNeg,
    kPos,
    kNeg,
  };
}

/** (wPos*sumPos + wNeg*sumNeg) / denom, 0 when denom = 0 (torch would return NaN on an empty sample). */
export function weightedMean(w: SamplingWeights, sumPos: number, sumNeg: number): number {
  return w.denom > 0 ? (w.wPos * sumPos + w.wNeg * sumNeg) / w.denom : 0;
}

/** Label smoothing used by the mask diagnostic: t -> t(1-eps) + eps/2. */
export const MASK_LABEL_SMOOTHING = 0.05;

/**
 * Soft Dice loss of one mask (DETR's form): 1 - (2 sum(p t) + 1) / (sum p + sum t + 1), p = sigmoid(logit).
 * @param logits S*S logits at logits[o..]
 * @param target S*S soft targets
 */
export function diceLoss(logits: ArrayLike<number>, o: number, target: ArrayLike<number>): number {
  let pt = 0, ps = 0, ts = 0;
  for (let k = 0; k < target.length; k++) {
    const p = sigmoid(logits[o + k]!);
    const t = target[k]!;
    pt += p * t;
    ps += p;
    ts += t;
  }
  return 1 - (2 * pt + 1) / (ps + ts + 1);
}
