/**
 * @file Polygon → RLE rasterization, an exact port of pycocotools' `maskApi.c: rleFrPoly`
 * (docs/evaluation.md#polygons), including its C `(int)` truncations, its 5× upsampled boundary walk and
 * its quirky run construction. The evaluation's GT polygons (and detections given as boxes or polygons) go
 * through here, so any deviation moves segm AP. Re-exported by `rle.ts`.
 */

/** Upper bound on boundary points walked for one polygon (pycocotools would allocate them all). */
export const MAX_POLYGON_STEPS = 50_000_000;

/** Upsampling factor of `rleFrPoly`. */
const SCALE = 5;

let positions = new Uint32Array(1024);

/** Number of boundary points `rleFrPoly` walks for polygon `xy` (its allocation size `m`). */
export function polygonSteps(xy: ArrayLike<number>): number {
  const k = Math.floor(xy.length / 2);
  let steps = 0;
  for (let j = 0; j < k; j++) {
    const n = (j + 1) % k;
    const dx = Math.trunc(SCALE * xy[2 * n]! + 0.5) - Math.trunc(SCALE * xy[2 * j]! + 0.5);
    const dy = Math.trunc(SCALE * xy[2 * n + 1]! + 0.5) - Math.trunc(SCALE * xy[2 * j + 1]! + 0.5);
    steps += Math.max(Math.abs(dx), Math.abs(dy)) + 1;
  }
  return steps;
}

/**
 * Rasterize one polygon `[x0, y0, x1, y1, ...]` (pixel coordinates, doubles) into an `h×w` mask and
 * return its RLE counts. An odd trailing number is ignored, as `int(len(p)/2)` does in `_mask.pyx`.
 * The counts may be non-canonical (as pycocotools'); they always sum to h*w.
 *
 * Mirrors `maskApi.c: rleFrPoly`. The boundary points are streamed instead of stored, so memory is
 * bounded by the number of column crossings. Throws RangeError if the walk would exceed
 * {@link MAX_POLYGON_STEPS} points.
 */
export function frPoly(xy: ArrayLike<number>, h: number, w: number): Uint32Array {
  const k = Math.floor(xy.length / 2);
  const hw = h * w;
  if (k === 0) return Uint32Array.of(hw);
  // 1. upsample the vertices, truncating toward zero like C's (int)
  const X = new Float64Array(k + 1), Y = new Float64Array(k + 1);
  for (let j = 0; j < k; j++) {
    X[j] = Math.trunc(SCALE * xy[2 * j]! + 0.5);
    Y[j] = Math.trunc(SCALE * xy[2 * j + 1]! + 0.5);
  }
  X[k] = X[0]!;
  Y[k] = Y[0]!;
  let steps = 0;
  for (let j = 0; j < k; j++) {
    steps += Math.max(Math.abs(X[j]! - X[j + 1]!), Math.abs(Y[j]! - Y[j + 1]!)) + 1;
  }
  if (!(steps <= MAX_POLYGON_STEPS)) throw new RangeError(`polygon too large to rasterize (${steps} boundary points)`);

  // 2+3. walk every edge densely; keep the x-transitions mapped back to pixel space. The transition
  // test is written out in both loops (a shared closure would keep the state in a heap context).
  let pos = positions;
  let np = 0;
  let pu = NaN, pv = 0; // previous point (NaN: none yet)
  const wMax = w - 1;
  for (let j = 0; j < k; j++) {
    let xs = X[j]!, xe = X[j + 1]!, ys = Y[j]!, ye = Y[j + 1]!;
    const dx = Math.abs(xe - xs), dy = Math.abs(ys - ye);
    const flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) {
      let t = xs; xs = xe; xe = t;
      t = ys; ys = ye; ye = t;
    }
    const major = dx >= dy ? dx : dy;
    // dx = dy = 0 gives s = NaN: that point's v is never read (its neighbours share its u)
    const s = dx >= dy ? (ye - ys) / dx : (xe - xs) / dy;
    for (let d = 0; d <= major; d++) {
      const t = flip ? major - d : d;
      let u: number, v: number;
      if (dx >= dy) {
        u = t + xs;
        v = Math.trunc(ys + s * t + 0.5);
      } else {
        u = Math.trunc(xs + s * t + 0.5);
        v = t + ys;
      }
      if (u !== pu && pu === pu) {
        let xd = u < pu ? u : u - 1;
        xd = (xd + 0.5) / SCALE - 0.5;
        if (Math.floor(xd) === xd && xd >= 0 && xd <= wMax) {
          let yd = v < pv ? v : pv;
          yd = (yd + 0.5) / SCALE - 0.5;
          if (yd < 0) yd = 0;
          else if (yd > h) yd = h;
          yd = Math.ceil(yd);
          if (np === pos.length) {
            const bigger = new Uint32Array(pos.length * 2);
            bigger.set(pos);
            pos = bigger;
          }
          pos[np++] = xd * h + yd;
        }
      }
      pu = u;
      pv = v;
    }
  }
  if (pos.length <= 1 << 22) positions = pos;

  // 4. positions → runs: sentinel, sort, differences, fold zero differences
  const a = new Uint32Array(np + 1);
  a.set(pos.subarray(0, np));
  a[np] = hw;
  a.sort();
  let p = 0;
  for (let j = 0; j < a.length; j++) {
    const t = a[j]!;
    a[j] = t - p;
    p = t;
  }
  const b = new Uint32Array(a.length);
  let m = 0, j = 0;
  b[m++] = a[j++]!;
  while (j < a.length) {
    if (a[j]! > 0) b[m++] = a[j++]!;
    else {
      j++;
      if (j < a.length) b[m - 1] = b[m - 1]! + a[j++]!;
    }
  }
  return b.slice(0, m);
}

/**
 * RLE counts of a box `[x, y, w, h]` rasterized as the polygon `[x,y, x,y+h, x+w,y+h, x+w,y]`.
 * Mirrors `maskApi.c: rleFrBbox` (and `loadRes`' box polygon for results without segmentation).
 */
export function frBbox(bb: ArrayLike<number>, h: number, w: number): Uint32Array {
  const xs = bb[0]!, xe = xs + bb[2]!;
  const ys = bb[1]!, ye = ys + bb[3]!;
  return frPoly([xs, ys, xs, ye, xe, ye, xe, ys], h, w);
}
