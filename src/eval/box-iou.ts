/**
 * @file Box IoU in the two flavours the references use:
 *  - COCO (`maskApi.c: bbIou`): boxes are xywh doubles, no +1, crowd GT divides by the detection area.
 *  - mmdet (`bbox_overlaps.py: bbox_overlaps`): boxes are xyxy, every operation in float32
 *    (emulated with `Math.fround`), optional legacy +1, union clamped to float32(1e-6).
 * Used by `coco/evaluate.ts` and `voc.ts`.
 */
import { f32 } from './numeric.js';

/**
 * IoU of detection box `d` and ground-truth box `g` (both `[x, y, w, h]`, read at offsets `di`, `gi`).
 * With `gtIsCrowd` the union is the detection area. Mirrors `maskApi.c: bbIou` for one pair
 * (docs/evaluation.md#iou): `iw`/`ih` ≤ 0 give 0.
 */
export function cocoBoxIou(
  d: ArrayLike<number>,
  di: number,
  g: ArrayLike<number>,
  gi: number,
  gtIsCrowd: boolean,
): number {
  const dx = d[di]!, dy = d[di + 1]!, dw = d[di + 2]!, dh = d[di + 3]!;
  const gx = g[gi]!, gy = g[gi + 1]!, gw = g[gi + 2]!, gh = g[gi + 3]!;
  const iw = Math.min(dw + dx, gw + gx) - Math.max(dx, gx);
  if (iw <= 0) return 0;
  const ih = Math.min(dh + dy, gh + gy) - Math.max(dy, gy);
  if (ih <= 0) return 0;
  const i = iw * ih;
  const da = dw * dh;
  const u = gtIsCrowd ? da : da + gw * gh - i;
  return i / u;
}

/**
 * IoU matrix `[D×G]` (row-major, `out[d*G + g]`) of xywh boxes, as `_mask.pyx: iou` on box lists.
 * `dt` is `[D×4]`, `gt` is `[G×4]`, `iscrowd` is `[G]`.
 */
export function cocoBoxIouMatrix(
  dt: ArrayLike<number>,
  gt: ArrayLike<number>,
  iscrowd: ArrayLike<number>,
  out?: Float64Array,
): Float64Array {
  const D = Math.floor(dt.length / 4), G = Math.floor(gt.length / 4);
  const o = out ?? new Float64Array(D * G);
  for (let d = 0; d < D; d++) {
    for (let g = 0; g < G; g++) o[d * G + g] = cocoBoxIou(dt, 4 * d, gt, 4 * g, iscrowd[g] !== 0);
  }
  return o;
}

/** float32(1e-6): mmdet's union floor. */
const EPS_UNION = f32(1e-6);

/**
 * IoU of two xyxy boxes computed entirely in float32, as mmdet `bbox_overlaps` (mode 'iou') computes each
 * entry (docs/evaluation.md#voc-table): `extra` is 1 with `use_legacy_coordinate`, else 0. Symmetric, so
 * the argument swap mmdet does when there are more detections than GTs changes nothing.
 */
export function mmdetIouF32(
  a: ArrayLike<number>,
  ai: number,
  b: ArrayLike<number>,
  bi: number,
  extra = 0,
): number {
  const ax1 = f32(a[ai]!), ay1 = f32(a[ai + 1]!), ax2 = f32(a[ai + 2]!), ay2 = f32(a[ai + 3]!);
  const bx1 = f32(b[bi]!), by1 = f32(b[bi + 1]!), bx2 = f32(b[bi + 2]!), by2 = f32(b[bi + 3]!);
  const areaA = f32(f32(f32(ax2 - ax1) + extra) * f32(f32(ay2 - ay1) + extra));
  const areaB = f32(f32(f32(bx2 - bx1) + extra) * f32(f32(by2 - by1) + extra));
  const iw = Math.max(f32(f32(Math.min(ax2, bx2) - Math.max(ax1, bx1)) + extra), 0);
  const ih = Math.max(f32(f32(Math.min(ay2, by2) - Math.max(ay1, by1)) + extra), 0);
  const overlap = f32(iw * ih);
  const union = Math.max(f32(f32(areaA + areaB) - overlap), EPS_UNION);
  return f32(overlap / union);
}
