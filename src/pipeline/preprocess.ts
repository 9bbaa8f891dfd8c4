/**
 * @file ② Preprocess (pure): decoded RGB HWC uint8 → the graph's `image` input, float32 CHW in
 * [0, 1] at original resolution (resize and normalisation happen inside the graph, exactly as
 * torchvision's GeneralizedRCNNTransform does), plus the empty `gt_boxes` [0, 4] of /predict.
 *
 * Used by src/pipeline/predict.ts and the warm-up in src/models/loader.ts.
 */
import type { Tensor, TensorMap } from './session-types.js';

/**
 * HWC RGB uint8 → CHW float32 / 255 (torchvision `to_tensor`: `img.float().div(255)`, float32
 * division, so values are bit-identical).
 * @param rgb width*height*3 bytes, row-major.
 * @returns float32 [3, height, width].
 */
export function toChwFloat(rgb: Uint8Array, width: number, height: number): Tensor {
  const n = width * height;
  if (rgb.length !== n * 3) throw new RangeError(`rgb has ${rgb.length} bytes, expected ${n * 3} for ${width}x${height}`);
  const out = new Float32Array(3 * n);
  // Lookup table: the 256 possible float32 values of v / 255.
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = v / 255;
  for (let i = 0, p = 0; i < n; i++, p += 3) {
    out[i] = lut[rgb[p]!]!;
    out[n + i] = lut[rgb[p + 1]!]!;
    out[2 * n + i] = lut[rgb[p + 2]!]!;
  }
  return { type: 'float32', data: out, dims: [3, height, width] };
}

/** Names of the graph inputs, from the manifest. */
export interface InputNames {
  image: string;
  /** Present when the graph has a ground-truth boxes input (loss-capable graphs). */
  gtBoxes?: string;
}

/**
 * Builds the feeds of one run.
 * @param gtBoxes xyxy float32 [G*4] in original pixels; omitted → G = 0 (prediction).
 */
export function buildFeeds(image: Tensor, names: InputNames, gtBoxes?: Float32Array): TensorMap {
  const feeds: TensorMap = { [names.image]: image };
  if (names.gtBoxes !== undefined) {
    const boxes = gtBoxes ?? new Float32Array(0);
    feeds[names.gtBoxes] = { type: 'float32', data: boxes, dims: [boxes.length / 4, 4] };
  }
  return feeds;
}

/** A synthetic image for warm-up runs: a mid-grey square on a dark background. */
export function warmupImage(width = 256, height = 256): Tensor {
  const rgb = new Uint8Array(width * height * 3).fill(32);
  for (let y = height >> 2; y < (3 * height) >> 2; y++) {
    for (let x = width >> 2; x < (3 * width) >> 2; x++) rgb.fill(200, (y * width + x) * 3, (y * width + x) * 3 + 3);
  }
  return toChwFloat(rgb, width, height);
}
