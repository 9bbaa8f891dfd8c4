/**
 * @file Numerical primitives shared by the COCO and VOC ports: numpy's pairwise summation (double and
 * float32), numpy's `linspace`/`arange` constructions, float32 emulation, a stable score sort and
 * Python-style `{:.3f}` formatting. Everything here exists so that results agree with the Python
 * references to the last bit (docs/evaluation.md#numerics).
 */

/** Round to float32 (emulates one numpy float32 operation's result). */
export const f32 = Math.fround;

/** numpy's pairwise-summation block size (`PW_BLOCKSIZE`). */
const PW_BLOCKSIZE = 128;

/**
 * Sum `n` elements of `a` starting at `start` exactly as numpy's `add.reduce` does on a contiguous
 * float64 vector (`np.sum`, and the numerator of `np.mean`).
 *
 * Mirrors numpy `loops_utils.h.src: @TYPE@_pairwise_sum` (docs/evaluation.md#numerics): < 8 elements are
 * summed left to right from 0; up to 128 with eight interleaved accumulators; above that, recursive halving
 * at a multiple of 8. The reduction hands the loop at most {@link REDUCE_BUFSIZE} elements at a time
 * and adds the blocks' sums left to right (checked against numpy 1.24: 12 120 precision values, the
 * AP of 12 categories, differ in the last bit otherwise).
 */
export function pairwiseSum(a: ArrayLike<number>, start = 0, n = a.length - start): number {
  if (n <= REDUCE_BUFSIZE) return pairwiseBlock(a, start, n);
  let res = 0;
  for (let b = 0; b < n; b += REDUCE_BUFSIZE) res += pairwiseBlock(a, start + b, Math.min(REDUCE_BUFSIZE, n - b));
  return res;
}

/** numpy's iterator buffer size (`NPY_BUFSIZE`): the longest inner loop of a reduction. */
export const REDUCE_BUFSIZE = 8192;

function pairwiseBlock(a: ArrayLike<number>, start: number, n: number): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[start + i]!;
    return res;
  }
  if (n <= PW_BLOCKSIZE) {
    let r0 = a[start]!, r1 = a[start + 1]!, r2 = a[start + 2]!, r3 = a[start + 3]!;
    let r4 = a[start + 4]!, r5 = a[start + 5]!, r6 = a[start + 6]!, r7 = a[start + 7]!;
    const lim = n - (n % 8);
    let i = 8;
    for (; i < lim; i += 8) {
      const p = start + i;
      r0 += a[p]!; r1 += a[p + 1]!; r2 += a[p + 2]!; r3 += a[p + 3]!;
      r4 += a[p + 4]!; r5 += a[p + 5]!; r6 += a[p + 6]!; r7 += a[p + 7]!;
    }
    let res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));
    for (; i < n; i++) res += a[start + i]!;
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseBlock(a, start, n2) + pairwiseBlock(a, start + n2, n - n2);
}

/**
 * {@link pairwiseSum} in float32 arithmetic (every addition rounded with `Math.fround`; blocks of
 * {@link REDUCE_BUFSIZE} too), as numpy sums a float32 vector (`np.array(aps, float32).mean()` in mmdet `eval_map`).
 */
export function pairwiseSumF32(a: ArrayLike<number>, start = 0, n = a.length - start): number {
  if (n <= REDUCE_BUFSIZE) return pairwiseBlockF32(a, start, n);
  let res = 0;
  for (let b = 0; b < n; b += REDUCE_BUFSIZE) res = f32(res + pairwiseBlockF32(a, start + b, Math.min(REDUCE_BUFSIZE, n - b)));
  return res;
}

function pairwiseBlockF32(a: ArrayLike<number>, start: number, n: number): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res = f32(res + a[start + i]!);
    return res;
  }
  if (n <= PW_BLOCKSIZE) {
    const r = new Float64Array(8);
    for (let j = 0; j < 8; j++) r[j] = f32(a[start + j]!);
    const lim = n - (n % 8);
    let i = 8;
    for (; i < lim; i += 8) {
      for (let j = 0; j < 8; j++) r[j] = f32(r[j]! + a[start + i + j]!);
    }
    let res = f32(f32(f32(r[0]! + r[1]!) + f32(r[2]! + r[3]!)) + f32(f32(r[4]! + r[5]!) + f32(r[6]! + r[7]!)));
    for (; i < n; i++) res = f32(res + a[start + i]!);
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return f32(pairwiseBlockF32(a, start, n2) + pairwiseBlockF32(a, start + n2, n - n2));
}

/** numpy `mean` of a float64 vector: pairwise sum divided by the count (NaN when empty). */
export function npMean(a: ArrayLike<number>): number {
  return pairwiseSum(a) / a.length;
}

/**
 * numpy `linspace(start, stop, num)` (endpoint=True): `i*step + start`, with the last element set to
 * `stop` exactly. Mirrors numpy `function_base.py: linspace`.
 */
export function linspace(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  const div = num - 1;
  if (div <= 0) {
    out.fill(start);
    return out;
  }
  const step = (stop - start) / div;
  for (let i = 0; i < num; i++) out[i] = i * step + start;
  out[num - 1] = stop;
  return out;
}

/**
 * Stable order of `n` scores, descending: `np.argsort(-scores, kind='mergesort')`. Equal scores keep
 * their input order (and -0 equals 0).
 */
export function argsortDesc(scores: ArrayLike<number>, n = scores.length): Int32Array {
  let a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  if (n < 2) return a;
  // bottom-up merge sort: insertion-sorted blocks of 16, then merges taking the right element only
  // when strictly greater (ties keep the left, i.e. earlier, one first)
  const B = 16;
  for (let lo = 0; lo < n; lo += B) {
    const hi = Math.min(n, lo + B);
    for (let i = lo + 1; i < hi; i++) {
      const v = a[i]!, s = scores[v]!;
      let j = i - 1;
      while (j >= lo && scores[a[j]!]! < s) {
        a[j + 1] = a[j]!;
        j--;
      }
      a[j + 1] = v;
    }
  }
  if (n <= B) return a;
  let b = new Int32Array(n);
  for (let width = B; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(n, lo + width), hi = Math.min(n, lo + 2 * width);
      let p = lo, q = mid, o = lo;
      while (p < mid && q < hi) {
        if (scores[a[q]!]! > scores[a[p]!]!) b[o++] = a[q++]!;
        else b[o++] = a[p++]!;
      }
      while (p < mid) b[o++] = a[p++]!;
      while (q < hi) b[o++] = a[q++]!;
    }
    const t = a; a = b; b = t;
  }
  return a;
}

/**
 * Stable in-place sort of `idx[0..n)` by `score[idx[i]]`, descending (insertion sort for the usual
 * small inputs, {@link argsortDesc} otherwise). Same order as `argsortDesc` on the gathered scores.
 */
export function sortIndicesDesc(idx: Int32Array, n: number, score: ArrayLike<number>): void {
  if (n <= 32) {
    for (let i = 1; i < n; i++) {
      const v = idx[i]!, s = score[v]!;
      let j = i - 1;
      while (j >= 0 && score[idx[j]!]! < s) {
        idx[j + 1] = idx[j]!;
        j--;
      }
      idx[j + 1] = v;
    }
    return;
  }
  const sc = new Float64Array(n);
  for (let i = 0; i < n; i++) sc[i] = score[idx[i]!]!;
  const ord = argsortDesc(sc);
  const copy = idx.slice(0, n);
  for (let i = 0; i < n; i++) idx[i] = copy[ord[i]!]!;
}

/**
 * Python's `f'{x:.{digits}f}'`: correctly rounded from the exact binary value, ties to even. JS
 * `toFixed` rounds exact ties away from zero; a tie needs `x*10^digits` to be exactly half-integral,
 * i.e. `x = j/2^(digits+1)` with j odd (docs/evaluation.md#numerics: 0.0625 → "0.062" in Python,
 * "0.063" in JS).
 */
export function formatFixed(x: number, digits: number): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'nan' : x > 0 ? 'inf' : '-inf';
  const dyadic = x * 2 ** (digits + 1); // exact (power of two)
  if (Number.isInteger(dyadic) && Math.abs(dyadic) % 2 === 1) {
    let k = Math.floor(Math.abs(x) * 10 ** digits); // exact: |x|*10^d = j*5^d/2
    if (k % 2 === 1) k += 1;
    const s = (k / 10 ** digits).toFixed(digits);
    return x < 0 ? `-${s}` : s;
  }
  return x.toFixed(digits);
}

/** {@link formatFixed} with 3 digits (`{:.3f}`), as pycocotools' summary and mmdet's table print. */
export function formatFixed3(x: number): string {
  return formatFixed(x, 3);
}
