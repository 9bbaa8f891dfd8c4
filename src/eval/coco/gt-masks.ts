/**
 * @file The rasterized ground-truth masks of a segm evaluation, kept for the next evaluation of the
 * same ground truth (the usual case: several result files, or bbox then segm, against one validation
 * set). The key is a SHA-256 of everything the masks depend on — every annotation's image size and
 * segmentation (polygon coordinates as doubles, RLE size and counts) — computed while the
 * segmentations are validated, so a hit needs the same content, not the same object. A hit only
 * skips the rasterization (the masks are the same bits: only their cost changes); validation, its
 * errors and warnings are unchanged. Bounded: the two most recent ground truths, at most
 * {@link MAX_STORED_RUNS} run bounds each (32 MiB); beyond that the rest is rasterized again each time.
 * Nothing here touches a clock or I/O (node:crypto hashes in memory).
 */
import { createHash, type Hash } from 'node:crypto';
import type { MaskSet } from './segmentation.js';

/** Run bounds (uint32) stored per ground truth at most. */
export const MAX_STORED_RUNS = 8 * 2 ** 20;
/** Ground truths kept. */
const MAX_ENTRIES = 2;

/** Stored masks (runs, area, size, column range) of one ground truth, filled as its cells are evaluated (annotation order free), or of one batch of results, filled by validation. */
export class StoredMasks {
  /** [n] start of annotation a's runs in `runs`, -1 while not stored */
  readonly start: Int32Array;
  readonly len: Int32Array;
  readonly h: Float64Array;
  readonly w: Float64Array;
  readonly area: Float64Array;
  readonly colLo: Float64Array;
  readonly colHi: Float64Array;
  readonly paired: Uint8Array;
  runs = new Uint32Array(256);
  used = 0;

  constructor(readonly count: number) {
    this.start = new Int32Array(count).fill(-1);
    this.len = new Int32Array(count);
    this.h = new Float64Array(count);
    this.w = new Float64Array(count);
    this.area = new Float64Array(count);
    this.colLo = new Float64Array(count);
    this.colHi = new Float64Array(count);
    this.paired = new Uint8Array(count);
  }

  /** Room for `n` more run bounds (within the bound), in one allocation. */
  reserve(n: number): void {
    const want = Math.min(MAX_STORED_RUNS, this.used + n);
    if (want <= this.runs.length) return;
    const b = new Uint32Array(want);
    b.set(this.runs.subarray(0, this.used));
    this.runs = b;
  }

  has(a: number): boolean {
    return this.start[a]! >= 0;
  }

  /** Stores mask `i` of `m` as annotation `a` (no-op when full or already stored). */
  store(a: number, m: MaskSet, i: number): void {
    if (this.start[a]! >= 0) return;
    const from = m.rs[i]!, to = m.re[i]!, n = to - from;
    if (this.used + n > MAX_STORED_RUNS) return;
    if (this.used + n > this.runs.length) {
      const b = new Uint32Array(Math.min(MAX_STORED_RUNS, Math.max(2 * this.runs.length, this.used + n)));
      b.set(this.runs.subarray(0, this.used));
      this.runs = b;
    }
    this.runs.set(m.src[i]!.subarray(from, to), this.used);
    this.start[a] = this.used;
    this.len[a] = n;
    this.h[a] = m.h[i]!;
    this.w[a] = m.w[i]!;
    this.area[a] = m.area[i]!;
    this.colLo[a] = m.colLo[i]!;
    this.colHi[a] = m.colHi[i]!;
    this.paired[a] = m.paired[i]!;
    this.used += n;
  }
}

/**
 * Decodes a compressed RLE string (`maskApi.c: rleFrString`, as rle.ts `parseCountsString`) of an
 * `h×w` mask straight into stored runs of result `a`, with its area and column range: one pass over
 * the characters, no counts array. Returns 'stored', 'full' (over the bound: nothing stored) or
 * 'invalid' (a bad character or value, or counts not summing to h*w: nothing stored; the caller
 * parses it again with its JSON path to report the error).
 */
export function storeRleString(e: StoredMasks, a: number, str: string, h: number, w: number): 'stored' | 'full' | 'invalid' {
  const n = str.length;
  if (e.start[a]! >= 0) return 'stored';
  if (e.used + n + 2 > MAX_STORED_RUNS) return 'full';
  if (e.used + n + 2 > e.runs.length) {
    const b = new Uint32Array(Math.min(MAX_STORED_RUNS, Math.max(2 * e.runs.length, e.used + n + 2)));
    b.set(e.runs.subarray(0, e.used));
    e.runs = b;
  }
  const runs = e.runs;
  const r0 = e.used;
  let r = r0, m = 0, p = 0, prev1 = 0, prev2 = 0, pos = 0, area = 0;
  while (p < n) {
    let x = 0, k = 0, c = 0;
    do {
      if (p >= n) return 'invalid';
      const code = str.charCodeAt(p++);
      if (code < 48 || code > 111) return 'invalid';
      c = code - 48;
      x |= (c & 0x1f) << (5 * k);
      k++;
    } while (c & 0x20 && k < 6);
    let v: number;
    if ((c & 0x20) === 0) {
      v = c & 0x10 ? x | (-1 << (5 * k)) : x;
    } else {
      if (p >= n) return 'invalid';
      const code = str.charCodeAt(p++);
      if (code < 48 || code > 111) return 'invalid';
      c = code - 48;
      if (c & 0x20) return 'invalid';
      v = x + (c & 0x1f) * 2 ** 30;
      if (c & 0x10) v -= 2 ** 35;
    }
    if (m > 2) v += prev2;
    if (v < 0 || v > 0xffffffff) return 'invalid';
    if (m & 1 && v > 0) {
      runs[r++] = pos;
      runs[r++] = pos + v;
      area += v;
    }
    pos += v;
    prev2 = prev1;
    prev1 = v;
    m++;
  }
  if (pos !== h * w) return 'invalid';
  e.start[a] = r0;
  e.len[a] = r - r0;
  e.h[a] = h;
  e.w[a] = w;
  e.area[a] = area;
  if (r > r0) {
    e.colLo[a] = Math.floor(runs[r0]! / h);
    e.colHi[a] = Math.floor((runs[r - 1]! - 1) / h);
  } else {
    e.colLo[a] = 1;
    e.colHi[a] = 0;
  }
  e.paired[a] = m >= 2 ? 1 : 0;
  e.used = r;
  return 'stored';
}

const cache = new Map<string, StoredMasks>();

/** The stored masks for `key` (created empty on a miss; most recent last, two kept). */
export function gtMasksFor(key: string, count: number): StoredMasks {
  let e = cache.get(key);
  if (e && e.count === count) {
    cache.delete(key);
    cache.set(key, e);
    return e;
  }
  e = new StoredMasks(count);
  cache.set(key, e);
  while (cache.size > MAX_ENTRIES) cache.delete(cache.keys().next().value!);
  return e;
}

/** Empties the store (tests). */
export function clearGtMaskCache(): void {
  cache.clear();
}

/** Incremental SHA-256 of numbers (as float64) and strings, buffered. */
export class ContentHash {
  private readonly hash: Hash = createHash('sha256');
  private buf = new Float64Array(8192);
  private n = 0;

  num(x: number): void {
    if (this.n === this.buf.length) this.flush();
    this.buf[this.n++] = x;
  }

  nums(a: ArrayLike<unknown>): void {
    this.num(a.length);
    const n = a.length;
    for (let i = 0; i < n;) {
      if (this.n === this.buf.length) this.flush();
      const buf = this.buf;
      const end = Math.min(n, i + buf.length - this.n);
      let o = this.n;
      for (; i < end; i++) {
        const x = a[i];
        buf[o++] = typeof x === 'number' ? x : NaN;
      }
      this.n = o;
    }
  }

  str(s: string): void {
    this.num(s.length);
    this.flush();
    this.hash.update(s, 'utf8');
  }

  digest(): string {
    this.flush();
    return this.hash.digest('hex');
  }

  private flush(): void {
    if (this.n > 0) this.hash.update(new Uint8Array(this.buf.buffer, 0, 8 * this.n));
    this.n = 0;
  }
}
