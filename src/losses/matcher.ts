/**
 * torchvision's `Matcher` (models/detection/_utils.py) over a float32 IoU matrix [G, N]:
 * best GT per element (first index wins ties), thresholds, and the low-quality rule that
 * restores every element attaining a GT's best IoU (ties included) to its own argmax GT.
 */

/** Element below the low threshold. */
export const BELOW_LOW_THRESHOLD = -1;
/** Element between the thresholds (ignored). */
export const BETWEEN_THRESHOLDS = -2;

/** Matcher output per element. */
export interface MatchResult {
  /** [N] matched GT index, or BELOW_LOW_THRESHOLD / BETWEEN_THRESHOLDS. */
  matches: Int32Array;
  /** [N] argmax GT index before thresholding (first index wins ties); 0 when G = 0. */
  argmax: Int32Array;
  /** [N] best IoU (-Infinity when G = 0). */
  maxIou: Float32Array;
}

/**
 * Run the matcher.
 * @param iou f32 [G*N], row g = GT g against the N elements
 * @param G number of GT rows
 * @param N number of elements (anchors or RoIs)
 * @param high matches with IoU >= high are kept (compared in float32, as torch casts the scalar)
 * @param low IoU < low is background; [low, high) is ignored (float32 too: 0.7 -> 0.699999988)
 * @param allowLowQuality torchvision's allow_low_quality_matches
 */
export function match(
  iou: Float32Array, G: number, N: number, high: number, low: number, allowLowQuality: boolean,
): MatchResult {
  const hi = Math.fround(high);
  const lo = Math.fround(low);
  const matches = new Int32Array(N);
  const argmax = new Int32Array(N);
  const maxIou = new Float32Array(N).fill(-Infinity);
  for (let g = 0; g < G; g++) {
    const row = g * N;
    for (let n = 0; n < N; n++) {
      const v = iou[row + n]!;
      // torch's CPU max keeps the first maximum: replace only on strictly greater (or first NaN).
      if (g === 0 || v > maxIou[n]! || (Number.isNaN(v) && !Number.isNaN(maxIou[n]!))) {
        maxIou[n] = v;
        argmax[n] = g;
      }
    }
  }
  for (let n = 0; n < N; n++) {
    const v = maxIou[n]!;
    if (v < lo) matches[n] = BELOW_LOW_THRESHOLD;
    else if (v >= lo && v < hi) matches[n] = BETWEEN_THRESHOLDS;
    else matches[n] = G === 0 ? BELOW_LOW_THRESHOLD : argmax[n]!;
  }
  if (allowLowQuality && G > 0) {
    for (let g = 0; g < G; g++) {
      const row = g * N;
      let best = -Infinity;
      for (let n = 0; n < N; n++) if (iou[row + n]! > best) best = iou[row + n]!;
      for (let n = 0; n < N; n++) if (iou[row + n] === best) matches[n] = argmax[n]!;
    }
  }
  return { matches, argmax, maxIou };
}
