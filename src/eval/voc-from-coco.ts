/**
 * @file The VOC table from COCO ground truth and results, building `eval_map`'s inputs the way
 * mmdetection's `CocoDataset` does (docs/evaluation.md): classes in `categories` file order, images
 * in `images` file order, GT boxes skipped when `ignore` is set, when they miss the image or when
 * `area <= 0 || w < 1 || h < 1`; crowd boxes become ignored boxes; boxes and detections become
 * float32 xyxy (x+w summed in double first).
 *
 * In three steps so that a set can be evaluated image by image (src/eval/evaluation.ts):
 * {@link prepareVoc} (the ground truth, once), {@link vocImageRecords} (tp/fp of one batch of
 * images' detections, per class: `tpfp_default`), {@link vocTable} (the per-class sort and AP over
 * every image's records, in image file order). {@link vocFromCoco} is the three at once.
 */
import type { CocoGroundTruth, CocoResults } from './coco/load.js';
import type { WarningCollector } from './json-check.js';
import { classResult, meanAveragePrecision, tableRecall, tpfpDefault, type VocMode } from './voc.js';

/** The VOC block of the /evaluate answer (mmdet `eval_map` + `print_map_summary` values). */
export interface VocBlock {
  iou_thr: number;
  mode: VocMode;
  classes: Array<{ class: string; category_id: number; gts: number; dets: number; recall: number; ap: number }>;
  mAP: number;
}

export interface VocFromCocoOptions {
  iouThr?: number;
  mode?: VocMode;
  useLegacyCoordinate?: boolean;
  warnings?: WarningCollector;
}

/** The ground truth as eval_map reads it, grouped per image (file position) and class label. */
export interface VocGroundTruth {
  /** [C] label (categories file order) of each sorted category position. */
  labelOf: Int32Array;
  /** [I] file position of each sorted image position. */
  filePos: Int32Array;
  /** Per file position: GT boxes [n×4] of each label, and the ignored (crowd) ones. */
  gtBy: Array<Map<number, Float32Array>>;
  ignBy: Array<Map<number, Float32Array>>;
  /** [C] GT boxes per label (`num_gts`). */
  numGts: Float64Array;
}

/** tp/fp of one image's detections of one class (mmdet `tpfp_default`, detections in input order). */
export interface VocClassRecord {
  label: number;
  /** [n] scores as float32 values. */
  scores: Float32Array;
  tp: Uint8Array;
  fp: Uint8Array;
}

/** The VOC records of one image: its file position and its classes' tp/fp. */
export interface VocImageRecord {
  filePos: number;
  classes: VocClassRecord[];
}

/** The ground truth of the VOC table; adds the `voc-skipped-gt` warning when boxes are left out. */
export function prepareVoc(gt: CocoGroundTruth, warnings?: WarningCollector): VocGroundTruth {
  const I = gt.imageIds.length, C = gt.categoryIds.length;
  const labelOf = new Int32Array(C);
  gt.categoryFileOrder.forEach((k, label) => { labelOf[k] = label; });
  const filePos = new Int32Array(I);
  gt.imageFileOrder.forEach((k, pos) => { filePos[k] = pos; });

  // kept boxes grouped by (file position, crowd, label), file order within a group, in one buffer
  const a = gt.anns;
  const keep = new Int32Array(a.count);
  const key = new Float64Array(a.count);
  let nk = 0, skipped = 0, firstSkipped = '';
  for (let j = 0; j < a.count; j++) {
    const img = a.image[j]!, pos = filePos[img]!;
    const W = gt.widths[img]!, H = gt.heights[img]!;
    const x = a.bbox[4 * j]!, y = a.bbox[4 * j + 1]!, w = a.bbox[4 * j + 2]!, h = a.bbox[4 * j + 3]!;
    const interW = Math.max(0, Math.min(x + w, W) - Math.max(x, 0));
    const interH = Math.max(0, Math.min(y + h, H) - Math.max(y, 0));
    if (a.ignoreKey[j] || interW * interH === 0 || a.area[j]! <= 0 || w < 1 || h < 1) {
      if (skipped++ === 0) firstSkipped = `${gt.path}.annotations[${a.source[j]}]`;
      continue;
    }
    keep[nk] = j;
    key[nk++] = (pos * 2 + (a.iscrowd[j] ? 1 : 0)) * (C + 1) + labelOf[a.category[j]!]!;
  }
  if (skipped > 0) {
    warnings?.addSummary('voc-skipped-gt', firstSkipped, `${skipped} ground-truth box(es) left out of the VOC table as mmdetection does (ignore flag, outside the image, area <= 0, or width/height < 1)`);
  }
  const idx = Array.from(keep.subarray(0, nk).keys());
  idx.sort((p, q) => key[p]! - key[q]! || p - q);
  // float32 xyxy, x + w summed in double first (the Float32Array store rounds once)
  const all = new Float32Array(4 * nk);
  idx.forEach((q, o) => {
    const j = keep[q]!;
    const x = a.bbox[4 * j]!, y = a.bbox[4 * j + 1]!;
    all[4 * o] = x;
    all[4 * o + 1] = y;
    all[4 * o + 2] = x + a.bbox[4 * j + 2]!;
    all[4 * o + 3] = y + a.bbox[4 * j + 3]!;
  });
  const gtBy: Array<Map<number, Float32Array>> = Array.from({ length: I }, () => new Map());
  const ignBy: Array<Map<number, Float32Array>> = Array.from({ length: I }, () => new Map());
  const numGts = new Float64Array(C);
  for (let o = 0; o < nk;) {
    const k0 = key[idx[o]!]!;
    let e = o + 1;
    while (e < nk && key[idx[e]!] === k0) e++;
    const label = k0 % (C + 1), rest = (k0 - label) / (C + 1), crowd = rest % 2, pos = (rest - crowd) / 2;
    (crowd ? ignBy : gtBy)[pos]!.set(label, all.subarray(4 * o, 4 * e));
    if (!crowd) numGts[label]! += e - o;
    o = e;
  }
  return { labelOf, filePos, gtBy, ignBy, numGts };
}

const NONE = new Float32Array(0);

/** Results of a batch grouped by image, then label, input order within (computed once per batch). */
interface DtGroups {
  /** result indices: image ascending, label ascending, input order */
  order: Int32Array;
  /** image i's results are order[start[i] .. start[i+1]) */
  start: Int32Array;
  label: Int32Array;
}

const groupsCache = new WeakMap<CocoResults, WeakMap<VocGroundTruth, DtGroups>>();
let detScratch = new Float32Array(640);

function groupsOf(vgt: VocGroundTruth, dt: CocoResults): DtGroups {
  let byGt = groupsCache.get(dt);
  if (!byGt) groupsCache.set(dt, (byGt = new WeakMap()));
  let g = byGt.get(vgt);
  if (g) return g;
  const I = vgt.filePos.length, n = dt.count;
  const start = new Int32Array(I + 1), order = new Int32Array(n), label = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    start[dt.image[r]! + 1]!++;
    label[r] = vgt.labelOf[dt.category[r]!]!;
  }
  for (let i = 0; i < I; i++) start[i + 1]! += start[i]!;
  const fill = start.slice(0, I);
  for (let r = 0; r < n; r++) order[fill[dt.image[r]!]!++] = r;
  // stable insertion sort by label inside each image (a handful of results each)
  for (let i = 0; i < I; i++) {
    const lo = start[i]!, hi = start[i + 1]!;
    for (let q = lo + 1; q < hi; q++) {
      const v = order[q]!, lv = label[v]!;
      let p = q - 1;
      while (p >= lo && label[order[p]!]! > lv) {
        order[p + 1] = order[p]!;
        p--;
      }
      order[p + 1] = v;
    }
  }
  g = { order, start, label };
  byGt.set(vgt, g);
  return g;
}

/**
 * tp/fp of the detections of `dt` on the given sorted image positions (default: every image with a
 * detection), per class, as eval_map computes them image by image. Images without detections give
 * no record (they add nothing to any class). The results are grouped by image once per `dt`, so
 * feeding the images of a batch in chunks costs no more than one call.
 */
export function vocImageRecords(
  vgt: VocGroundTruth, dt: CocoResults, opts: { iouThr: number; useLegacyCoordinate?: boolean }, images?: Iterable<number>,
): VocImageRecord[] {
  const { order, start, label } = groupsOf(vgt, dt);
  const out: VocImageRecord[] = [];
  const one = (img: number): void => {
    const lo = start[img]!, hi = start[img + 1]!;
    if (lo === hi) return;
    const pos = vgt.filePos[img]!;
    const classes: VocClassRecord[] = [];
    for (let q = lo; q < hi;) {
      const lab = label[order[q]!]!;
      let e = q + 1;
      while (e < hi && label[order[e]!] === lab) e++;
      const n = e - q;
      if (detScratch.length < 5 * n) detScratch = new Float32Array(Math.max(5 * n, 2 * detScratch.length));
      const dets = detScratch.subarray(0, 5 * n);
      for (let i = 0; i < n; i++) {
        const r = order[q + i]!;
        const x = dt.bbox[4 * r]!, y = dt.bbox[4 * r + 1]!, o = 5 * i;
        dets[o] = x;
        dets[o + 1] = y;
        dets[o + 2] = x + dt.bbox[4 * r + 2]!; // summed in double, then stored as float32
        dets[o + 3] = y + dt.bbox[4 * r + 3]!;
        dets[o + 4] = dt.score[r]!;
      }
      const { tp, fp } = tpfpDefault(dets, vgt.gtBy[pos]!.get(lab) ?? NONE, vgt.ignBy[pos]!.get(lab) ?? NONE, opts.iouThr, opts.useLegacyCoordinate ?? false);
      const scores = new Float32Array(n);
      for (let i = 0; i < n; i++) scores[i] = dets[5 * i + 4]!;
      classes.push({ label: lab, scores, tp, fp });
      q = e;
    }
    out.push({ filePos: pos, classes });
  };
  if (images === undefined) {
    for (let img = 0; img < vgt.filePos.length; img++) one(img);
  } else {
    const seen = new Set<number>();
    for (const img of images) {
      if (seen.has(img)) continue;
      seen.add(img);
      one(img);
    }
  }
  return out;
}

/**
 * The VOC block from every image's records (any order, each image once): per class, detections of
 * all images concatenated in image file order, then eval_map's sort and AP. Class order = GT
 * `categories` order; recall and AP are float32 values as mmdet reports them.
 */
export function vocTable(gt: CocoGroundTruth, vgt: VocGroundTruth, records: readonly VocImageRecord[], opts: { iouThr: number; mode: VocMode }): VocBlock {
  const C = gt.categoryIds.length;
  const ordered = [...records].sort((x, y) => x.filePos - y.filePos);
  const perLabel: VocClassRecord[][] = Array.from({ length: C }, () => []);
  for (const rec of ordered) for (const c of rec.classes) perLabel[c.label]?.push(c);
  const results = perLabel.map((list, label) => {
    let n = 0;
    for (const c of list) n += c.scores.length;
    const scores = new Float32Array(n), tp = new Uint8Array(n), fp = new Uint8Array(n);
    let o = 0;
    for (const c of list) {
      scores.set(c.scores, o);
      tp.set(c.tp, o);
      fp.set(c.fp, o);
      o += c.scores.length;
    }
    return classResult(vgt.numGts[label]!, scores, tp, fp, opts.mode);
  });
  return {
    iou_thr: opts.iouThr,
    mode: opts.mode,
    classes: results.map((res, label) => {
      const k = gt.categoryFileOrder[label]!;
      return { class: gt.categoryNames[k]!, category_id: gt.categoryIds[k]!, gts: res.numGts, dets: res.numDets, recall: tableRecall(res), ap: res.ap };
    }),
    mAP: meanAveragePrecision(results),
  };
}

/**
 * Per-class VOC AP/recall of `dt` against `gt` with mmdet's dataset conventions, plus mAP (the three
 * steps above at once). Equals mmdet `eval_map` on the same inputs (test/eval/voc.test.ts).
 */
export function vocFromCoco(gt: CocoGroundTruth, dt: CocoResults, options: VocFromCocoOptions = {}): VocBlock {
  const iouThr = options.iouThr ?? 0.5, mode = options.mode ?? 'area';
  const vgt = prepareVoc(gt, options.warnings);
  const records = vocImageRecords(vgt, dt, { iouThr, useLegacyCoordinate: options.useLegacyCoordinate ?? false });
  return vocTable(gt, vgt, records, { iouThr, mode });
}
