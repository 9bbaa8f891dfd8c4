/**
 * @file ④ Paste masks (pure): the un-pasted M×M mask probabilities of one detection → its binary
 * mask in image coordinates, computed exactly like torchvision 0.14's eager
 * `paste_masks_in_image(masks, boxes, (H, W), padding=1)` followed by `> 0.5`:
 *
 *   1. expand_masks: zero-pad M×M to (M+2)×(M+2); scale = (M+2)/M.
 *   2. expand_boxes: centre ± half-size·scale, in float32, then `.to(int64)` (truncation toward 0).
 *   3. paste_mask_in_image: w = max(int(x1 − x0 + 1), 1), h likewise; F.interpolate(bilinear,
 *      align_corners=False) of the padded mask to (h, w); copy the part inside the image.
 *
 * Arithmetic follows ATen's CPU kernel as compiled in torch 1.13 (UpSampleKernel.cpp:
 * area_pixel_compute_source_index, compute_source_index_and_lambda, and
 * cpu_upsample_linear_channels_last, which a [1,1,M+2,M+2] mask takes), including where the
 * compiler fuses multiply-adds; test/pipeline/paste-masks.test.ts checks bit-exact agreement with
 * torch on golden cases (test/pipeline/fixtures/make-paste-golden.py).
 * @see torchvision/models/detection/roi_heads.py (expand_boxes, expand_masks, paste_mask_in_image)
 *
 * Only the box region is touched: callers keep one H×W buffer per request, paste, encode
 * (RLE / polygon / overlay), then clear the region with {@link clearRegion}.
 */

const f = Math.fround;

/** Integer box of the pasted mask, torchvision's `boxes` after expand_boxes(...).to(int64). */
export interface PasteBox {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** Region of the image actually written (half-open [x0, x1) × [y0, y1)); empty when x1 <= x0. */
export interface PasteRegion {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/**
 * torchvision `expand_boxes(boxes, (M + 2·padding) / M).to(torch.int64)` for one xyxy box.
 * `scale` is a Python float multiplied into a float32 tensor, i.e. rounded to float32 first.
 */
export function expandBox(x1: number, y1: number, x2: number, y2: number, maskSize: number, padding = 1): PasteBox {
  const scale = f((maskSize + 2 * padding) / maskSize);
  const bx1 = f(x1), by1 = f(y1), bx2 = f(x2), by2 = f(y2);
  const wHalf = f(f(f(bx2 - bx1) * 0.5) * scale);
  const hHalf = f(f(f(by2 - by1) * 0.5) * scale);
  const xc = f(f(bx2 + bx1) * 0.5);
  const yc = f(f(by2 + by1) * 0.5);
  return {
    x0: Math.trunc(f(xc - wHalf)),
    y0: Math.trunc(f(yc - hHalf)),
    x1: Math.trunc(f(xc + wHalf)),
    y1: Math.trunc(f(yc + hHalf)),
  };
}

/** Per-output-index source indices and weights of 1-D linear interpolation (align_corners=False). */
export interface AxisWeights {
  i0: Int32Array;
  i1: Int32Array;
  l0: Float32Array;
  l1: Float32Array;
}

/**
 * ATen `HelperInterpLinear::compute_indices_weights` for one axis: scale = float32(in/out);
 * src = max(scale·(i + 0.5) − 0.5, 0) unrounded (FMA); i0 = trunc(src); i1 = i0 + (i0 < in−1);
 * l1 = float32(src − i0); l0 = float32(1 − l1). When in == out the copy is exact (l0 = 1).
 */
export function axisWeights(inSize: number, outSize: number): AxisWeights {
  const w: AxisWeights = {
    i0: new Int32Array(outSize), i1: new Int32Array(outSize), l0: new Float32Array(outSize), l1: new Float32Array(outSize),
  };
  if (inSize === outSize) {
    for (let i = 0; i < outSize; i++) { w.i0[i] = i; w.i1[i] = i; w.l0[i] = 1; w.l1[i] = 0; }
    return w;
  }
  const scale = f(inSize / outSize);
  for (let i = 0; i < outSize; i++) {
    // ATen's AVX2 build (GCC, -mfma) contracts `scale * (i + 0.5) - 0.5` and the later
    // `real_input_index - input_index0` into fused multiply-adds, so the source index is never
    // rounded to float32: both the truncation and lambda1 see the exact value (a double holds it:
    // scale has 24 significant bits, i + 0.5 at most 33). Verified bit-exact against torch 1.13.
    let src = scale * (i + 0.5) - 0.5;
    if (src < 0) src = 0;
    const i0 = Math.trunc(src);
    const l1 = Math.min(Math.max(f(src - i0), 0), 1);
    w.i0[i] = i0;
    w.i1[i] = i0 + (i0 < inSize - 1 ? 1 : 0);
    w.l1[i] = l1;
    w.l0[i] = f(1 - l1);
  }
  return w;
}

/**
 * Pastes one mask into `out` (row-major H×W, 1 = foreground) and returns the written region.
 * Pixels outside the region are not touched.
 * @param probs M×M float32 probabilities (row-major), e.g. det_masks[d, 0].
 * @param box detection box xyxy in image pixels (float).
 * @param threshold foreground when the pasted probability is > threshold (torchvision users: 0.5).
 */
export function pasteMask(
  probs: Float32Array, maskSize: number, box: readonly [number, number, number, number],
  out: Uint8Array, imageWidth: number, imageHeight: number, threshold = 0.5,
): PasteRegion {
  const M = maskSize;
  const P = M + 2; // padded size
  if (probs.length < M * M) throw new RangeError(`probs has ${probs.length} values, expected ${M * M}`);
  if (out.length < imageWidth * imageHeight) throw new RangeError('out is smaller than the image');
  const b = expandBox(box[0], box[1], box[2], box[3], M, 1);
  const w = Math.max(b.x1 - b.x0 + 1, 1);
  const h = Math.max(b.y1 - b.y0 + 1, 1);
  const x0 = Math.max(b.x0, 0);
  const x1 = Math.min(b.x1 + 1, imageWidth);
  const y0 = Math.max(b.y0, 0);
  const y1 = Math.min(b.y1 + 1, imageHeight);
  const region = { x0, y0, x1, y1 };
  if (x1 <= x0 || y1 <= y0) return region;
  // Padded mask value at (py, px): zero border of width 1 around probs.
  const pad = new Float32Array(P * P);
  for (let y = 0; y < M; y++) pad.set(probs.subarray(y * M, y * M + M), (y + 1) * P + 1);
  const wy = axisWeights(P, h);
  const wx = axisWeights(P, w);
  const thr = f(threshold);
  for (let y = y0; y < y1; y++) {
    const oy = y - b.y0; // row in the h×w resized mask
    const r0 = wy.i0[oy]! * P, r1 = wy.i1[oy]! * P;
    const h0 = wy.l0[oy]!, h1 = wy.l1[oy]!;
    const rowOut = y * imageWidth;
    for (let x = x0; x < x1; x++) {
      const ox = x - b.x0;
      const c0 = wx.i0[ox]!, c1 = wx.i1[ox]!;
      const w0 = wx.l0[ox]!, w1 = wx.l1[ox]!;
      // ATen's channels-last kernel (a [1,1,30,30] mask is channels-last contiguous):
      // h0*w0*i00 + h0*w1*i01 + h1*w0*i10 + h1*w1*i11 with float32 weight products; the compiled
      // kernel's result equals the exact sum of the four products rounded once to float32.
      const v = f(f(h0 * w0) * pad[r0 + c0]! + f(h0 * w1) * pad[r0 + c1]!
        + f(h1 * w0) * pad[r1 + c0]! + f(h1 * w1) * pad[r1 + c1]!);
      out[rowOut + x] = v > thr ? 1 : 0;
    }
  }
  return region;
}

/** Zeroes a region written by {@link pasteMask} so the buffer can be reused. */
export function clearRegion(out: Uint8Array, imageWidth: number, r: PasteRegion): void {
  if (r.x1 <= r.x0) return;
  for (let y = r.y0; y < r.y1; y++) out.fill(0, y * imageWidth + r.x0, y * imageWidth + r.x1);
}
