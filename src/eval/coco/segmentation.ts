/**
 * @file COCO `segmentation` values → validated RLE (`coco.py: COCO.annToRLE`, docs/evaluation.md#rle) and
 * the per-mask geometry the segm IoU needs (`maskApi.c: rleIou`, docs/evaluation.md#iou). Polygons are
 * rasterized with the *image* size; RLE dicts keep their own `size`. Used by `coco/load.ts` (results' mask
 * areas) and `coco/evaluate.ts` (masks built one image at a time).
 */
import { fail, type WarningCollector, expectArray, expectInteger, isObject, typeName } from '../json-check.js';
import { MAX_POLYGON_STEPS, polygonSteps } from '../polygon.js';
import type { ContentHash, StoredMasks } from './gt-masks.js';
import { countsSum, frPoly, frPolygons, parseCountsString, rleArea, rleToBbox, type Rle } from '../rle.js';

/** Largest mask accepted (h*w must fit pycocotools' uint counts with room to spare). */
export const MAX_MASK_PIXELS = 2 ** 31 - 1;

/** Coordinates beyond this overflow the C `int` of `rleFrPoly` (5x upsampling). */
const MAX_ABS_COORD = 1e8;

/**
 * Parse an RLE dict `{size: [h, w], counts: string | number[]}`. Counts must sum to exactly h*w (the
 * fork's decoder rejects overruns; shorter sums make pycocotools' IoU loop forever). With `transient`,
 * decoded string counts live in a shared buffer valid until the next call (validation, geometry).
 */
export function parseRleObject(v: Record<string, unknown>, at: string, transient = false): Rle {
  const size = v.size;
  let h: number, w: number;
  if (Array.isArray(size) && size.length === 2 && Number.isSafeInteger(size[0]) && Number.isSafeInteger(size[1]) && (size[0] as number) >= 0 && (size[1] as number) >= 0) {
    h = size[0] as number;
    w = size[1] as number;
  } else {
    const sz = expectArray(size, `${at}.size`);
    if (sz.length !== 2) fail(`${at}.size`, `must be [height, width], got ${sz.length} numbers`);
    h = expectInteger(sz[0], `${at}.size[0]`, 0);
    w = expectInteger(sz[1], `${at}.size[1]`, 0);
  }
  if (h * w > MAX_MASK_PIXELS) fail(`${at}.size`, `mask of ${h}x${w} pixels is too large`, 413);
  const c = v.counts;
  let counts: Uint32Array;
  if (typeof c === 'string') {
    const r = parseCountsString(c, transient);
    if (typeof r === 'string') fail(`${at}.counts`, `invalid compressed RLE: ${r}`);
    counts = r;
  } else if (Array.isArray(c)) {
    counts = new Uint32Array(c.length);
    for (let j = 0; j < c.length; j++) {
      const x = c[j];
      counts[j] = Number.isSafeInteger(x) && (x as number) >= 0 ? (x as number) : expectInteger(x, `${at}.counts[${j}]`, 0);
    }
  } else {
    fail(`${at}.counts`, c === undefined ? 'is required' : `must be a string or an array, got ${typeName(c)}`, 400);
  }
  const sum = countsSum(counts);
  if (sum !== h * w) {
    fail(`${at}.counts`, `runs cover ${sum} pixels but size ${h}x${w} has ${h * w}${sum > h * w ? ' (overrun)' : ''}`);
  }
  return { h, w, counts };
}

/**
 * Validate a polygon list `[[x0, y0, x1, y1, ...], ...]` (each part >= 3 points, finite numbers).
 * An odd trailing number is dropped as pycocotools does, with a warning.
 */
export function parsePolygons(v: unknown[], path: string, warnings?: WarningCollector): Float64Array[] {
  if (v.length === 0) fail(path, 'empty polygon list (pycocotools cannot rasterize it)');
  return v.map((poly, i) => {
    const p = expectArray(poly, `${path}[${i}]`);
    if (p.length < 6) fail(`${path}[${i}]`, `polygon needs at least 3 points (6 numbers), got ${p.length} numbers`);
    if (p.length % 2 === 1) warnings?.add('odd-polygon', `${path}[${i}]`, 'polygon has an odd number of coordinates; the last one is ignored, as in pycocotools');
    const out = new Float64Array(p.length);
    for (let j = 0; j < p.length; j++) {
      const x = p[j];
      if (typeof x !== 'number') fail(`${path}[${i}][${j}]`, `must be a number, got ${typeName(x)}`, 400);
      if (!Number.isFinite(x) || Math.abs(x) > MAX_ABS_COORD) fail(`${path}[${i}][${j}]`, `coordinate out of range: ${x}`);
      out[j] = x;
    }
    const steps = polygonSteps(out);
    if (steps > MAX_POLYGON_STEPS) fail(`${path}[${i}]`, `polygon too large to rasterize (${steps} boundary points, limit ${MAX_POLYGON_STEPS})`, 413);
    return out;
  });
}

/**
 * {@link parsePolygons}' checks (same errors and warnings) without copying the coordinates: the
 * evaluation validates every polygon up front, then rasterizes the JSON arrays themselves.
 */
export function checkPolygons(v: unknown[], path: string, warnings?: WarningCollector): void {
  if (v.length === 0) fail(path, 'empty polygon list (pycocotools cannot rasterize it)');
  for (let i = 0; i < v.length; i++) {
    const p = v[i];
    if (!Array.isArray(p)) expectArray(p, `${path}[${i}]`);
    const a = p as unknown[];
    if (a.length < 6) fail(`${path}[${i}]`, `polygon needs at least 3 points (6 numbers), got ${a.length} numbers`);
    if (a.length % 2 === 1) warnings?.add('odd-polygon', `${path}[${i}]`, 'polygon has an odd number of coordinates; the last one is ignored, as in pycocotools');
    for (let j = 0; j < a.length; j++) {
      const x = a[j];
      if (typeof x !== 'number') fail(`${path}[${i}][${j}]`, `must be a number, got ${typeName(x)}`, 400);
      if (!(Math.abs(x) <= MAX_ABS_COORD)) fail(`${path}[${i}][${j}]`, `coordinate out of range: ${x}`);
    }
    const steps = polygonSteps(a as number[]);
    if (steps > MAX_POLYGON_STEPS) fail(`${path}[${i}]`, `polygon too large to rasterize (${steps} boundary points, limit ${MAX_POLYGON_STEPS})`, 413);
  }
}

/**
 * True when `v` is a non-empty list of polygons that pass {@link checkPolygons} without a warning
 * (even lengths); their numbers go to `hash` as they are read (part count, each part's length and
 * coordinates; only a prefix when it returns false).
 */
export function polygonsPlain(v: unknown[], hash?: ContentHash): boolean {
  if (v.length === 0) return false;
  hash?.num(v.length);
  for (let i = 0; i < v.length; i++) {
    const a = v[i];
    if (!Array.isArray(a) || a.length < 6 || a.length % 2 === 1) return false;
    hash?.num(a.length);
    for (let j = 0; j < a.length; j++) {
      const x = a[j];
      if (typeof x !== 'number' || !(Math.abs(x) <= MAX_ABS_COORD)) return false;
      hash?.num(x);
    }
    if (polygonSteps(a as number[]) > MAX_POLYGON_STEPS) return false;
  }
  return true;
}

/**
 * Polygons already checked by {@link checkPolygons} → RLE counts (one part: no merge copy; then a
 * transient view, valid until the next rasterization).
 */
export function polygonsToCounts(v: readonly (readonly number[])[], h: number, w: number): Uint32Array {
  if (v.length === 1) return frPoly(v[0]!, h, w, true);
  return frPolygons(v, h, w).counts;
}

/**
 * A COCO segmentation (polygon list, uncompressed or compressed RLE) as an RLE, like
 * `COCO.annToRLE`; `imgH`/`imgW` are the annotation's image size. RLE whose size differs from the
 * image is kept (it can never match, as in pycocotools) with a warning. `transient`: see
 * {@link parseRleObject}.
 */
export function segmentationToRle(
  v: unknown,
  path: string,
  imgH: number,
  imgW: number,
  warnings?: WarningCollector,
  transient = false,
): Rle {
  if (Array.isArray(v)) {
    const polys = parsePolygons(v, path, warnings);
    try {
      return frPolygons(polys, imgH, imgW);
    } catch (e) {
      if (e instanceof RangeError) fail(path, `${e.message} (limit ${MAX_POLYGON_STEPS})`, 413);
      throw e;
    }
  }
  if (isObject(v)) {
    const rle = parseRleObject(v, path, transient);
    if (rle.h !== imgH || rle.w !== imgW) {
      warnings?.add('rle-size', `${path}.size`, `RLE size ${rle.h}x${rle.w} differs from the image's ${imgH}x${imgW}; it can never match (IoU -1, as in pycocotools)`);
    }
    return rle;
  }
  fail(path, v === undefined ? 'is required for segm evaluation' : `must be a polygon list or an RLE object, got ${typeName(v)}`, 400);
}

/** What the segm IoU needs of one mask: size, area, pycocotools bbox and the foreground runs. */
export interface MaskGeometry {
  h: number;
  w: number;
  /** Foreground pixel count (`rleArea`). */
  area: number;
  /** `rleToBbox` as doubles `[x, y, w, h]` (pycocotools' IoU prefilter). */
  bb: [number, number, number, number];
  /** Foreground runs as `[start, end)` pairs of column-major positions, ascending. */
  runs: Uint32Array;
}

/** Precompute {@link MaskGeometry} from an RLE. */
export function maskGeometry(rle: Rle): MaskGeometry {
  const c = rle.counts;
  let n = 0;
  for (let j = 1; j < c.length; j += 2) if (c[j]! > 0) n++;
  const runs = new Uint32Array(2 * n);
  let pos = 0, k = 0;
  for (let j = 0; j < c.length; j++) {
    const len = c[j]!;
    if (j & 1 && len > 0) {
      runs[k++] = pos;
      runs[k++] = pos + len;
    }
    pos += len;
  }
  return { h: rle.h, w: rle.w, area: rleArea(c), bb: rleToBbox(c, rle.h, rle.w), runs };
}

/** Index of the first run (pair index * 2) whose end is > x. */
function firstRunEndingAfter(r: Uint32Array, x: number): number {
  let lo = 0, hi = r.length >> 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (r[2 * mid + 1]! > x) hi = mid;
    else lo = mid + 1;
  }
  return 2 * lo;
}

/**
 * Mask IoU of detection `d` and ground truth `g` with pycocotools' semantics (`maskApi.c: rleIou`):
 * 0 when their `rleToBbox` boxes do not overlap, -1 when the sizes differ, otherwise
 * `|d∧g| / |d∪g|` (or `/ |d|` for a crowd GT) computed on integers with one division.
 */
export function maskIou(d: MaskGeometry, g: MaskGeometry, gtIsCrowd: boolean): number {
  const db = d.bb, gb = g.bb;
  if (Math.min(db[2] + db[0], gb[2] + gb[0]) - Math.max(db[0], gb[0]) <= 0) return 0;
  if (Math.min(db[3] + db[1], gb[3] + gb[1]) - Math.max(db[1], gb[1]) <= 0) return 0;
  if (d.h !== g.h || d.w !== g.w) return -1;
  const a = d.runs, b = g.runs;
  if (a.length === 0 || b.length === 0) return 0;
  let i = firstRunEndingAfter(a, b[0]!), j = firstRunEndingAfter(b, a[0]!);
  let inter = 0;
  while (i < a.length && j < b.length) {
    const as = a[i]!, ae = a[i + 1]!, bs = b[j]!, be = b[j + 1]!;
    const s = as > bs ? as : bs;
    const e = ae < be ? ae : be;
    if (e > s) inter += e - s;
    if (ae < be) i += 2;
    else j += 2;
  }
  if (inter === 0) return 0;
  return inter / (gtIsCrowd ? d.area : d.area + g.area - inter);
}

const NO_RUNS = new Uint32Array(0);

/**
 * The masks of one (image, category) cell in reused typed arrays (no allocation per mask): mask i
 * has size `h[i]×w[i]`, `area[i]`, foreground runs `src[i][rs[i] .. re[i])` as `[start, end)` pairs
 * (in this set's own buffer, or in a {@link StoredMasks} buffer, not copied), and the columns of its
 * first and last foreground pixel (`colLo`, `colHi`): a cheap exact prefilter for masks of one size
 * (disjoint column ranges → no common pixel). The fork's `rleToBbox` box, which decides between
 * IoU 0 and -1 for masks of different sizes, is computed from the runs only in that rare case.
 * A buffer replaced when it grows keeps its contents, so earlier references stay valid.
 */
export class MaskSet {
  n = 0;
  h = new Float64Array(64);
  w = new Float64Array(64);
  area = new Float64Array(64);
  colLo = new Float64Array(64);
  colHi = new Float64Array(64);
  /** counts had at least one (background, foreground) pair (`rleToBbox`'s `m > 0`) */
  paired = new Uint8Array(64);
  src: Uint32Array[] = [];
  rs = new Int32Array(64);
  re = new Int32Array(64);
  runs = new Uint32Array(1 << 14);
  private used = 0;

  clear(): void {
    for (let i = 0; i < this.n; i++) this.src[i] = NO_RUNS; // no reference kept to a stored set
    this.n = 0;
    this.used = 0;
  }

  /** Adds the mask of `counts` (`h×w`); returns its index. */
  add(counts: ArrayLike<number>, h: number, w: number): number {
    const i = this.n;
    if (i + 1 >= this.h.length) this.growMasks();
    const len = counts.length;
    let r = this.used;
    if (r + len + 2 > this.runs.length) {
      // a new buffer (the masks already added keep the old one)
      this.runs = new Uint32Array(Math.max(2 * this.runs.length, len + 2));
      r = 0;
    }
    const runs = this.runs;
    const start = r;
    let pos = 0, area = 0;
    for (let j = 0; j < len; j++) {
      const c = counts[j]!;
      if (j & 1 && c > 0) {
        runs[r++] = pos;
        runs[r++] = pos + c;
        area += c;
      }
      pos += c;
    }
    this.h[i] = h;
    this.w[i] = w;
    this.area[i] = area;
    this.paired[i] = len >= 2 ? 1 : 0;
    if (r > start) {
      this.colLo[i] = Math.floor(runs[start]! / h);
      this.colHi[i] = Math.floor((runs[r - 1]! - 1) / h);
    } else {
      this.colLo[i] = 1;
      this.colHi[i] = 0; // empty: overlaps nothing
    }
    this.src[i] = runs;
    this.rs[i] = start;
    this.re[i] = r;
    this.used = r;
    this.n = i + 1;
    return i;
  }

  /** Adds annotation `a`'s mask stored in `e` (see gt-masks.ts), by reference; returns its index. */
  addStored(e: StoredMasks, a: number): number {
    const i = this.n;
    if (i + 1 >= this.h.length) this.growMasks();
    this.src[i] = e.runs;
    this.rs[i] = e.start[a]!;
    this.re[i] = e.start[a]! + e.len[a]!;
    this.h[i] = e.h[a]!;
    this.w[i] = e.w[a]!;
    this.area[i] = e.area[a]!;
    this.colLo[i] = e.colLo[a]!;
    this.colHi[i] = e.colHi[a]!;
    this.paired[i] = e.paired[a]!;
    this.n = i + 1;
    return i;
  }

  /** The fork's `rleToBbox` of mask i, from its runs (see rle.ts). */
  bbox(i: number): [number, number, number, number] {
    const h = this.h[i]!, w = this.w[i]!;
    if (!this.paired[i]) return [0, 0, 0, 0];
    let xs = w >>> 0, ys = h >>> 0, xe = 0, ye = 0;
    const runs = this.src[i]!;
    for (let q = this.rs[i]!; q < this.re[i]!; q += 2) {
      const start = runs[q]!, last = runs[q + 1]! - 1;
      const yStart = start % h, xStart = (start - yStart) / h;
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

  private growMasks(): void {
    const n = 2 * this.h.length;
    const grow = <T extends Float64Array | Int32Array | Uint8Array>(a: T, size: number): T => {
      const b = new (a.constructor as new (n: number) => T)(size);
      b.set(a);
      return b;
    };
    this.h = grow(this.h, n);
    this.w = grow(this.w, n);
    this.area = grow(this.area, n);
    this.colLo = grow(this.colLo, n);
    this.colHi = grow(this.colHi, n);
    this.paired = grow(this.paired, n);
    this.rs = grow(this.rs, n);
    this.re = grow(this.re, n);
  }
}

/**
 * {@link maskIou} of masks `d` and `g` of a {@link MaskSet}. For masks of one size the box test is
 * only a shortcut (disjoint boxes have no common pixel: IoU 0 either way), so the column ranges
 * replace it; masks of different sizes take pycocotools' path (0 if the boxes miss, else -1).
 */
export function maskSetIou(m: MaskSet, d: number, g: number, gtIsCrowd: boolean): number {
  if (m.h[d] !== m.h[g] || m.w[d] !== m.w[g]) {
    const db = m.bbox(d), gb = m.bbox(g);
    if (Math.min(db[2] + db[0], gb[2] + gb[0]) - Math.max(db[0], gb[0]) <= 0) return 0;
    if (Math.min(db[3] + db[1], gb[3] + gb[1]) - Math.max(db[1], gb[1]) <= 0) return 0;
    return -1;
  }
  if (m.colLo[d]! > m.colHi[g]! || m.colLo[g]! > m.colHi[d]!) return 0;
  const ra = m.src[d]!, rb = m.src[g]!;
  const aEnd = m.re[d]!, bEnd = m.re[g]!;
  let i = m.rs[d]!, j = m.rs[g]!;
  // skip runs that end before the other mask's first run starts
  const b0 = rb[j]!, a0 = ra[i]!;
  i = firstEndingAfter(ra, i, aEnd, b0);
  j = firstEndingAfter(rb, j, bEnd, a0);
  let inter = 0;
  while (i < aEnd && j < bEnd) {
    const as = ra[i]!, ae = ra[i + 1]!, bs = rb[j]!, be = rb[j + 1]!;
    const s = as > bs ? as : bs;
    const e = ae < be ? ae : be;
    if (e > s) inter += e - s;
    if (ae < be) i += 2;
    else j += 2;
  }
  if (inter === 0) return 0;
  const da = m.area[d]!;
  return inter / (gtIsCrowd ? da : da + m.area[g]! - inter);
}

/** First run (even index in [lo, hi)) of `r` whose end is > x, or hi. */
function firstEndingAfter(r: Uint32Array, lo: number, hi: number, x: number): number {
  let a = lo >> 1, b = hi >> 1;
  while (a < b) {
    const mid = (a + b) >> 1;
    if (r[2 * mid + 1]! > x) b = mid;
    else a = mid + 1;
  }
  return 2 * a;
}
