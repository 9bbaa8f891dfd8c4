/**
 * @file `cocoeval.py: COCOeval.accumulate` (docs/evaluation.md#accumulate): per-image records → precision
 * [T×R×K×A×M], recall [T×K×A×M] and scores [T×R×K×A×M] (all initialised to -1 = "no usable GT").
 * Accepts records from several `evaluateImages` calls (disjoint image sets) and orders them by image
 * id itself, so split-then-merge gives bit-identical arrays.
 */
import type { EvalRecords } from './evaluate.js';
import type { ImageEvalRecord } from './records.js';
import { sameParams, type CocoParams } from './params.js';

/** pycocotools `np.spacing(1)` = 2^-52, added to the precision denominator. */
const SPACING_1 = 2 ** -52;

/** Output of {@link accumulate}; arrays are C-ordered in the shape named. */
export interface Accumulated {
  params: CocoParams;
  /** [K] category ids (ascending) of the K axis. */
  categoryIds: Float64Array;
  T: number;
  R: number;
  K: number;
  A: number;
  M: number;
  /** [T×R×K×A×M] interpolated precision; -1 where the category has no usable GT. */
  precision: Float64Array;
  /** [T×K×A×M] recall at the last detection; -1 where the category has no usable GT. */
  recall: Float64Array;
  /** [T×R×K×A×M] score at each recall threshold; -1 where no usable GT. */
  scores: Float64Array;
}

/**
 * Accumulate per-image records into precision/recall. Parts must share parameters and categories;
 * each (image, category) cell may appear in only one part. Mirrors `COCOeval.accumulate`.
 */
export function accumulate(...parts: EvalRecords[]): Accumulated {
  const first = parts[0];
  if (!first) throw new TypeError('accumulate: at least one EvalRecords part is required');
  const p = first.params;
  const cats = first.categoryIds;
  for (const part of parts) {
    if (!sameParams(part.params, p)) throw new TypeError('accumulate: parts were evaluated with different params');
    if (part.categoryIds.length !== cats.length || part.categoryIds.some((c, i) => c !== cats[i])) {
      throw new TypeError('accumulate: parts have different category sets');
    }
  }
  const T = p.iouThrs.length, R = p.recThrs.length, K = cats.length, A = p.areaRng.length, M = p.maxDets.length;
  const precision = new Float64Array(T * R * K * A * M).fill(-1);
  const recall = new Float64Array(T * K * A * M).fill(-1);
  const scores = new Float64Array(T * R * K * A * M).fill(-1);

  // E per category, ordered by image id (pycocotools iterates p.imgIds ascending)
  const kOf = new Map<number, number>();
  cats.forEach((c, k) => kOf.set(c, k));
  const byCat: ImageEvalRecord[][] = Array.from({ length: K }, () => []);
  for (const part of parts) {
    for (const rec of part.records) {
      const k = kOf.get(rec.categoryId);
      if (k === undefined) throw new RangeError(`accumulate: record of unknown category ${rec.categoryId}`);
      byCat[k]!.push(rec);
    }
  }
  for (let k = 0; k < K; k++) {
    const E = byCat[k]!;
    if (E.length === 0) continue;
    let sorted = true;
    for (let e = 1; e < E.length && sorted; e++) if (E[e]!.imageId < E[e - 1]!.imageId) sorted = false;
    if (!sorted) E.sort((x, y) => x.imageId - y.imageId);
    for (let e = 1; e < E.length; e++) {
      if (E[e]!.imageId === E[e - 1]!.imageId) throw new RangeError(`accumulate: image ${E[e]!.imageId} category ${cats[k]} evaluated twice`);
    }
    accumulateCategory(p, E, k, { T, R, K, A, M }, precision, recall, scores);
  }
  return { params: p, categoryIds: cats, T, R, K, A, M, precision, recall, scores };
}

/** Reused per-category buffers (grown on demand). */
let bufN = 0;
let score = new Float64Array(0), rank = new Int32Array(0), order = new Int32Array(0), tmp = new Int32Array(0);
let selBuf = new Int32Array(0), flags = new Uint8Array(0);
let tpAt = new Int32Array(0), prAt = new Float64Array(0);

function reserve(N: number, AT: number, M: number): void {
  if (N > bufN) {
    bufN = Math.max(N, 2 * bufN, 1024);
    score = new Float64Array(bufN);
    rank = new Int32Array(bufN);
    order = new Int32Array(bufN);
    tmp = new Int32Array(bufN);
    tpAt = new Int32Array(bufN + 1);
    prAt = new Float64Array(bufN + 1);
  }
  if (selBuf.length < M * N) selBuf = new Int32Array(Math.max(M * N, 2 * selBuf.length));
  if (flags.length < AT * N) flags = new Uint8Array(Math.max(AT * N, 2 * flags.length));
}

/**
 * Stable descending order of `score[0..N)` that is already descending inside each run
 * `[runStart[i], runStart[i+1])` (the records' detections): runs merged pairwise, left first on
 * ties, which is the order of a stable sort of the whole (numpy's mergesort of -score).
 */
function mergeRuns(runStart: Int32Array, nRuns: number, N: number): Int32Array {
  let a = order, b = tmp;
  for (let i = 0; i < N; i++) a[i] = i;
  let bounds = runStart, nb = nRuns;
  const next = new Int32Array(nRuns + 1);
  while (nb > 1) {
    let w = 0, o = 0;
    for (let i = 0; i < nb; i += 2) {
      const lo = bounds[i]!, mid = bounds[i + 1]!, hi = i + 2 <= nb ? bounds[i + 2]! : mid;
      let p = lo, q = mid;
      if (i + 1 >= nb) {
        while (p < mid) b[o++] = a[p++]!;
      } else {
        while (p < mid && q < hi) {
          // take the right one only if strictly greater (ties keep the left run first)
          if (score[a[q]!]! > score[a[p]!]!) b[o++] = a[q++]!;
          else b[o++] = a[p++]!;
        }
        while (p < mid) b[o++] = a[p++]!;
        while (q < hi) b[o++] = a[q++]!;
      }
      next[w++] = lo;
    }
    next[w] = N;
    bounds = next.slice(0, w + 1);
    nb = w;
    const t = a; a = b; b = t;
  }
  return a;
}

function accumulateCategory(
  p: CocoParams,
  E: ImageEvalRecord[],
  k: number,
  dims: { T: number; R: number; K: number; A: number; M: number },
  precision: Float64Array,
  recall: Float64Array,
  scores: Float64Array,
): void {
  const { T, R, K, A, M } = dims;
  const AT = A * T;
  // concatenate every record's detections (each already <= maxDets[-1], score order); image order
  let N = 0;
  for (const e of E) N += e.numDt;
  reserve(N, AT, M);
  const runStart = new Int32Array(E.length + 1);
  let n = 0, nRuns = 0;
  for (const e of E) {
    const o = e.dataOffset + e.numDt; // dtScores (layout: records.ts)
    if (e.numDt > 0) runStart[nRuns++] = n;
    for (let j = 0; j < e.numDt; j++, n++) {
      score[n] = e.data[o + j]!;
      rank[n] = j;
    }
  }
  runStart[nRuns] = N;
  // one stable sort serves every maxDets: truncating each image to md keeps a subsequence
  const ord = mergeRuns(runStart, nRuns, N);
  const selLen = new Int32Array(M);
  for (let m = 0; m < M; m++) {
    const md = p.maxDets[m]!, base = m * N;
    let c = 0;
    for (let j = 0; j < N; j++) if (rank[ord[j]!]! < md) selBuf[base + c++] = ord[j]!;
    selLen[m] = c;
  }
  const recThrs = p.recThrs;
  // one pass over the records (each record's arrays are contiguous): flags of every detection at
  // every (a, t) in concatenation order, bit0 = matched (dtm != 0), bit1 = ignored; and npig per a
  const npigA = new Float64Array(A);
  let q0 = 0;
  for (const e of E) {
    const D = e.numDt, G = e.numGt;
    if (e.numAreas !== A || e.numThrs !== T) throw new RangeError('accumulate: record shape does not match params');
    // dtMatches / gtIgnore / dtIgnore regions (layout: records.ts)
    const data = e.data, fl = e.flags;
    const oDtm = e.dataOffset + 2 * D + A * G, oGtIg = e.flagsOffset, oDtIg = oGtIg + A * G;
    for (let at = 0; at < AT; at++) {
      const src = at * D, dst = at * N + q0;
      for (let j = 0; j < D; j++) flags[dst + j] = (data[oDtm + src + j] !== 0 ? 1 : 0) | (fl[oDtIg + src + j] ? 2 : 0);
    }
    for (let a = 0; a < A; a++) {
      for (let g = 0; g < G; g++) if (fl[oGtIg + a * G + g] === 0) npigA[a]!++;
    }
    q0 += D;
  }

  for (let a = 0; a < A; a++) {
    const npig = npigA[a]!;
    if (npig === 0) continue;
    for (let t = 0; t < T; t++) {
      const fOff = (a * T + t) * N;
      for (let m = 0; m < M; m++) {
        const base = m * N;
        const nd = selLen[m]!;
        if (m > 0 && nd === selLen[m - 1]!) {
          // no image had more than the previous maxDets: same detections, same numbers
          recall[((t * K + k) * A + a) * M + m] = recall[((t * K + k) * A + a) * M + m - 1]!;
          for (let r = 0; r < R; r++) {
            const idx = (((t * R + r) * K + k) * A + a) * M + m;
            precision[idx] = precision[idx - 1]!;
            scores[idx] = scores[idx - 1]!;
          }
          continue;
        }
        // cumulative tp/fp in score order. pycocotools' precision pr[j] = tp/(fp+tp+eps) only rises
        // where tp rises (a false positive lowers it, an ignored detection keeps it), so its right
        // envelope at any j is the max of pr[j] and of pr where tp reaches each later value: record
        // the first index and the precision at each tp value v = 1..V (the same double operations).
        let tp = 0, fp = 0, pr0 = 0;
        for (let j = 0; j < nd; j++) {
          const f = flags[fOff + selBuf[base + j]!]!;
          if ((f & 2) === 0) {
            if (f & 1) {
              tp++;
              tpAt[tp] = j;
              prAt[tp] = tp / (fp + tp + SPACING_1);
            } else fp++;
          }
          if (j === 0) pr0 = tp / (fp + tp + SPACING_1);
        }
        const V = tp;
        recall[((t * K + k) * A + a) * M + m] = nd ? V / npig : 0;
        // right envelope over tp values: prAt[v] = max(prAt[v..V])
        for (let v = V - 1; v >= 1; v--) if (prAt[v + 1]! > prAt[v]!) prAt[v] = prAt[v + 1]!;
        // searchsorted(rc, recThrs, 'left') with rc[j] = tp_j / npig: the first j whose tp reaches
        // the smallest v with v / npig >= recThrs[r]
        let v = 0;
        for (let r = 0; r < R; r++) {
          const thr = recThrs[r]!;
          while (v <= V && v / npig < thr) v++;
          const idx = (((t * R + r) * K + k) * A + a) * M + m;
          if (v > V || nd === 0) {
            precision[idx] = 0;
            scores[idx] = 0;
          } else if (v === 0) {
            // j = 0: max(pr[0], envelope of the later tp points)
            const e = V >= 1 && prAt[1]! > pr0 ? prAt[1]! : pr0;
            precision[idx] = e;
            scores[idx] = score[selBuf[base]!]!;
          } else {
            precision[idx] = prAt[v]!;
            scores[idx] = score[selBuf[base + tpAt[v]!]!]!;
          }
        }
      }
    }
  }
}
