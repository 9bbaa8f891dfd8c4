/**
 * @file `cocoeval.py: COCOeval.accumulate` (docs/evaluation.md#accumulate): per-image records → precision
 * [T×R×K×A×M], recall [T×K×A×M] and scores [T×R×K×A×M] (all initialised to -1 = "no usable GT").
 * Accepts records from several `evaluateImages` calls (disjoint image sets) and orders them by image
 * id itself, so split-then-merge gives bit-identical arrays.
 */
import { argsortDesc } from '../numeric.js';
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
    E.sort((x, y) => x.imageId - y.imageId);
    for (let e = 1; e < E.length; e++) {
      if (E[e]!.imageId === E[e - 1]!.imageId) throw new RangeError(`accumulate: image ${E[e]!.imageId} category ${cats[k]} evaluated twice`);
    }
    accumulateCategory(p, E, k, { T, R, K, A, M }, precision, recall, scores);
  }
  return { params: p, categoryIds: cats, T, R, K, A, M, precision, recall, scores };
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
  // concatenate every record's detections (each already <= maxDets[-1]); image order, then rank
  let N = 0;
  for (const e of E) N += e.numDt;
  const score = new Float64Array(N), rank = new Int32Array(N);
  let n = 0;
  for (const e of E) {
    const o = e.dataOffset + e.numDt; // dtScores (layout: records.ts)
    for (let j = 0; j < e.numDt; j++, n++) {
      score[n] = e.data[o + j]!;
      rank[n] = j;
    }
  }
  // one stable sort serves every maxDets: truncating each image to md keeps a subsequence
  const order = argsortDesc(score);
  const sel: Int32Array[] = p.maxDets.map((md) => {
    const s = new Int32Array(N);
    let c = 0;
    for (let j = 0; j < N; j++) if (rank[order[j]!]! < md) s[c++] = order[j]!;
    return s.slice(0, c);
  });
  const sortedScores = sel.map((s) => Float64Array.from(s, (i) => score[i]!));
  const rc = new Float64Array(N), pr = new Float64Array(N);
  const recThrs = p.recThrs;
  // one pass over the records (each record's arrays are contiguous): flags of every detection at
  // every (a, t) in concatenation order, bit0 = matched (dtm != 0), bit1 = ignored; and npig per a
  const flags = new Uint8Array(A * T * N);
  const npigA = new Float64Array(A);
  let q0 = 0;
  for (const e of E) {
    const D = e.numDt, G = e.numGt;
    if (e.numAreas !== A || e.numThrs !== T) throw new RangeError('accumulate: record shape does not match params');
    // dtMatches / gtIgnore / dtIgnore regions (layout: records.ts)
    const data = e.data, fl = e.flags;
    const oDtm = e.dataOffset + 2 * D + A * G, oGtIg = e.flagsOffset, oDtIg = oGtIg + A * G;
    for (let at = 0; at < A * T; at++) {
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
        const s = sel[m]!, sortedScore = sortedScores[m]!;
        const nd = s.length;
        if (m > 0 && nd === sel[m - 1]!.length) {
          // no image had more than the previous maxDets: same detections, same numbers
          recall[((t * K + k) * A + a) * M + m] = recall[((t * K + k) * A + a) * M + m - 1]!;
          for (let r = 0; r < R; r++) {
            const idx = (((t * R + r) * K + k) * A + a) * M + m;
            precision[idx] = precision[idx - 1]!;
            scores[idx] = scores[idx - 1]!;
          }
          continue;
        }
        let tp = 0, fp = 0;
        for (let j = 0; j < nd; j++) {
          const f = flags[fOff + s[j]!]!;
          if ((f & 2) === 0) {
            if (f & 1) tp++;
            else fp++;
          }
          rc[j] = tp / npig;
          pr[j] = tp / (fp + tp + SPACING_1);
        }
        recall[((t * K + k) * A + a) * M + m] = nd ? rc[nd - 1]! : 0;
        for (let j = nd - 1; j > 0; j--) if (pr[j]! > pr[j - 1]!) pr[j - 1] = pr[j]!;
        // searchsorted(rc, recThrs, 'left'); rc is non-decreasing and recThrs ascending
        let j = 0;
        for (let r = 0; r < R; r++) {
          while (j < nd && rc[j]! < recThrs[r]!) j++;
          const idx = (((t * R + r) * K + k) * A + a) * M + m;
          if (j < nd) {
            precision[idx] = pr[j]!;
            scores[idx] = sortedScore[j]!;
          } else {
            precision[idx] = 0;
            scores[idx] = 0;
          }
        }
      }
    }
  }
}
