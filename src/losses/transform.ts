/**
 * What `GeneralizedRCNNTransform` does to the ground truth (docs/losses.md#transform): the eager-exact
 * resized size, GT boxes scaled with the integer-size ratios, and GT masks resized with
 * torch's `interpolate(mode='nearest')` index rule.
 */
import { f32 } from './tensors.js';

/**
 * Eager torchvision resized size. scale = min(min_size * f32(1/min(H,W)), f32(max_size * f32(1/max(H,W))))
 * in float32 (torch evaluates `python_float / tensor` as `reciprocal(tensor) * python_float`),
 * then h' = floor(H * scale) in float64 (`recompute_scale_factor=True`).
 * @returns [h', w']
 */
export function resizedSize(H: number, W: number, minSize: number, maxSize: number): [number, number] {
  const sMin = f32(f32(1 / Math.min(H, W)) * f32(minSize));
  const sMax = f32(f32(1 / Math.max(H, W)) * f32(maxSize));
  const scale = Math.min(sMin, sMax);
  return [Math.floor(H * scale), Math.floor(W * scale)];
}

/**
 * `transform.resize_boxes`: x * f32(w'/W), y * f32(h'/H), float32, no clipping.
 * @param boxes f32 [G*4] original pixels
 * @returns f32 [G*4] resized frame
 */
export function scaleBoxes(boxes: ArrayLike<number>, H: number, W: number, h: number, w: number): Float32Array {
  const rh = f32(f32(h) / f32(H));
  const rw = f32(f32(w) / f32(W));
  const out = new Float32Array(boxes.length);
  for (let i = 0; i + 3 < boxes.length; i += 4) {
    out[i] = boxes[i]! * rw;
    out[i + 1] = boxes[i + 1]! * rh;
    out[i + 2] = boxes[i + 2]! * rw;
    out[i + 3] = boxes[i + 3]! * rh;
  }
  return out;
}

/**
 * Source index of torch's nearest interpolation (aten `nearest_idx`, no explicit scale):
 * src = dst if out == in; dst >> 1 if out == 2*in; else min(floor(f32(dst * f32(in/out))), in - 1).
 */
export function nearestSourceIndex(dst: number, inSize: number, outSize: number): number {
  if (outSize === inSize) return dst;
  if (outSize === 2 * inSize) return dst >> 1;
  const scale = f32(inSize / outSize);
  return Math.min(Math.floor(f32(dst * scale)), inSize - 1);
}

/** All source indices for one axis. @returns Int32Array [outSize] */
export function nearestIndices(inSize: number, outSize: number): Int32Array {
  const idx = new Int32Array(outSize);
  for (let d = 0; d < outSize; d++) idx[d] = nearestSourceIndex(d, inSize, outSize);
  return idx;
}

/**
 * Resize a 0/1 mask H x W to h x w with the nearest rule, as float32 (the plane RoIAlign reads).
 * @param mask u8 [H*W] row-major
 * @returns f32 [h*w]
 */
export function resizeMaskNearest(mask: Uint8Array, H: number, W: number, h: number, w: number): Float32Array {
  const ys = nearestIndices(H, h);
  const xs = nearestIndices(W, w);
  const out = new Float32Array(h * w);
  for (let y = 0; y < h; y++) {
    const src = ys[y]! * W;
    const row = y * w;
    for (let x = 0; x < w; x++) out[row + x] = mask[src + xs[x]!]!;
  }
  return out;
}
