/**
 * Anchors of torchvision's AnchorGenerator (FPN, one size per level), regenerated bit-exactly
 * from the loss constants and the padded canvas size (docs/losses.md#anchors), and a check against the
 * graph's `anchors` output.
 */
import { f32, roundHalfEven } from './tensors.js';

/**
 * Cell anchors of one level, centred on 0, exactly as `AnchorGenerator.generate_anchors` in float32:
 * hr = sqrt(r), wr = 1/hr, w = wr*size, h = hr*size, round([-w, -h, w, h] / 2) half-to-even.
 * @returns f32 [ratios.length * 4], ratio order
 */
export function cellAnchors(size: number, ratios: readonly number[]): Float32Array {
  const out = new Float32Array(ratios.length * 4);
  const s = f32(size);
  ratios.forEach((r, i) => {
    const hr = f32(Math.sqrt(f32(r)));
    const wr = f32(1 / hr);
    const ws = f32(wr * s);
    const hs = f32(hr * s);
    out[i * 4] = roundHalfEven(f32(-ws / 2));
    out[i * 4 + 1] = roundHalfEven(f32(-hs / 2));
    out[i * 4 + 2] = roundHalfEven(f32(ws / 2));
    out[i * 4 + 3] = roundHalfEven(f32(hs / 2));
  });
  return out;
}

/** Per-level feature map size and stride for a padded canvas. */
export interface AnchorLevel {
  featH: number;
  featW: number;
  strideH: number;
  strideW: number;
  /** Index of the level's first anchor in the concatenated list. */
  offset: number;
  count: number;
}

/**
 * Feature sizes of the FPN levels: P2 = ceil(Hp/4), each next level ceil(prev/2) (stride-2 convs
 * and P6's kernel-1 stride-2 max-pool); stride = Hp // feat (integer division, as torchvision).
 */
export function anchorLevels(paddedH: number, paddedW: number, numLevels: number, perCell: number): AnchorLevel[] {
  const levels: AnchorLevel[] = [];
  let fh = Math.ceil(paddedH / 4);
  let fw = Math.ceil(paddedW / 4);
  let offset = 0;
  for (let l = 0; l < numLevels; l++) {
    if (l > 0) {
      fh = Math.ceil(fh / 2);
      fw = Math.ceil(fw / 2);
    }
    const count = fh * fw * perCell;
    levels.push({ featH: fh, featW: fw, strideH: Math.floor(paddedH / fh), strideW: Math.floor(paddedW / fw), offset, count });
    offset += count;
  }
  return levels;
}

/**
 * All anchors for a padded canvas Hp x Wp: level-major, then y, then x, then ratio
 * (index within a level (y*W + x)*R + a). Unclipped, in the resized frame.
 * @returns f32 [A*4]
 */
export function generateAnchors(
  paddedH: number, paddedW: number, sizes: readonly number[], ratios: readonly number[],
): Float32Array {
  const levels = anchorLevels(paddedH, paddedW, sizes.length, ratios.length);
  const last = levels[levels.length - 1];
  const out = new Float32Array(last ? (last.offset + last.count) * 4 : 0);
  const R = ratios.length;
  levels.forEach((lv, l) => {
    const cell = cellAnchors(sizes[l]!, ratios);
    let k = lv.offset * 4;
    for (let y = 0; y < lv.featH; y++) {
      const sy = y * lv.strideH;
      for (let x = 0; x < lv.featW; x++) {
        const sx = x * lv.strideW;
        for (let a = 0; a < R; a++) {
          out[k++] = f32(sx + cell[a * 4]!);
          out[k++] = f32(sy + cell[a * 4 + 1]!);
          out[k++] = f32(sx + cell[a * 4 + 2]!);
          out[k++] = f32(sy + cell[a * 4 + 3]!);
        }
      }
    }
  });
  return out;
}

/** Result of comparing regenerated anchors with the graph's. */
export interface AnchorCheck {
  equal: boolean;
  /** Max |graph - regenerated| (Infinity when the counts differ). */
  maxAbsDiff: number;
  /** First differing anchor index, or -1. */
  firstMismatch: number;
  graphCount: number;
  expectedCount: number;
}

/**
 * Compare the graph's `anchors` output (f32 [A*4]) with regenerated ones (bit-exact expected).
 */
export function checkAnchors(graph: Float32Array, expected: Float32Array): AnchorCheck {
  const graphCount = graph.length / 4;
  const expectedCount = expected.length / 4;
  if (graph.length !== expected.length) {
    return { equal: false, maxAbsDiff: Infinity, firstMismatch: Math.min(graphCount, expectedCount), graphCount, expectedCount };
  }
  let maxAbsDiff = 0;
  let firstMismatch = -1;
  for (let i = 0; i < graph.length; i++) {
    const d = Math.abs(graph[i]! - expected[i]!);
    if (d > 0 || Number.isNaN(d)) {
      if (firstMismatch < 0) firstMismatch = Math.floor(i / 4);
      maxAbsDiff = Math.max(maxAbsDiff, Number.isNaN(d) ? Infinity : d);
    }
  }
  return { equal: firstMismatch < 0, maxAbsDiff, firstMismatch, graphCount, expectedCount };
}
