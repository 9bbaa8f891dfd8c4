/**
 * Single-channel RoIAlign of torchvision 0.14's CPU kernel (ops/roi_align.py, csrc roi_align_kernel),
 * float32 op by op, for the mask targets of `project_masks_on_boxes`: spatial_scale 1,
 * sampling_ratio -1 (adaptive: ceil(roi_size / out) points per bin), aligned=False
 * (RoI size clamped to >= 1, no -0.5 shift). Bilinear weights are separable, so the per-axis
 * sample positions and weights are precomputed once per RoI.
 */
import { f32 } from './tensors.js';

/** Per-axis sample table: for sample k, low/high source index and weights (lo, hi); valid=0 outside. */
interface AxisSamples {
  lo: Int32Array;
  hi: Int32Array;
  wLo: Float32Array;
  wHi: Float32Array;
  grid: number;
}

/**
 * Sample positions along one axis: p = (start + bin*i) + ((s + 0.5) * bin) / grid for bin i and
 * sub-sample s, then torch's `bilinear_interpolate` clamping: outside [-1, size] -> weight 0;
 * p <= 0 -> 0; low = trunc(p); low >= size-1 -> low = high = size-1 and p = low.
 */
function axisSamples(start: number, end: number, size: number, out: number, samplingRatio: number, aligned: boolean): AxisSamples {
  const offset = aligned ? 0.5 : 0;
  const s0 = f32(start - offset);
  let len = f32(f32(end - offset) - s0);
  if (!aligned) len = Math.max(len, 1);
  const bin = f32(len / out);
  const grid = samplingRatio > 0 ? samplingRatio : Math.ceil(f32(len / out));
  const n = out * grid;
  const lo = new Int32Array(n);
  const hi = new Int32Array(n);
  const wLo = new Float32Array(n);
  const wHi = new Float32Array(n);
  for (let i = 0; i < out; i++) {
    const base = f32(s0 + f32(i * bin));
    for (let s = 0; s < grid; s++) {
      const k = i * grid + s;
      let p = f32(base + f32(f32(f32(s + 0.5) * bin) / grid));
      if (p < -1 || p > size) {
        lo[k] = 0;
        hi[k] = 0;
        wLo[k] = 0;
        wHi[k] = 0;
        continue;
      }
      if (p <= 0) p = 0;
      let l = Math.trunc(p);
      let h: number;
      if (l >= size - 1) {
        l = size - 1;
        h = l;
        p = l;
      } else {
        h = l + 1;
      }
      const frac = f32(p - l);
      lo[k] = l;
      hi[k] = h;
      wLo[k] = f32(1 - frac);
      wHi[k] = frac;
    }
  }
  return { lo, hi, wLo, wHi, grid };
}

/**
 * RoIAlign of one box over one plane.
 * @param plane f32 [height*width] row-major
 * @param box xyxy in plane pixels (spatial scale 1), read at box[o..o+3]
 * @param out output side (28 for masks)
 * @param samplingRatio > 0 fixed points per bin, <= 0 adaptive
 * @returns f32 [out*out]
 */
export function roiAlign(
  plane: Float32Array, height: number, width: number, box: ArrayLike<number>, o: number,
  out: number, samplingRatio = -1, aligned = false,
): Float32Array {
  const ys = axisSamples(box[o + 1]!, box[o + 3]!, height, out, samplingRatio, aligned);
  const xs = axisSamples(box[o]!, box[o + 2]!, width, out, samplingRatio, aligned);
  const count = Math.max(ys.grid * xs.grid, 1);
  const res = new Float32Array(out * out);
  for (let ph = 0; ph < out; ph++) {
    for (let pw = 0; pw < out; pw++) {
      let acc = 0;
      for (let iy = 0; iy < ys.grid; iy++) {
        const ky = ph * ys.grid + iy;
        const hy = ys.wLo[ky]!, ly = ys.wHi[ky]!;
        const rowLo = ys.lo[ky]! * width, rowHi = ys.hi[ky]! * width;
        for (let ix = 0; ix < xs.grid; ix++) {
          const kx = pw * xs.grid + ix;
          const hx = xs.wLo[kx]!, lx = xs.wHi[kx]!;
          const xl = xs.lo[kx]!, xh = xs.hi[kx]!;
          // torch: output_val += w1*v1 + w2*v2 + w3*v3 + w4*v4 (left to right, float32)
          const t1 = f32(f32(hy * hx) * plane[rowLo + xl]!);
          const t2 = f32(f32(hy * lx) * plane[rowLo + xh]!);
          const t3 = f32(f32(ly * hx) * plane[rowHi + xl]!);
          const t4 = f32(f32(ly * lx) * plane[rowHi + xh]!);
          acc = f32(acc + f32(f32(f32(t1 + t2) + t3) + t4));
        }
      }
      res[ph * out + pw] = acc / count;
    }
  }
  return res;
}
