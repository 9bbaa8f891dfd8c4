/**
 * @file The precision–recall curves of an evaluation, from the accumulated COCO precision
 * (pycocotools layout, kept compact as {@link PrCurves}): per class, area "all", the last maxDets,
 * either at one IoU threshold (0.5) or the mean over all thresholds (0.5:0.95, -1 entries left
 * out). The x axis is pycocotools' 101 recall thresholds. The report's JSON data and its charts
 * (Chart.js, src/report/html.ts) are made of these.
 */
import type { Accumulated, CocoParams } from '../eval/index.js';

/**
 * What the report keeps of an accumulation: precision at area "all" and the last maxDets, [T×R×K]
 * (8 KB per class and IoU type, instead of the full T×R×K×A×M arrays ×3).
 */
export interface PrCurves {
  params: CocoParams;
  categoryIds: Float64Array;
  T: number;
  R: number;
  K: number;
  precision: Float64Array;
}

/** The PR-curve slice of an accumulation. */
export function compactCurves(acc: Accumulated): PrCurves {
  const { T, R, K, A, M, params: p } = acc;
  const a = Math.max(0, p.areaRngLbl.indexOf('all'));
  const precision = new Float64Array(T * R * K);
  for (let t = 0; t < T; t++) {
    for (let r = 0; r < R; r++) {
      for (let k = 0; k < K; k++) precision[(t * R + r) * K + k] = acc.precision[(((t * R + r) * K + k) * A + a) * M + M - 1]!;
    }
  }
  return { params: p, categoryIds: acc.categoryIds, T, R, K, precision };
}

/** Precision at each recall threshold of category index k, or null when it has no usable GT. */
export function prCurve(acc: PrCurves, k: number, iou: number | 'mean'): number[] | null {
  const { T, R, K, params: p } = acc;
  const ts = iou === 'mean' ? Array.from({ length: T }, (_, t) => t) : Array.from({ length: T }, (_, t) => t).filter((t) => Math.abs(p.iouThrs[t]! - iou) < 1e-9);
  if (ts.length === 0) return null;
  const out: number[] = [];
  let any = false;
  for (let r = 0; r < R; r++) {
    let sum = 0, n = 0;
    for (const t of ts) {
      const v = acc.precision[(t * R + r) * K + k]!;
      if (v > -1) { sum += v; n++; }
    }
    if (n > 0) any = true;
    out.push(n > 0 ? sum / n : 0);
  }
  return any ? out : null;
}
