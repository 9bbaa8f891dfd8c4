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

/** Boxes of each label, in order (mmdet `get_cls_results`). */
function groupByLabel(boxes: number[], labels: number[]): Map<number, Float32Array> {
  const out = new Map<number, number[]>();
  labels.forEach((c, i) => {
    const list = out.get(c) ?? [];
    list.push(boxes[4 * i]!, boxes[4 * i + 1]!, boxes[4 * i + 2]!, boxes[4 * i + 3]!);
    out.set(c, list);
  });
  return new Map([...out].map(([c, b]) => [c, Float32Array.from(b)]));
}

/** The ground truth of the VOC table; adds the `voc-skipped-gt` warning when boxes are left out. */
export function prepareVoc(gt: CocoGroundTruth, warnings?: WarningCollector): VocGroundTruth {
  const I = gt.imageIds.length, C = gt.categoryIds.length;
  const labelOf = new Int32Array(C);
  gt.categoryFileOrder.forEach((k, label) => { labelOf[k] = label; });
  const filePos = new Int32Array(I);
  gt.imageFileOrder.forEach((k, pos) => { filePos[k] = pos; });

  const boxes: number[][] = Array.from({ length: I }, () => []);
  const labels: number[][] = Array.from({ length: I }, () => []);
  const ignBoxes: number[][] = Array.from({ length: I }, () => []);
  const ignLabels: number[][] = Array.from({ length: I }, () => []);
  const a = gt.anns;
  let skipped = 0, firstSkipped = '';
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
    // float32 xyxy, x + w summed in double first (the Float32Array store rounds once)
    (a.iscrowd[j] ? ignBoxes[pos]! : boxes[pos]!).push(x, y, x + w, y + h);
    (a.iscrowd[j] ? ignLabels[pos]! : labels[pos]!).push(labelOf[a.category[j]!]!);
  }
  if (skipped > 0) {
    warnings?.addSummary('voc-skipped-gt', firstSkipped, `${skipped} ground-truth box(es) left out of the VOC table as mmdetection does (ignore flag, outside the image, area <= 0, or width/height < 1)`);
  }
  const gtBy = boxes.map((b, pos) => groupByLabel(b, labels[pos]!));
  const ignBy = ignBoxes.map((b, pos) => groupByLabel(b, ignLabels[pos]!));
  const numGts = new Float64Array(C);
  for (const m of gtBy) for (const [c, b] of m) numGts[c]! += b.length / 4;
  return { labelOf, filePos, gtBy, ignBy, numGts };
}

const NONE = new Float32Array(0);

/**
 * tp/fp of the detections of `dt` on the given sorted image positions (default: every image with a
 * detection), per class, as eval_map computes them image by image. Images without detections give
 * no record (they add nothing to any class).
 */
export function vocImageRecords(
  vgt: VocGroundTruth, dt: CocoResults, opts: { iouThr: number; useLegacyCoordinate?: boolean }, images?: Iterable<number>,
): VocImageRecord[] {
  const wanted = images === undefined ? null : new Set(images);
  // detections grouped by (image, label), keeping results order within a group
  const groups = new Map<number, Map<number, number[]>>();
  for (let r = 0; r < dt.count; r++) {
    const img = dt.image[r]!;
    if (wanted && !wanted.has(img)) continue;
    const label = vgt.labelOf[dt.category[r]!]!;
    let byLabel = groups.get(img);
    if (!byLabel) groups.set(img, (byLabel = new Map()));
    const list = byLabel.get(label);
    if (list) list.push(r);
    else byLabel.set(label, [r]);
  }
  const out: VocImageRecord[] = [];
  for (const [img, byLabel] of groups) {
    const pos = vgt.filePos[img]!;
    const classes: VocClassRecord[] = [];
    for (const label of [...byLabel.keys()].sort((x, y) => x - y)) {
      const rs = byLabel.get(label)!;
      const dets = new Float32Array(5 * rs.length);
      rs.forEach((r, q) => {
        const x = dt.bbox[4 * r]!, y = dt.bbox[4 * r + 1]!, o = 5 * q;
        dets[o] = x;
        dets[o + 1] = y;
        dets[o + 2] = x + dt.bbox[4 * r + 2]!; // summed in double, then stored as float32
        dets[o + 3] = y + dt.bbox[4 * r + 3]!;
        dets[o + 4] = dt.score[r]!;
      });
      const { tp, fp } = tpfpDefault(dets, vgt.gtBy[pos]!.get(label) ?? NONE, vgt.ignBy[pos]!.get(label) ?? NONE, opts.iouThr, opts.useLegacyCoordinate ?? false);
      const scores = new Float32Array(rs.length);
      for (let q = 0; q < rs.length; q++) scores[q] = dets[5 * q + 4]!;
      classes.push({ label, scores, tp, fp });
    }
    out.push({ filePos: pos, classes });
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
