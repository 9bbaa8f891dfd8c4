/**
 * @file The paired bootstrap of COCO AP over images (docs/history.md#comparison), a pure core: no
 * clock, no I/O, no Math.random (resamples come from the seeded mulberry32, prng.ts).
 *
 * 1. {@link matchTable} turns one evaluation's per-image COCO records (the `evalImgs` cells a job
 *    keeps per image, records.ts) into a compact table per category: the detections in the order
 *    `COCOeval.accumulate` ranks them (images in ascending id order, then a stable sort by score),
 *    each with its image and, per IoU threshold, whether it is a true positive, a false positive or
 *    ignored (area range `all`, the last maxDets), and the non-ignored GT count per image. Matching
 *    is never redone.
 * 2. {@link ApEvaluator} computes AP from such a table for a vector of image WEIGHTS (how many times
 *    each image is in a resample): every detection counts `w` times in the cumulative TP/FP sums and
 *    every image's GT `w` times in the recall denominator — what accumulate gives on the resample
 *    with duplicated images, since a detection repeated w times only adds points that the precision
 *    envelope and the recall lookup discard (docs/history.md proves it). With all weights 1 it is
 *    `accumulate` itself: the same AP as the evaluation's `stats[0]` / `stats[1]` (up to float
 *    summation order, ~1e-16).
 * 3. {@link pairedBootstrap} draws B resamples of n image indices with replacement, uniformly (the
 *    SAME resample for both evaluations: paired), evaluates a vector of statistics (deltas) on each
 *    and gives percentile intervals (linear interpolation between order statistics, numpy's default).
 */
import type { ImageEvalRecord } from './coco/records.js';
import { mulberry32 } from './prng.js';

/** pycocotools `np.spacing(1)`, added to the precision denominator. */
const SPACING_1 = 2 ** -52;

/** The detections and GT counts of one category (see the file header). */
export interface CategoryTable {
  id: number;
  name: string;
  /** [n] non-ignored GT of the category in each image. */
  npig: Float64Array;
  /** [D] image position of each detection, in accumulate order. */
  image: Int32Array;
  /** [T×D] per IoU threshold t and detection j (t-major): 1 = true positive, 2 = false positive, 0 = ignored. */
  flags: Uint8Array;
}

/** One evaluation, one IoU type, as the bootstrap needs it. */
export interface MatchTable {
  /** Images (positions 0..n-1, ascending image id). */
  n: number;
  iouThrs: readonly number[];
  recThrs: readonly number[];
  categories: CategoryTable[];
}

/**
 * Builds the table of one IoU type from per-image records.
 * @param cellsByImage the COCO cells of each image position (ascending image id), of this IoU type
 * @param categories the GT categories (ascending id): the K axis
 * @param params the evaluation's IoU thresholds, recall thresholds and maxDets
 */
export function matchTable(
  cellsByImage: ReadonlyArray<readonly ImageEvalRecord[]>,
  categories: ReadonlyArray<{ id: number; name: string }>,
  params: { iouThrs: ArrayLike<number>; recThrs: ArrayLike<number>; maxDets: ArrayLike<number> },
): MatchTable {
  const n = cellsByImage.length;
  const T = params.iouThrs.length;
  const md = params.maxDets[params.maxDets.length - 1]!;
  const kOf = new Map(categories.map((c, k) => [c.id, k]));
  const perCat: Array<Array<{ pos: number; rec: ImageEvalRecord }>> = categories.map(() => []);
  cellsByImage.forEach((cells, pos) => {
    for (const rec of cells) {
      const k = kOf.get(rec.categoryId);
      if (k === undefined) throw new RangeError(`matchTable: record of unknown category ${rec.categoryId}`);
      perCat[k]!.push({ pos, rec });
    }
  });
  const out: CategoryTable[] = categories.map((c, k) => {
    const E = perCat[k]!;
    const npig = new Float64Array(n);
    let N = 0;
    for (const { rec } of E) N += Math.min(rec.numDt, md);
    const score = new Float64Array(N);
    const imageOf = new Int32Array(N);
    const raw = new Uint8Array(T * N);
    let q = 0;
    for (const { pos, rec } of E) {
      const D = rec.numDt, G = rec.numGt, A = rec.numAreas;
      if (rec.numThrs !== T) throw new RangeError('matchTable: record shape does not match params');
      const data = rec.data, fl = rec.flags;
      // area range 0 (`all`); regions as laid out in records.ts
      const oScores = rec.dataOffset + D, oDtm = rec.dataOffset + 2 * D + A * G, oGtIg = rec.flagsOffset, oDtIg = oGtIg + A * G;
      let g0 = 0;
      for (let g = 0; g < G; g++) if (fl[oGtIg + g] === 0) g0++;
      npig[pos] = g0;
      const Dk = Math.min(D, md);
      for (let j = 0; j < Dk; j++) {
        score[q + j] = data[oScores + j]!;
        imageOf[q + j] = pos;
        for (let t = 0; t < T; t++) {
          const ignored = fl[oDtIg + t * D + j] !== 0;
          raw[t * N + q + j] = ignored ? 0 : data[oDtm + t * D + j] !== 0 ? 1 : 2;
        }
      }
      q += Dk;
    }
    // stable sort by descending score (numpy mergesort of -score)
    const order = Int32Array.from({ length: N }, (_, i) => i).sort((a, b) => score[b]! - score[a]! || a - b);
    const image = new Int32Array(N);
    const flags = new Uint8Array(T * N);
    for (let j = 0; j < N; j++) {
      const o = order[j]!;
      image[j] = imageOf[o]!;
      for (let t = 0; t < T; t++) flags[t * N + j] = raw[t * N + o]!;
    }
    return { id: c.id, name: c.name, npig, image, flags };
  });
  return { n, iouThrs: Array.from(params.iouThrs), recThrs: Array.from(params.recThrs), categories: out };
}

/** AP of one weighting: per class (NaN: no GT in the weighted set) and overall (mean over classes with GT). */
export interface ApValues {
  /** [K] AP@[.5:.95] per category. */
  classAp: Float64Array;
  /** [K] AP at IoU 0.5 per category (NaN when the thresholds do not include 0.5). */
  classAp50: Float64Array;
  ap: number;
  ap50: number;
}

/** Precision at each recall threshold, per class: averaged over the IoU thresholds, and at IoU 0.5. */
export interface PrCurveValues {
  /** [K][R] (null: no GT). */
  iouMean: Array<Array<number | null>>;
  iou50: Array<Array<number | null>>;
  /** [R] mean over the classes with GT. */
  overallMean: Array<number | null>;
  overall50: Array<number | null>;
}

/**
 * Computes AP from a {@link MatchTable} for image weights (see the file header). One backward walk
 * over each category's ranked detections per weighting: the cumulative TP/FP counts of each point
 * are the totals (from per-image counts) minus what ranks after it, the precision envelope is the
 * running maximum from the right, and each recall threshold takes the envelope of the first point
 * whose recall reaches it (`searchsorted` left) — accumulate's numbers without storing the curve.
 * False positives only move the FP count: their point has the recall of the point ranked before it
 * (or 0) and no higher precision, so neither the envelope nor the lookup can see it.
 * Reuses its buffers.
 */
export class ApEvaluator {
  private readonly t50: number;
  /** Per category: the flags detection-major ([D×T]), so that a detection's weight is read once. */
  private readonly byDet: Uint8Array[];
  /** Per category: TP and FP detections of each image at each threshold ([n×T]). */
  private readonly imgTp: Float64Array[];
  private readonly imgFp: Float64Array[];
  private readonly tpC: Float64Array;
  private readonly fpC: Float64Array;
  private readonly env: Float64Array;
  private readonly rr: Int32Array;
  /** [T×R] precision at each recall threshold. */
  private readonly q: Float64Array;

  constructor(readonly table: MatchTable) {
    const T = table.iouThrs.length, R = table.recThrs.length, n = table.n;
    this.t50 = table.iouThrs.findIndex((x) => Math.abs(x - 0.5) < 1e-9);
    this.q = new Float64Array(T * R);
    this.tpC = new Float64Array(T);
    this.fpC = new Float64Array(T);
    this.env = new Float64Array(T);
    this.rr = new Int32Array(T);
    this.byDet = [];
    this.imgTp = [];
    this.imgFp = [];
    for (const c of table.categories) {
      const D = c.image.length;
      const out = new Uint8Array(D * T), tp = new Float64Array(n * T), fp = new Float64Array(n * T);
      for (let t = 0; t < T; t++) {
        for (let j = 0; j < D; j++) {
          const f = c.flags[t * D + j]!;
          out[j * T + t] = f;
          if (f === 1) tp[c.image[j]! * T + t]!++;
          else if (f === 2) fp[c.image[j]! * T + t]!++;
        }
      }
      this.byDet.push(out);
      this.imgTp.push(tp);
      this.imgFp.push(fp);
    }
  }

  /**
   * AP for `weights` ([n] non-negative: counts of each image in a resample; all 1 = the evaluation).
   * `curves`, when given, receives each class's precision at each recall threshold per IoU threshold
   * ([K][T][R]).
   */
  evaluate(weights: ArrayLike<number>, curves?: number[][][]): ApValues {
    const { categories, iouThrs, recThrs, n } = this.table;
    const K = categories.length, T = iouThrs.length, R = recThrs.length;
    const classAp = new Float64Array(K), classAp50 = new Float64Array(K);
    let sum = 0, sum50 = 0, withGt = 0;
    const tpC = this.tpC, fpC = this.fpC, env = this.env, rr = this.rr, q = this.q;
    for (let k = 0; k < K; k++) {
      const c = categories[k]!;
      let npig = 0;
      for (let i = 0; i < n; i++) npig += weights[i]! * c.npig[i]!;
      if (npig === 0) {
        classAp[k] = Number.NaN;
        classAp50[k] = Number.NaN;
        if (curves) curves[k] = [];
        continue;
      }
      // cumulative counts at the last point: the weighted totals
      tpC.fill(0);
      fpC.fill(0);
      const itp = this.imgTp[k]!, ifp = this.imgFp[k]!;
      for (let i = 0; i < n; i++) {
        const w = weights[i]!;
        if (w === 0) continue;
        for (let t = 0; t < T; t++) {
          tpC[t]! += w * itp[i * T + t]!;
          fpC[t]! += w * ifp[i * T + t]!;
        }
      }
      env.fill(0);
      rr.fill(R - 1);
      const flags = this.byDet[k]!, image = c.image;
      // points only where a detection counts (an ignored or zero-weight one repeats the previous point)
      for (let j = image.length - 1; j >= 0; j--) {
        const w = weights[image[j]!]!;
        if (w === 0) continue;
        const o = j * T;
        for (let t = 0; t < T; t++) {
          const f = flags[o + t]!;
          if (f === 0) continue;
          if (f === 2) {
            // a false positive: same recall as the point ranked before it and no higher precision,
            // so it changes neither the envelope nor the recall lookup; only the FP count moves
            fpC[t]! -= w;
            continue;
          }
          const tp = tpC[t]!;
          const rc = tp / npig;
          const pr = tp / (fpC[t]! + tp + SPACING_1);
          // thresholds above this point's recall are first reached by the next point
          let r = rr[t]!;
          const e = env[t]!;
          while (r >= 0 && recThrs[r]! > rc) q[t * R + r--] = e;
          rr[t] = r;
          if (pr > e) env[t] = pr;
          tpC[t] = tp - w;
        }
      }
      let apSum = 0;
      const perT: number[][] = [];
      for (let t = 0; t < T; t++) {
        for (let r = rr[t]!; r >= 0; r--) q[t * R + r] = env[t]!;
        let s = 0;
        for (let r = 0; r < R; r++) s += q[t * R + r]!;
        if (curves) perT.push(Array.from(q.subarray(t * R, t * R + R)));
        apSum += s / R;
        if (t === this.t50) classAp50[k] = s / R;
      }
      if (this.t50 < 0) classAp50[k] = Number.NaN;
      classAp[k] = apSum / T;
      if (curves) curves[k] = perT;
      sum += classAp[k]!;
      sum50 += classAp50[k]!;
      withGt++;
    }
    return { classAp, classAp50, ap: withGt ? sum / withGt : Number.NaN, ap50: withGt ? sum50 / withGt : Number.NaN };
  }

  /** The PR curves of the evaluation itself (all weights 1). */
  curves(): PrCurveValues {
    const { categories, recThrs } = this.table;
    const R = recThrs.length;
    const raw: number[][][] = [];
    this.evaluate(new Float64Array(this.table.n).fill(1), raw);
    const iouMean = categories.map((_, k) => {
      const perT = raw[k] ?? [];
      if (perT.length === 0) return new Array<number | null>(R).fill(null);
      return Array.from({ length: R }, (_, r) => perT.reduce((s, row) => s + row[r]!, 0) / perT.length);
    });
    const iou50 = categories.map((_, k) => {
      const row = this.t50 >= 0 ? raw[k]?.[this.t50] : undefined;
      return row ? [...row] : new Array<number | null>(R).fill(null);
    });
    const overall = (rows: Array<Array<number | null>>): Array<number | null> => Array.from({ length: R }, (_, r) => {
      const vals = rows.map((row) => row[r]).filter((v): v is number => v !== null && v !== undefined);
      return vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : null;
    });
    return { iouMean, iou50, overallMean: overall(iouMean), overall50: overall(iou50) };
  }
}

/** Weighted mean of per-image values (NaN when a weighted value is not finite or no weight). */
export function weightedMean(values: ArrayLike<number>, weights: ArrayLike<number>): number {
  let s = 0, w = 0;
  for (let i = 0; i < values.length; i++) {
    const wi = weights[i]!;
    if (wi === 0) continue;
    s += wi * values[i]!;
    w += wi;
  }
  return w > 0 ? s / w : Number.NaN;
}

/** Options of {@link pairedBootstrap}. */
export interface BootstrapOptions {
  /** Resamples (≥ 1). */
  resamples: number;
  /** Seed of mulberry32 (unsigned 32-bit). */
  seed: number;
  /** Two-sided level, e.g. 0.95. */
  confidence: number;
}

/** Intervals of each statistic. */
export interface BootstrapResult {
  /** [S] the statistic on the evaluation itself (all weights 1); NaN when undefined. */
  point: Float64Array;
  /** [S] percentile bounds (NaN when no resample gave a value). */
  lo: Float64Array;
  hi: Float64Array;
  /** [S] resamples where the statistic was defined (not NaN). */
  valid: Int32Array;
}

/** The q-quantile of sorted values, linear interpolation between order statistics (numpy `linear`). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const m = sorted.length;
  if (m === 0) return Number.NaN;
  const h = (m - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, m - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

/**
 * Paired percentile bootstrap over n images. `statistics(weights)` gives S values (e.g. deltas
 * other − base of AP per class, overall, loss means) for a weighting; it is called once with all
 * weights 1 (the point estimates), then once per resample with the counts of a uniform draw of n
 * indices with replacement. Draw b uses the values b·n … b·n + n − 1 of mulberry32(seed).
 */
export function pairedBootstrap(n: number, statistics: (weights: Uint32Array) => ArrayLike<number>, opts: BootstrapOptions): BootstrapResult {
  if (!Number.isInteger(opts.resamples) || opts.resamples < 1) throw new RangeError(`resamples must be a positive integer (got ${opts.resamples})`);
  if (!(opts.confidence > 0 && opts.confidence < 1)) throw new RangeError(`confidence must be in (0, 1) (got ${opts.confidence})`);
  const ones = new Uint32Array(n).fill(1);
  const point = Float64Array.from(statistics(ones));
  const S = point.length;
  const B = opts.resamples;
  const samples = Array.from({ length: S }, () => new Float64Array(B));
  const valid = new Int32Array(S);
  const rnd = mulberry32(opts.seed);
  const w = new Uint32Array(n);
  for (let b = 0; b < B; b++) {
    w.fill(0);
    for (let i = 0; i < n; i++) w[Math.floor(rnd() * n)]!++;
    if (n === 0) continue;
    const v = statistics(w);
    for (let s = 0; s < S; s++) {
      const x = v[s]!;
      if (!Number.isNaN(x)) samples[s]![valid[s]!++] = x;
    }
  }
  const alpha = (1 - opts.confidence) / 2;
  const lo = new Float64Array(S), hi = new Float64Array(S);
  for (let s = 0; s < S; s++) {
    const sorted = samples[s]!.subarray(0, valid[s]!).sort();
    lo[s] = quantileSorted(sorted, alpha);
    hi[s] = quantileSorted(sorted, 1 - alpha);
  }
  return { point, lo, hi, valid };
}

/** `better` / `worse` when the interval excludes 0 on that side (`higherIsBetter` false: losses), else `no_evidence`. */
export function verdict(lo: number, hi: number, higherIsBetter = true): 'better' | 'worse' | 'no_evidence' {
  if (Number.isNaN(lo) || Number.isNaN(hi)) return 'no_evidence';
  if (lo > 0) return higherIsBetter ? 'better' : 'worse';
  if (hi < 0) return higherIsBetter ? 'worse' : 'better';
  return 'no_evidence';
}
