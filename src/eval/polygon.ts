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
let vx = new Float64Array(64);
let vy = new Float64Array(64);
let columns = new Int32Array(1024);
let perColumn = new Int32Array(1024);
let runA = new Uint32Array(1024);
let runB = new Uint32Array(1024);

function growPositions(pos: Uint32Array, col: Int32Array): [Uint32Array<ArrayBuffer>, Int32Array<ArrayBuffer>] {
  const p = new Uint32Array(pos.length * 2), c = new Int32Array(pos.length * 2);
  p.set(pos);
  c.set(col);
  return [p, c];
}

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
 * Mirrors `maskApi.c: rleFrPoly`: the same upsampled boundary points (C `(int)` truncations
 * included) and the same column crossings, found without walking every point. A crossing is a pair
 * of consecutive points whose upsampled x differ, the smaller being 2 mod 5 (a pixel column's
 * centre); within an edge the pair's values do not depend on the walking direction, so an edge is
 * visited in its own (unflipped) parameter: for an x-major edge every 5th point, for a y-major edge
 * the few points where the rounded x steps (found by estimate, then checked with the C formula).
 * Pairs across edges are taken as the C code takes them. Throws RangeError if the walk would exceed
 * {@link MAX_POLYGON_STEPS} points. test/eval/polygon-walk.test.ts checks it point for point against
 * the straightforward walk. With `transient`, the counts are a view of an internal buffer, valid
 * until the next call (no allocation; the evaluation consumes them at once).
 */
export function frPoly(xy: ArrayLike<number>, h: number, w: number, transient = false): Uint32Array {
  const k = Math.floor(xy.length / 2);
  const hw = h * w;
  if (k === 0) return Uint32Array.of(hw);
  // 1. upsample the vertices, truncating toward zero like C's (int)
  if (vx.length < k + 1) {
    vx = new Float64Array(2 * (k + 1));
    vy = new Float64Array(2 * (k + 1));
  }
  const X = vx, Y = vy;
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

  // 2+3. column crossings of the boundary walk, mapped back to pixel space
  let pos = positions, col = columns;
  let np = 0;
  let cLo = w, cHi = -1; // range of the crossed pixel columns
  const wMax = w - 1;
  let pu = NaN, pv = 0; // last walked point of the previous edge (NaN: none yet)
  for (let j = 0; j < k; j++) {
    let xs = X[j]!, xe = X[j + 1]!, ys = Y[j]!, ye = Y[j + 1]!;
    const dx = Math.abs(xe - xs), dy = Math.abs(ys - ye);
    const xMajor = dx >= dy;
    const flip = (xMajor && xs > xe) || (!xMajor && ys > ye);
    if (flip) {
      let t = xs; xs = xe; xe = t;
      t = ys; ys = ye; ye = t;
    }
    const major = xMajor ? dx : dy;
    // dx = dy = 0 gives s = NaN: that point's v is NaN, as in C (never read: its neighbours share its u)
    const s = xMajor ? (ye - ys) / dx : (xe - xs) / dy;
    // the pair (last point of the previous edge, first point of this one), exactly as walked
    const tf = flip ? major : 0;
    const uf = xMajor ? tf + xs : Math.trunc(xs + s * tf + 0.5);
    const vf = xMajor ? Math.trunc(ys + s * tf + 0.5) : tf + ys;
    if (uf !== pu && pu === pu) {
      let xd = uf < pu ? uf : uf - 1;
      xd = (xd + 0.5) / SCALE - 0.5;
      if (Math.floor(xd) === xd && xd >= 0 && xd <= wMax) {
        const yu = vf < pv ? vf : pv;
        let yd = (yu + 0.5) / SCALE - 0.5;
        if (yd < 0) yd = 0;
        else if (yd > h) yd = h;
        if (np === pos.length) [pos, col] = growPositions(pos, col);
        pos[np] = xd * h + Math.ceil(yd);
        col[np++] = xd;
        if (xd < cLo) cLo = xd;
        if (xd > cHi) cHi = xd;
      }
    }
    // pairs (t, t+1) inside the edge, t in [0, major)
    if (xMajor) {
      if (dx > 0) {
        // u = xs + t; crossing when xs + t = 5x + 2 with x in [0, w-1]
        const tMin = xs < 2 ? 2 - xs : 0;
        let t = tMin + ((((2 - xs - tMin) % 5) + 5) % 5);
        const tEnd = Math.min(major - 1, 5 * wMax + 2 - xs);
        for (; t <= tEnd; t += 5) {
          const v0 = Math.trunc(ys + s * t + 0.5), v1 = Math.trunc(ys + s * (t + 1) + 0.5);
          const x = (xs + t - 2) / SCALE, yu = v0 < v1 ? v0 : v1;
          let yd = (yu + 0.5) / SCALE - 0.5;
          if (yd < 0) yd = 0;
          else if (yd > h) yd = h;
          if (np === pos.length) [pos, col] = growPositions(pos, col);
          pos[np] = x * h + Math.ceil(yd);
          col[np++] = x;
          if (x < cLo) cLo = x;
          if (x > cHi) cHi = x;
        }
      }
    } else if (dx > 0) {
      // u(t) = trunc(xs + s t + 0.5) is monotone and steps by at most 1: one pair per value m
      // between u(0) and u(dy), at the first t where u passes m; only m = 5x + 2 are crossings
      const u0 = Math.trunc(xs + 0.5), u1 = Math.trunc(xs + s * dy + 0.5);
      const up = u1 > u0;
      let mLo = up ? u0 : u1, mHi = (up ? u1 : u0) - 1;
      if (mLo < 2) mLo = 2;
      if (mHi > 5 * wMax + 2) mHi = 5 * wMax + 2;
      let m = mLo + ((((2 - mLo) % 5) + 5) % 5);
      for (; m <= mHi; m += 5) {
        // first t in [1, dy] with u(t) >= m + 1 (up) or u(t) <= m (down)
        let t = Math.ceil((m + 0.5 - xs) / s);
        if (!(t >= 1)) t = 1;
        else if (t > dy) t = dy;
        if (up) {
          while (t > 1 && Math.trunc(xs + s * (t - 1) + 0.5) >= m + 1) t--;
          while (Math.trunc(xs + s * t + 0.5) < m + 1) t++;
        } else {
          while (t > 1 && Math.trunc(xs + s * (t - 1) + 0.5) <= m) t--;
          while (Math.trunc(xs + s * t + 0.5) > m) t++;
        }
        const x = (m - 2) / SCALE, yu = t - 1 + ys;
        let yd = (yu + 0.5) / SCALE - 0.5;
        if (yd < 0) yd = 0;
        else if (yd > h) yd = h;
        if (np === pos.length) [pos, col] = growPositions(pos, col);
        pos[np] = x * h + Math.ceil(yd);
        col[np++] = x;
        if (x < cLo) cLo = x;
        if (x > cHi) cHi = x;
      }
    }
    const tl = flip ? 0 : major;
    pu = xMajor ? tl + xs : Math.trunc(xs + s * tl + 0.5);
    pv = xMajor ? Math.trunc(ys + s * tl + 0.5) : tl + ys;
  }
  if (pos.length <= 1 << 22) {
    positions = pos;
    columns = col;
  }

  // 4. positions → runs: sort (by column, then within each column), sentinel, differences, fold
  // zero differences
  if (runA.length < np + 1) {
    runA = new Uint32Array(2 * (np + 1));
    runB = new Uint32Array(2 * (np + 1));
  }
  const a = runA.subarray(0, np + 1);
  if (np > 0) {
    const nc = cHi - cLo + 2;
    if (perColumn.length < nc) perColumn = new Int32Array(2 * nc);
    const cnt = perColumn;
    cnt.fill(0, 0, nc);
    for (let i = 0; i < np; i++) cnt[col[i]! - cLo + 1]!++;
    for (let c = 1; c < nc; c++) cnt[c]! += cnt[c - 1]!;
    for (let i = 0; i < np; i++) a[cnt[col[i]! - cLo]!++] = pos[i]!;
    // cnt[c] is now the end of column c's slice: insertion sort inside each (usually 2 entries)
    let lo = 0;
    for (let c = 0; c < nc - 1; c++) {
      const hi = cnt[c]!;
      for (let i = lo + 1; i < hi; i++) {
        const v = a[i]!;
        let q = i - 1;
        while (q >= lo && a[q]! > v) {
          a[q + 1] = a[q]!;
          q--;
        }
        a[q + 1] = v;
      }
      lo = hi;
    }
    if (perColumn.length > 1 << 22) perColumn = new Int32Array(1024);
  }
  a[np] = hw;
  let p = 0;
  for (let j = 0; j < a.length; j++) {
    const t = a[j]!;
    a[j] = t - p;
    p = t;
  }
  const b = runB;
  let m = 0, j = 0;
  b[m++] = a[j++]!;
  while (j < a.length) {
    if (a[j]! > 0) b[m++] = a[j++]!;
    else {
      j++;
      if (j < a.length) b[m - 1] = b[m - 1]! + a[j++]!;
    }
  }
  if (transient && runB.length <= 1 << 22) return b.subarray(0, m);
  const out = b.slice(0, m);
  if (runA.length > 1 << 22) {
    runA = new Uint32Array(1024);
    runB = new Uint32Array(1024);
  }
  return out;
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
