/**
 * @file Run-length encoded binary masks, byte-compatible with pycocotools (`common/maskApi.c` and
 * `_mask.pyx`, ppwwyyxx/cocoapi v2.0.11). Used by the COCO segm evaluation, by the loaders that
 * validate user RLE, and by the pipeline's postprocess (mask → RLE string for /predict).
 *
 * Layout (docs/evaluation.md#rle): an `h×w` mask is enumerated **column-major** (pixel (x, y) is at
 * `x*h + y`); `counts` alternate runs of 0s and 1s, starting with 0s (so the first count may be 0),
 * summing to h*w. Arrays handed to and returned by this module are `Uint32Array` counts, like
 * pycocotools' `uint*`.
 */

import { frPoly } from './polygon.js';

export { frBbox, frPoly, MAX_POLYGON_STEPS } from './polygon.js';

/** A binary mask as pycocotools' `RLE` struct: height, width and run lengths. */
export interface Rle {
  h: number;
  w: number;
  counts: Uint32Array;
}

/** Reused output buffer for the encoders (grown on demand, kept up to 4M counts). */
let scratch = new Uint32Array(4096);

function grow(a: Uint32Array): Uint32Array<ArrayBuffer> {
  const b = new Uint32Array(a.length * 2);
  b.set(a);
  if (b.length <= 1 << 22) scratch = b;
  return b;
}

/**
 * RLE counts of a **row-major** `h×w` binary mask (`mask[y*w + x]`, nonzero = foreground), in
 * pycocotools' column-major run order: the same counts `pycocotools.mask.encode(np.asfortranarray(m))`
 * gives. Mirrors `maskApi.c: rleEncode`.
 */
export function encodeRowMajor(mask: Uint8Array, h: number, w: number): Uint32Array {
  return encodeRowMajorRegion(mask, h, w, 0, 0, w, h);
}

/**
 * `encodeRowMajor` for a mask known to be 0 outside the half-open rectangle `[x0, x1) x [y0, y1)`
 * (a pasted detection: its region): the same counts, reading only the rectangle. The columns left
 * and right of it and the rows above and below are runs of zeros added in one step, so a 100x100
 * detection in a 640x480 image reads 10,000 pixels instead of 307,200, in cache order per column.
 */
export function encodeRowMajorRegion(
  mask: Uint8Array, h: number, w: number, x0: number, y0: number, x1: number, y1: number,
): Uint32Array {
  checkSize(h, w);
  if (mask.length < h * w) throw new RangeError(`mask has ${mask.length} pixels, expected h*w = ${h * w}`);
  const cx0 = Math.max(0, Math.min(w, Math.trunc(x0))), cx1 = Math.max(cx0, Math.min(w, Math.trunc(x1)));
  const cy0 = Math.max(0, Math.min(h, Math.trunc(y0))), cy1 = Math.max(cy0, Math.min(h, Math.trunc(y1)));
  let out = scratch;
  let k = 0, p = 0, c = cx0 * h; // the columns before the region: zeros, and p starts at 0
  const above = cy0, below = h - cy1;
  for (let x = cx0; x < cx1; x++) {
    if (above > 0) {
      if (p !== 0) { if (k === out.length) out = grow(out); out[k++] = c; c = 0; p = 0; }
      c += above;
    }
    for (let y = cy0, i = cy0 * w + x; y < cy1; y++, i += w) {
      const v = mask[i] !== 0 ? 1 : 0;
      if (v !== p) {
        if (k === out.length) out = grow(out);
        out[k++] = c;
        c = 0;
        p = v;
      }
      c++;
    }
    if (below > 0) {
      if (p !== 0) { if (k === out.length) out = grow(out); out[k++] = c; c = 0; p = 0; }
      c += below;
    }
  }
  const after = (w - cx1) * h;
  if (after > 0 && p !== 0) { if (k === out.length) out = grow(out); out[k++] = c; c = 0; p = 0; }
  c += after;
  if (k === out.length) out = grow(out);
  out[k++] = c;
  return out.slice(0, k);
}

/** RLE counts of a column-major mask (`mask[x*h + y]`), i.e. `maskApi.c: rleEncode` on Fortran data. */
export function encodeColumnMajor(mask: Uint8Array, h: number, w: number): Uint32Array {
  checkSize(h, w);
  const n = h * w;
  if (mask.length < n) throw new RangeError(`mask has ${mask.length} pixels, expected h*w = ${n}`);
  let out = scratch;
  let k = 0, p = 0, c = 0;
  for (let i = 0; i < n; i++) {
    const v = mask[i] !== 0 ? 1 : 0;
    if (v !== p) {
      if (k === out.length) out = grow(out);
      out[k++] = c;
      c = 0;
      p = v;
    }
    c++;
  }
  if (k === out.length) out = grow(out);
  out[k++] = c;
  return out.slice(0, k);
}

function checkSize(h: number, w: number): void {
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 0 || w < 0 || h * w > 0xffffffff) {
    throw new RangeError(`invalid mask size ${h}x${w}`);
  }
}

/**
 * Decode counts to a **row-major** `h×w` mask of 0/1 bytes. Throws RangeError if the runs overrun h*w
 * (the fork's `rleDecode` bounds check). Mirrors `maskApi.c: rleDecode` + transpose.
 */
export function decodeToRowMajor(counts: ArrayLike<number>, h: number, w: number): Uint8Array {
  checkSize(h, w);
  const n = h * w;
  const out = new Uint8Array(n);
  let pos = 0;
  for (let j = 0; j < counts.length; j++) {
    const c = counts[j]!;
    if (pos + c > n) throw new RangeError(`RLE counts overrun h*w = ${n}`);
    if (j & 1) {
      let x = Math.floor(pos / h), y = pos - x * h;
      for (let r = 0; r < c; r++) {
        out[y * w + x] = 1;
        if (++y === h) { y = 0; x++; }
      }
    }
    pos += c;
  }
  return out;
}

/** Sum of all counts (must equal h*w for a valid RLE). */
export function countsSum(counts: ArrayLike<number>): number {
  let s = 0;
  for (let j = 0; j < counts.length; j++) s += counts[j]!;
  return s;
}

/** Foreground pixel count: the sum of the odd-position counts. Mirrors `maskApi.c: rleArea`. */
export function rleArea(counts: ArrayLike<number>): number {
  let a = 0;
  for (let j = 1; j < counts.length; j += 2) a += counts[j]!;
  return a;
}

/**
 * Bounding box `[x, y, w, h]` of the foreground, exactly as the fork's fixed `maskApi.c: rleToBbox`
 * (docs/evaluation.md#rle): a run spanning columns widens y to `[0, h-1]`; no counts pair gives
 * `[0,0,0,0]`.
 * Quirk kept: a non-canonical all-background RLE with ≥ 2 counts yields pycocotools' unsigned
 * wrap-around widths.
 */
export function rleToBbox(counts: ArrayLike<number>, h: number, w: number): [number, number, number, number] {
  const m = counts.length - (counts.length % 2);
  if (m === 0) return [0, 0, 0, 0];
  let xs = w >>> 0, ys = h >>> 0, xe = 0, ye = 0, cc = 0;
  for (let j = 0; j < m; j++) {
    const start = cc;
    cc = (cc + counts[j]!) >>> 0;
    if ((j & 1) === 0 || counts[j] === 0) continue;
    const yStart = start % h, xStart = (start - yStart) / h;
    const last = (cc - 1) >>> 0;
    const yEnd = last % h, xEnd = (last - yEnd) / h;
    if (xStart < xs) xs = xStart;
    if (xEnd > xe) xe = xEnd;
    if (xStart < xEnd) {
      ys = 0;
      ye = h - 1;
    } else {
      if (yStart < ys) ys = yStart;
      if (yEnd > ye) ye = yEnd;
    }
  }
  return [xs, ys, (xe - xs + 1) >>> 0, (ye - ys + 1) >>> 0];
}

/**
 * Compressed `counts` string (6 bits per char, chars 48..111, delta against the count two back from
 * index 3 on), byte-identical to pycocotools. Mirrors `maskApi.c: rleToString`.
 */
export function countsToString(counts: ArrayLike<number>): string {
  const m = counts.length;
  let bytes = new Uint8Array(Math.max(16, m * 2));
  let p = 0;
  for (let i = 0; i < m; i++) {
    let x = counts[i]!;
    if (i > 2) x -= counts[i - 2]!;
    let more = true;
    while (more) {
      let c = x & 0x1f; // low 5 bits of the two's complement, also for negative x
      x = (x - c) / 32; // arithmetic shift, exact for any safe integer
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      if (p === bytes.length) {
        const b = new Uint8Array(bytes.length * 2);
        b.set(bytes);
        bytes = b;
      }
      bytes[p++] = c + 48;
    }
  }
  return latin1.decode(bytes.subarray(0, p));
}

const latin1 = new TextDecoder('latin1');

let decodeScratch = new Uint32Array(1024);

/**
 * Decode a compressed `counts` string, or return a message saying why it is invalid (a char outside
 * '0'..'o', a value cut off at the end of the string, more than 7 chars per value, or a value outside
 * uint32). Mirrors `maskApi.c: rleFrString`. With `reuse`, the result is a view of an internal
 * buffer, valid until the next call (no allocation; for validation and transient use).
 */
export function parseCountsString(s: string, reuse = false): Uint32Array | string {
  const n = s.length;
  let out = reuse ? decodeScratch : new Uint32Array(n);
  if (out.length < n) out = decodeScratch = new Uint32Array(Math.max(n, 2 * out.length));
  let m = 0, p = 0;
  while (p < n) {
    // up to 6 chars: int32 arithmetic (30 bits + sign), as C does for every realistic value
    let x = 0, k = 0, c = 0;
    do {
      if (p >= n) return `truncated value at char ${p}`;
      const code = s.charCodeAt(p++);
      if (code < 48 || code > 111) return `invalid character ${JSON.stringify(s[p - 1])} at ${p - 1}`;
      c = code - 48;
      x |= (c & 0x1f) << (5 * k);
      k++;
    } while (c & 0x20 && k < 6);
    let v: number;
    if ((c & 0x20) === 0) {
      v = c & 0x10 ? x | (-1 << (5 * k)) : x; // sign-extend
    } else {
      // a 7th char (values beyond +-2^29): doubles
      if (p >= n) return `truncated value at char ${p}`;
      const code = s.charCodeAt(p++);
      if (code < 48 || code > 111) return `invalid character ${JSON.stringify(s[p - 1])} at ${p - 1}`;
      c = code - 48;
      if (c & 0x20) return `value longer than 7 chars at ${p}`;
      v = x + (c & 0x1f) * 2 ** 30;
      if (c & 0x10) v -= 2 ** 35;
    }
    if (m > 2) v += out[m - 2]!;
    if (v < 0 || v > 0xffffffff) return `count ${m} out of range (${v})`;
    out[m++] = v;
  }
  return reuse ? out.subarray(0, m) : out.slice(0, m);
}

/** {@link parseCountsString} that throws RangeError on invalid input. */
export function stringToCounts(s: string): Uint32Array {
  const r = parseCountsString(s);
  if (typeof r === 'string') throw new RangeError(`invalid RLE string: ${r}`);
  return r;
}

/**
 * Uncompressed RLE (`{"size": [h, w], "counts": [..]}`) to counts: the counts are used as given.
 * Throws RangeError on non-integer/negative counts or a sum different from h*w (pycocotools would
 * wrap, read out of bounds or loop forever). Mirrors `_mask.pyx: frUncompressedRLE`.
 */
export function frUncompressed(counts: ArrayLike<number>, h: number, w: number): Rle {
  checkSize(h, w);
  const out = new Uint32Array(counts.length);
  let sum = 0;
  for (let j = 0; j < counts.length; j++) {
    const c = counts[j]!;
    if (!Number.isInteger(c) || c < 0 || c > 0xffffffff) throw new RangeError(`counts[${j}] is not a uint32 (${c})`);
    out[j] = c;
    sum += c;
  }
  if (sum !== h * w) throw new RangeError(`counts sum to ${sum}, expected h*w = ${h * w}`);
  return { h, w, counts: out };
}

/**
 * Union (or intersection) of RLEs of equal size, in canonical form. n = 1 returns the input unchanged;
 * mismatched sizes give an empty 0×0 RLE. Mirrors `maskApi.c: rleMerge` (pairwise, left to right).
 */
export function merge(rles: readonly Rle[], intersect = false): Rle {
  if (rles.length === 0) return { h: 0, w: 0, counts: new Uint32Array(0) };
  const first = rles[0]!;
  if (rles.length === 1) return { h: first.h, w: first.w, counts: first.counts.slice() };
  const { h, w } = first;
  let A = first.counts;
  for (let i = 1; i < rles.length; i++) {
    const B = rles[i]!;
    if (B.h !== h || B.w !== w) return { h: 0, w: 0, counts: new Uint32Array(0) };
    const Bc = B.counts;
    const out = new Uint32Array(A.length + Bc.length + 2);
    let m = 0, a = 1, b = 1, cc = 0, ct = 1, v = 0, va = 0, vb = 0;
    let ca = A[0] ?? 0, cb = Bc[0] ?? 0;
    const maxIter = A.length + Bc.length + 2;
    for (let iter = 0; ct > 0; iter++) {
      // pycocotools loops forever when the two count sums differ; refuse instead.
      if (iter > maxIter) throw new RangeError('RLE counts of merged masks do not sum to the same h*w');
      const c = ca < cb ? ca : cb;
      cc += c;
      ct = 0;
      ca -= c;
      if (!ca && a < A.length) { ca = A[a++]!; va ^= 1; }
      ct += ca;
      cb -= c;
      if (!cb && b < Bc.length) { cb = Bc[b++]!; vb ^= 1; }
      ct += cb;
      const vp = v;
      v = intersect ? va & vb : va | vb;
      if (v !== vp || ct === 0) { out[m++] = cc; cc = 0; }
    }
    A = out.slice(0, m);
  }
  return { h, w, counts: A };
}

/**
 * IoU of two masks as `maskApi.c: rleIou` for one (dt, gt) pair: 0 if their `rleToBbox` boxes do not
 * overlap, -1 if the sizes differ (never matches), else `|d∧g| / |d∪g|`, or `|d∧g| / |d|` if the
 * ground truth is a crowd region.
 */
export function rleIou(dt: Rle, gt: Rle, gtIsCrowd: boolean): number {
  const db = rleToBbox(dt.counts, dt.h, dt.w);
  const gb = rleToBbox(gt.counts, gt.h, gt.w);
  const iw = Math.min(db[2] + db[0], gb[2] + gb[0]) - Math.max(db[0], gb[0]);
  if (iw <= 0) return 0;
  const ih = Math.min(db[3] + db[1], gb[3] + gb[1]) - Math.max(db[1], gb[1]);
  if (ih <= 0) return 0;
  if (dt.h !== gt.h || dt.w !== gt.w) return -1;
  const inter = rleArea(merge([dt, gt], true).counts);
  if (inter === 0) return 0;
  const da = rleArea(dt.counts);
  return inter / (gtIsCrowd ? da : da + rleArea(gt.counts) - inter);
}

/**
 * Polygon list (one object in several parts) to a single RLE: rasterize each part with the image size,
 * then take the union. Mirrors `coco.py: COCO.annToRLE` for list segmentations
 * (`frPyObjects` + `merge`).
 */
export function frPolygons(polygons: ReadonlyArray<ArrayLike<number>>, h: number, w: number): Rle {
  return merge(polygons.map((p) => ({ h, w, counts: frPoly(p, h, w) })));
}
