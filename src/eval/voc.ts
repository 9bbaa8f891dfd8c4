/**
 * @file mmdetection's VOC-style `eval_map` (mmdet/evaluation/functional/mean_ap.py, 2.25 / 3.x logic,
 * docs/evaluation.md#voc-table): per-class recall/AP with `tpfp_default` matching, modes 'area' (VOC2012)
 * and '11points' (VOC2007), any IoU threshold, and mmdet's float32 arithmetic emulated with
 * `Math.fround`. Also `print_map_summary`'s table. Inputs mirror mmdet's: per image, per class `[n×5]`
 * float32 detections `x1,y1,x2,y2,score`; per image GT boxes/labels (+ ignored boxes). Ties in score are
 * ordered stably (mmdet's quicksort order is not reproducible, docs/evaluation.md#voc-table).
 */
import { mmdetIouF32 } from './box-iou.js';
import { argsortDesc, f32, formatFixed3, pairwiseSum, pairwiseSumF32, sortIndicesDesc } from './numeric.js';

export type VocMode = 'area' | '11points';

/** One image's ground truth, as mmdet's dataset `get_ann_info` returns it. */
export interface VocAnnotation {
  /** [n×4] xyxy (float32). */
  bboxes: Float32Array;
  /** [n] class labels 0..C-1. */
  labels: Int32Array;
  /** [m×4] xyxy boxes to ignore (crowd). */
  bboxesIgnore?: Float32Array;
  /** [m] labels of the ignored boxes (mmdet uses ignored boxes only when these are given). */
  labelsIgnore?: Int32Array;
}

export interface EvalMapOptions {
  /** IoU threshold (compared in float32); default 0.5. */
  iouThr?: number;
  /** 'area' (default, eval_map's default) or '11points'. */
  mode?: VocMode;
  /** +1 on widths/heights (mmdet VOCMetric); default false (eval_map's default). */
  useLegacyCoordinate?: boolean;
}

/** Per-class output of {@link evalMap} (mmdet's `eval_results` entries). */
export interface VocClassResult {
  numGts: number;
  numDets: number;
  /** [numDets] recall after each detection (float64, score order). */
  recall: Float64Array;
  /** [numDets] precision after each detection (float32 values). */
  precision: Float32Array;
  /** AP as a float32 value. */
  ap: number;
}

/** float32 machine epsilon (`np.finfo(np.float32).eps`). */
export const EPS_F32 = 1.1920928955078125e-7;

let best = new Float64Array(64);
let arg = new Int32Array(64);
let order = new Int32Array(64);
let covered = new Uint8Array(64);
let scoreBuf = new Float64Array(64);

/**
 * {@link tpfpDefault} writing into `tp`/`fp` at `offset` (scratch buffers reused, no allocation in
 * the common case).
 */
function tpfpInto(
  dets: Float32Array, gts: Float32Array, ignore: Float32Array, iouThr: number, extra: number,
  tp: Uint8Array, fp: Uint8Array, offset: number,
): void {
  const n = Math.floor(dets.length / 5), g = Math.floor(gts.length / 4), gi = Math.floor(ignore.length / 4);
  const G = g + gi;
  if (G === 0) {
    fp.fill(1, offset, offset + n);
    return;
  }
  if (best.length < n) {
    const m = Math.max(n, 2 * best.length);
    best = new Float64Array(m);
    arg = new Int32Array(m);
    order = new Int32Array(m);
    scoreBuf = new Float64Array(m);
  }
  if (covered.length < g) covered = new Uint8Array(Math.max(g, 2 * covered.length));
  const thr = f32(iouThr);
  for (let i = 0; i < n; i++) {
    let b = -Infinity, a = 0;
    for (let k = 0; k < G; k++) {
      const v = k < g ? mmdetIouF32(dets, 5 * i, gts, 4 * k, extra) : mmdetIouF32(dets, 5 * i, ignore, 4 * (k - g), extra);
      if (v > b) { b = v; a = k; }
    }
    best[i] = b;
    arg[i] = a;
    order[i] = i;
    scoreBuf[i] = dets[5 * i + 4]!;
  }
  sortIndicesDesc(order, n, scoreBuf);
  covered.fill(0, 0, g);
  for (let q = 0; q < n; q++) {
    const i = order[q]!;
    if (best[i]! >= thr) {
      const m = arg[i]!;
      if (m >= g) continue; // matched an ignored box: neither tp nor fp
      if (!covered[m]) {
        covered[m] = 1;
        tp[offset + i] = 1;
      } else fp[offset + i] = 1;
    } else fp[offset + i] = 1;
  }
}

/**
 * tp/fp flags of one image's detections of one class. `dets` is [n×5], `gts` [g×4], `ignore`
 * [m×4]. Mirrors `mean_ap.py: tpfp_default` without area ranges: each detection takes its best IoU
 * over normal + ignored GT (first index on ties), in score order; no fallback to a second-best GT.
 * IoU and the threshold comparison are float32.
 */
export function tpfpDefault(
  dets: Float32Array,
  gts: Float32Array,
  ignore: Float32Array,
  iouThr = 0.5,
  useLegacyCoordinate = false,
): { tp: Uint8Array; fp: Uint8Array } {
  const n = Math.floor(dets.length / 5);
  const tp = new Uint8Array(n), fp = new Uint8Array(n);
  tpfpInto(dets, gts, ignore, iouThr, useLegacyCoordinate ? 1 : 0, tp, fp, 0);
  return { tp, fp };
}

/**
 * Average precision from recall (float64) and precision (float32 values) curves, returned as a
 * float32 value. Mirrors `mean_ap.py: average_precision`: 'area' integrates the right-envelope of
 * precision with numpy's pairwise sum; '11points' averages max precision at recall >= k*0.1 in float32.
 */
export function averagePrecision(recall: ArrayLike<number>, precision: ArrayLike<number>, mode: VocMode = 'area'): number {
  const n = recall.length;
  if (mode === 'area') {
    const mrec = new Float64Array(n + 2), mpre = new Float64Array(n + 2);
    mrec[n + 1] = 1;
    for (let i = 0; i < n; i++) {
      mrec[i + 1] = recall[i]!;
      mpre[i + 1] = precision[i]!;
    }
    for (let i = n + 1; i > 0; i--) if (mpre[i]! > mpre[i - 1]!) mpre[i - 1] = mpre[i]!;
    const terms: number[] = [];
    for (let i = 0; i <= n; i++) {
      if (mrec[i + 1] !== mrec[i]) terms.push((mrec[i + 1]! - mrec[i]!) * mpre[i + 1]!);
    }
    return f32(pairwiseSum(terms));
  }
  let ap = 0;
  for (let k = 0; k < 11; k++) {
    const thr = k * 0.1;
    let prec = 0;
    let any = false;
    for (let j = 0; j < n; j++) {
      if (recall[j]! >= thr) {
        const p = precision[j]!;
        if (!any || p > prec) prec = p;
        any = true;
      }
    }
    ap = f32(ap + prec);
  }
  return f32(ap / 11);
}

/** Boxes of each label in one image, keeping their order (mmdet `get_cls_results`). */
function groupByLabel(boxes: Float32Array | undefined, labels: Int32Array | undefined): Map<number, Float32Array> {
  const out = new Map<number, Float32Array>();
  if (!boxes || !labels) return out;
  const counts = new Map<number, number>();
  for (let i = 0; i < labels.length; i++) counts.set(labels[i]!, (counts.get(labels[i]!) ?? 0) + 1);
  const fill = new Map<number, number>();
  for (const [c, n] of counts) {
    out.set(c, new Float32Array(4 * n));
    fill.set(c, 0);
  }
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i]!, k = fill.get(c)!;
    out.get(c)!.set(boxes.subarray(4 * i, 4 * i + 4), 4 * k);
    fill.set(c, k + 1);
  }
  return out;
}

/**
 * mmdet `eval_map` without scale ranges: `detResults[image][class]` is `[n×5]` float32, `annotations`
 * one per image; `numClasses` defaults to `detResults[0].length`. Returns per-class results and mAP
 * (float32 mean of the APs of classes with GT, 0 if none). Mirrors `mean_ap.py: eval_map`
 * (`get_cls_results` + `tpfp_default` per image, then per-class cumulative tp/fp).
 */
export function evalMap(
  detResults: ReadonlyArray<ReadonlyArray<Float32Array>>,
  annotations: readonly VocAnnotation[],
  options: EvalMapOptions & { numClasses?: number } = {},
): { meanAp: number; results: VocClassResult[] } {
  if (detResults.length !== annotations.length) throw new RangeError('evalMap: one detection list per annotation is required');
  const C = options.numClasses ?? detResults[0]?.length ?? 0;
  const iouThr = options.iouThr ?? 0.5, mode = options.mode ?? 'area';
  const extra = options.useLegacyCoordinate ? 1 : 0;
  const empty = new Float32Array(0);
  const gtBy = annotations.map((a) => groupByLabel(a.bboxes, a.labels));
  const ignBy = annotations.map((a) => (a.labelsIgnore ? groupByLabel(a.bboxesIgnore, a.labelsIgnore) : new Map<number, Float32Array>()));
  const numGtsOf = new Float64Array(C);
  for (const m of gtBy) for (const [c, b] of m) if (c >= 0 && c < C) numGtsOf[c]! += b.length / 4;
  const results: VocClassResult[] = [];
  for (let c = 0; c < C; c++) {
    let numDets = 0;
    for (const per of detResults) numDets += Math.floor((per[c]?.length ?? 0) / 5);
    const scores = new Float32Array(numDets), tp = new Uint8Array(numDets), fp = new Uint8Array(numDets);
    let o = 0;
    detResults.forEach((per, i) => {
      const dets = per[c];
      if (!dets || dets.length < 5) return;
      const n = Math.floor(dets.length / 5);
      tpfpInto(dets, gtBy[i]!.get(c) ?? empty, ignBy[i]!.get(c) ?? empty, iouThr, extra, tp, fp, o);
      for (let j = 0; j < n; j++) scores[o + j] = dets[5 * j + 4]!;
      o += n;
    });
    results.push(classResult(numGtsOf[c]!, scores, tp, fp, mode));
  }
  return { meanAp: meanAveragePrecision(results), results };
}

/**
 * One class's recall/precision/AP from its detections over all images (`scores`, `tp`, `fp` in
 * image order, each image's in its own order): the tail of `mean_ap.py: eval_map`'s class loop
 * (one stable sort by score, cumulative tp/fp).
 */
export function classResult(numGts: number, scores: Float32Array, tp: Uint8Array, fp: Uint8Array, mode: VocMode): VocClassResult {
  const numDets = scores.length;
  const recall = new Float64Array(numDets), precision = new Float32Array(numDets);
  const denomGt = Math.max(numGts, EPS_F32);
  let ctp = 0, cfp = 0;
  const ord = argsortDesc(scores);
  for (let j = 0; j < numDets; j++) {
    const d = ord[j]!;
    ctp += tp[d]!;
    cfp += fp[d]!;
    recall[j] = ctp / denomGt;
    precision[j] = ctp / Math.max(ctp + cfp, EPS_F32); // Float32Array store = float32 division
  }
  return { numGts, numDets, recall, precision, ap: averagePrecision(recall, precision, mode) };
}

/** mAP as eval_map gives it: float32 mean of the APs of classes with GT, 0 when none has GT. */
export function meanAveragePrecision(results: readonly VocClassResult[]): number {
  const aps = results.filter((r) => r.numGts > 0).map((r) => r.ap);
  return aps.length ? f32(pairwiseSumF32(aps) / aps.length) : 0;
}

/** Table recall: float32 of the last recall, 0 without detections (`print_map_summary`). */
export function tableRecall(r: VocClassResult): number {
  return r.numDets > 0 ? f32(r.recall[r.numDets - 1]!) : 0;
}

/**
 * mmdet `print_map_summary`'s terminaltables AsciiTable (with `inner_footing_row_border`): columns
 * class | gts | dets | recall | ap, then an mAP footer. Numbers use Python `{:.3f}` rounding.
 */
export function formatMapTable(
  rows: ReadonlyArray<{ class: string; gts: number; dets: number; recall: number; ap: number }>,
  mAP: number,
): string {
  const data: string[][] = [['class', 'gts', 'dets', 'recall', 'ap']];
  for (const r of rows) data.push([r.class, String(r.gts), String(r.dets), formatFixed3(r.recall), formatFixed3(r.ap)]);
  const footer = ['mAP', '', '', '', formatFixed3(mAP)];
  const widths = data[0]!.map((_, c) => Math.max(...[...data, footer].map((row) => row[c]!.length)));
  const border = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const line = (row: string[]): string => `|${row.map((cell, c) => ` ${cell.padEnd(widths[c]!)} `).join('|')}|`;
  return [border, line(data[0]!), border, ...data.slice(1).map(line), border, line(footer), border].join('\n');
}
