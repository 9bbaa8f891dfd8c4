/**
 * @file Comparing two evaluations of the same dataset (docs/history.md#comparison): overall and
 * per-class AP and AP50 deltas (boxes and masks) and the loss means' deltas, each with a paired
 * percentile-bootstrap interval over images (src/eval/bootstrap.ts: the per-image records the jobs
 * kept are reused, the model is never run again), both evaluations' PR curves, a verdict per class,
 * and the diagnosis of `other` against `base`. A use case without HTTP: `compareEvaluations(store,
 * a, b, opts)` is also what a canary check calls before switching a default version.
 */
import { ApEvaluator, matchTable, pairedBootstrap, verdict, weightedMean, type ApValues, type PrCurveValues } from '../eval/bootstrap.js';
import { resolveParams, type ImageEvalRecord, type IouType } from '../eval/index.js';
import type { ComparisonView, DeltaView } from '../schemas/history.js';
import { LOSS_NAMES } from '../schemas/history.js';
import { iterateImageRecords, type HistoryRow, type Store } from '../store/index.js';
import { JobNotFoundError } from '../jobs/errors.js';
import { historyRow, summaryView, trendPoint } from './history.js';
import { EvaluationNotDone, NotComparable } from './history-errors.js';
import { decodeImageOutcome } from './records.js';
import { diagnoseTrend } from './trends.js';

/** Options of {@link compareEvaluations}. */
export interface CompareOptions {
  /** Only this owner's evaluations (null: any; access control off). */
  owner?: string | null;
  /** Bootstrap resamples (default 1000). */
  resamples?: number;
  /** Seed of the resampling (default 1). */
  seed?: number;
  /** Interval level (default 0.95). */
  confidence?: number;
  /** Include the PR curves (default true). */
  curves?: boolean;
  /** Expiry reference (default Date.now()). */
  now?: number;
}

const IOU_TYPES: readonly IouType[] = ['bbox', 'segm'];

/** One evaluation's per-image data, by image id. */
interface Loaded {
  row: HistoryRow;
  cells: Map<number, Partial<Record<IouType, ImageEvalRecord[]>>>;
  losses: Map<number, Record<string, number> | null>;
}

async function load(store: Store, id: string, field: string, opts: CompareOptions, now: number): Promise<Loaded> {
  const row = await historyRow(store, id, opts.owner ?? null, now);
  if (!row) throw new JobNotFoundError(id, field);
  if (row.status !== 'done') throw new EvaluationNotDone(row.id, row.status, field);
  if (!row.datasetId) throw new NotComparable(`Evaluation "${row.id}" is not an evaluation of a dataset: only dataset evaluations keep what a comparison needs`, field);
  const cells = new Map<number, Partial<Record<IouType, ImageEvalRecord[]>>>();
  const losses = new Map<number, Record<string, number> | null>();
  for await (const rec of iterateImageRecords(store, row.id)) {
    if (!(rec.record instanceof Uint8Array)) continue;
    const o = decodeImageOutcome(rec.record);
    for (const im of o.records.images) cells.set(im.imageId, im.coco);
    losses.set(o.imageId, o.losses as unknown as Record<string, number> | null);
  }
  if (cells.size === 0) throw new NotComparable(`Evaluation "${row.id}" has no per-image records`, field);
  return { row, cells, losses };
}

const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);

function delta(base: number, other: number, lo: number, hi: number, valid: number, higherIsBetter: boolean): DeltaView {
  const b = finite(base), o = finite(other);
  return {
    base: b, other: o, delta: b !== null && o !== null ? o - b : null,
    ci_low: finite(lo), ci_high: finite(hi), resamples: valid, verdict: verdict(lo, hi, higherIsBetter),
  };
}

/**
 * Compares `otherId` with `baseId` (deltas are other − base).
 * @throws JobNotFoundError (unknown or another owner's: field params.id / params.other_id),
 *   EvaluationNotDone, NotComparable (different datasets, not dataset evaluations)
 */
export async function compareEvaluations(store: Store, baseId: string, otherId: string, opts: CompareOptions = {}): Promise<ComparisonView> {
  const now = opts.now ?? Date.now();
  const resamples = opts.resamples ?? 1000;
  const seed = opts.seed ?? 1;
  const confidence = opts.confidence ?? 0.95;
  const A = await load(store, baseId, 'params.id', opts, now);
  const B = await load(store, otherId, 'params.other_id', opts, now);
  if (A.row.datasetId !== B.row.datasetId) {
    throw new NotComparable(`Evaluations "${A.row.id}" and "${B.row.id}" are of different datasets: only evaluations of the same dataset can be compared`, 'params.other_id');
  }
  const dataset = await store.getDataset(A.row.datasetId!);
  const categories = [...(dataset?.categories ?? [])].sort((a, b) => a.id - b.id);
  const ids = [...A.cells.keys()].filter((id) => B.cells.has(id)).sort((a, b) => a - b);
  const n = ids.length;

  // the IoU types both evaluations computed
  const types = IOU_TYPES.filter((t) => ids.some((id) => A.cells.get(id)?.[t]) && ids.some((id) => B.cells.get(id)?.[t]));
  const evals = types.map((t) => {
    const params = resolveParams(t, undefined);
    const table = (L: Loaded) => matchTable(ids.map((id) => L.cells.get(id)?.[t] ?? []), categories, params);
    return { t, a: new ApEvaluator(table(A)), b: new ApEvaluator(table(B)) };
  });
  // losses: only when every image of both has all of them finite
  const lossArrays = (L: Loaded): Float64Array[] | null => {
    const out = LOSS_NAMES.map(() => new Float64Array(n));
    for (let i = 0; i < n; i++) {
      const l = L.losses.get(ids[i]!);
      if (!l) return null;
      for (let s = 0; s < LOSS_NAMES.length; s++) {
        const v = l[LOSS_NAMES[s]!];
        if (typeof v !== 'number' || !Number.isFinite(v)) return null;
        out[s]![i] = v;
      }
    }
    return out;
  };
  const la = lossArrays(A), lb = lossArrays(B);
  const withLosses = la !== null && lb !== null && n > 0;
  const K = categories.length;

  // statistic vector layout: per IoU type [ap, ap50, classAp×K, classAp50×K]; then the 6 losses
  const per = 2 + 2 * K;
  const S = evals.length * per + (withLosses ? LOSS_NAMES.length : 0);
  const values = (w: ArrayLike<number>): { a: Float64Array; b: Float64Array } => {
    const a = new Float64Array(S), b = new Float64Array(S);
    evals.forEach((e, i) => {
      const put = (out: Float64Array, v: ApValues): void => {
        const o = i * per;
        out[o] = v.ap;
        out[o + 1] = v.ap50;
        out.set(v.classAp, o + 2);
        out.set(v.classAp50, o + 2 + K);
      };
      put(a, e.a.evaluate(w));
      put(b, e.b.evaluate(w));
    });
    if (withLosses) {
      const o = evals.length * per;
      for (let s = 0; s < LOSS_NAMES.length; s++) {
        a[o + s] = weightedMean(la![s]!, w);
        b[o + s] = weightedMean(lb![s]!, w);
      }
    }
    return { a, b };
  };
  const point = values(new Float64Array(n).fill(1));
  const boot = pairedBootstrap(n, (w) => {
    const { a, b } = values(w);
    for (let s = 0; s < S; s++) b[s] = b[s]! - a[s]!;
    return b;
  }, { resamples, seed, confidence });
  const d = (s: number, higherIsBetter = true): DeltaView => delta(point.a[s]!, point.b[s]!, boot.lo[s]!, boot.hi[s]!, boot.valid[s]!, higherIsBetter);

  const iouTypes: ComparisonView['iou_types'] = {};
  evals.forEach((e, i) => {
    const o = i * per;
    const gts = e.a.table.categories.map((c) => c.npig.reduce((x, y) => x + y, 0));
    iouTypes[e.t] = {
      overall: { ap: d(o), ap50: d(o + 1) },
      classes: categories.map((c, k) => {
        const ap = d(o + 2 + k);
        return { category_id: c.id, name: c.name, gts: gts[k]!, ap, ap50: d(o + 2 + K + k), verdict: ap.verdict };
      }),
    };
  });
  let losses: ComparisonView['losses'] = null;
  if (withLosses) {
    const o = evals.length * per;
    losses = Object.fromEntries(LOSS_NAMES.map((k, s) => [k, d(o + s, false)])) as NonNullable<ComparisonView['losses']>;
  }
  let prCurves: ComparisonView['pr_curves'] = null;
  if (opts.curves ?? true) {
    const recall = Array.from(resolveParams('bbox', undefined).recThrs);
    const curvesOf = (c: PrCurveValues) => ({
      overall: { iou_mean: c.overallMean, iou_50: c.overall50 },
      classes: categories.map((cat, k) => ({ category_id: cat.id, name: cat.name, curves: { iou_mean: c.iouMean[k]!, iou_50: c.iou50[k]! } })),
    });
    prCurves = { recall };
    for (const e of evals) prCurves[e.t] = { base: curvesOf(e.a.curves()), other: curvesOf(e.b.curves()) };
  }
  return {
    base: summaryView(A.row),
    other: summaryView(B.row),
    dataset: { id: A.row.datasetId!, name: dataset?.name ?? A.row.datasetName },
    bootstrap: { method: 'paired_percentile', images: n, resamples, seed, confidence },
    iou_types: iouTypes,
    losses,
    pr_curves: prCurves,
    flags: diagnoseTrend([trendPoint(A.row), trendPoint(B.row)], trendPoint(A.row)),
  };
}
