/**
 * Float32-exact box ops of torchvision 0.14: `box_iou` (ops/boxes.py) and the `BoxCoder`
 * encode/decode (models/detection/_utils.py). Every torch float32 op is one Math.fround, in
 * torch's order, so IoU thresholds and matcher ties fall exactly where torch puts them.
 * Boxes are flat xyxy arrays: box i occupies [4i, 4i+4).
 */
import { f32 } from './tensors.js';

/** Area of box i: (x2-x1)*(y2-y1), float32. */
function area(b: ArrayLike<number>, i: number): number {
  const o = i * 4;
  return f32(f32(b[o + 2]! - b[o]!) * f32(b[o + 3]! - b[o + 1]!));
}

/**
 * Pairwise IoU, torchvision `box_iou(a, b)` in float32: inter / ((areaA + areaB) - inter),
 * with inter = clamp(min(x2) - max(x1), 0) * clamp(min(y2) - max(y1), 0).
 * @param a f32 [N*4]
 * @param b f32 [M*4]
 * @returns f32 [N*M], row i = box a_i against every b_j
 */
export function boxIou(a: ArrayLike<number>, b: ArrayLike<number>): Float32Array {
  const n = Math.floor(a.length / 4);
  const m = Math.floor(b.length / 4);
  const out = new Float32Array(n * m);
  const areaB = new Float64Array(m);
  for (let j = 0; j < m; j++) areaB[j] = area(b, j);
  for (let i = 0; i < n; i++) {
    const ax1 = a[i * 4]!, ay1 = a[i * 4 + 1]!, ax2 = a[i * 4 + 2]!, ay2 = a[i * 4 + 3]!;
    const areaA = area(a, i);
    const row = i * m;
    for (let j = 0; j < m; j++) {
      const o = j * 4;
      const w = f32(Math.min(ax2, b[o + 2]!) - Math.max(ax1, b[o]!));
      const h = f32(Math.min(ay2, b[o + 3]!) - Math.max(ay1, b[o + 1]!));
      const inter = f32((w > 0 ? w : 0) * (h > 0 ? h : 0));
      const union = f32(f32(areaA + areaB[j]!) - inter);
      out[row + j] = inter / union;
    }
  }
  return out;
}

/**
 * torchvision `encode_boxes(reference=gt, proposals=ref)` for one pair, float32 op order:
 * ex = x1 + 0.5*w; dx = (wx*(gx-ex))/ew; dw = ww*log(gw/ew). No clamping.
 * @param gt f32 [*4] target boxes, box gi
 * @param ref f32 [*4] reference boxes (anchors / proposals), box ri
 * @param w weights (wx, wy, ww, wh)
 * @param out receives 4 values at outOffset
 */
export function encodeBox(
  gt: ArrayLike<number>, gi: number, ref: ArrayLike<number>, ri: number,
  w: readonly number[], out: Float32Array | Float64Array, outOffset: number,
): void {
  const r = ri * 4;
  const g = gi * 4;
  const ew = f32(ref[r + 2]! - ref[r]!);
  const eh = f32(ref[r + 3]! - ref[r + 1]!);
  const ex = f32(ref[r]! + f32(0.5 * ew));
  const ey = f32(ref[r + 1]! + f32(0.5 * eh));
  const gw = f32(gt[g + 2]! - gt[g]!);
  const gh = f32(gt[g + 3]! - gt[g + 1]!);
  const gx = f32(gt[g]! + f32(0.5 * gw));
  const gy = f32(gt[g + 1]! + f32(0.5 * gh));
  out[outOffset] = f32(f32(f32(w[0]!) * f32(gx - ex)) / ew);
  out[outOffset + 1] = f32(f32(f32(w[1]!) * f32(gy - ey)) / eh);
  out[outOffset + 2] = f32(f32(w[2]!) * f32(Math.log(f32(gw / ew))));
  out[outOffset + 3] = f32(f32(w[3]!) * f32(Math.log(f32(gh / eh))));
}

/**
 * Encode every box of `gt` against the same-index box of `ref`.
 * @returns f32 [N*4]
 */
export function encodeBoxes(gt: ArrayLike<number>, ref: ArrayLike<number>, w: readonly number[]): Float32Array {
  const n = Math.floor(ref.length / 4);
  const out = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) encodeBox(gt, i, ref, i, w, out, i * 4);
  return out;
}

/** torchvision's default decode clamp, log(1000/16). */
export const BBOX_XFORM_CLIP = Math.log(1000 / 16);

/**
 * torchvision `BoxCoder.decode_single` for one set of 4 deltas per reference box, float32:
 * d/w, clamp dw,dh above at log(1000/16), ctr = d*size + ctr, size = exp(d)*size, box = ctr -/+ 0.5*size.
 * @param deltas f32 [N*4]
 * @param ref f32 [N*4]
 * @returns f32 [N*4]
 */
export function decodeBoxes(deltas: ArrayLike<number>, ref: ArrayLike<number>, w: readonly number[]): Float32Array {
  const n = Math.floor(ref.length / 4);
  const out = new Float32Array(n * 4);
  const clip = f32(BBOX_XFORM_CLIP);
  for (let i = 0; i < n; i++) {
    const o = i * 4;
    const width = f32(ref[o + 2]! - ref[o]!);
    const height = f32(ref[o + 3]! - ref[o + 1]!);
    const cx = f32(ref[o]! + f32(0.5 * width));
    const cy = f32(ref[o + 1]! + f32(0.5 * height));
    const dx = f32(deltas[o]! / w[0]!);
    const dy = f32(deltas[o + 1]! / w[1]!);
    const dw = Math.min(f32(deltas[o + 2]! / w[2]!), clip);
    const dh = Math.min(f32(deltas[o + 3]! / w[3]!), clip);
    const pcx = f32(f32(dx * width) + cx);
    const pcy = f32(f32(dy * height) + cy);
    const pw = f32(f32(Math.exp(dw)) * width);
    const ph = f32(f32(Math.exp(dh)) * height);
    const hw = f32(0.5 * pw);
    const hh = f32(0.5 * ph);
    out[o] = f32(pcx - hw);
    out[o + 1] = f32(pcy - hh);
    out[o + 2] = f32(pcx + hw);
    out[o + 3] = f32(pcy + hh);
  }
  return out;
}
