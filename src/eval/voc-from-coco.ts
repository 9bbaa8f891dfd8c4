/**
 * @file The VOC table from COCO ground truth and results, building `eval_map`'s inputs the way
 * mmdetection's `CocoDataset` does (docs/evaluation.md#voc-table): classes in `categories` file order,
 * images in `images` file order, GT boxes skipped when `ignore` is set, when they miss the image or when
 * `area <= 0 || w < 1 || h < 1`; crowd boxes become ignored boxes; boxes and detections become
 * float32 xyxy (x+w summed in double first). Used by `index.ts: evaluateDetections`.
 */
import type { CocoGroundTruth, CocoResults } from './coco/load.js';
import type { WarningCollector } from './json-check.js';
import { evalMap, tableRecall, type VocAnnotation, type VocMode } from './voc.js';

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

/**
 * Per-class VOC AP/recall of `dt` against `gt` with mmdet's dataset conventions, plus mAP. Class
 * order = GT `categories` order; recall and AP are float32 values as mmdet reports them.
 */
export function vocFromCoco(gt: CocoGroundTruth, dt: CocoResults, options: VocFromCocoOptions = {}): VocBlock {
  const iouThr = options.iouThr ?? 0.5, mode = options.mode ?? 'area';
  const I = gt.imageIds.length, C = gt.categoryIds.length;
  // label (file order) <-> sorted category index
  const labelOf = new Int32Array(C);
  gt.categoryFileOrder.forEach((k, label) => { labelOf[k] = label; });
  // image file position of each sorted image index
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
    const target = a.iscrowd[j] ? ignBoxes[pos]! : boxes[pos]!;
    target.push(x, y, x + w, y + h);
    (a.iscrowd[j] ? ignLabels[pos]! : labels[pos]!).push(labelOf[a.category[j]!]!);
  }
  if (skipped > 0) {
    options.warnings?.addSummary('voc-skipped-gt', firstSkipped, `${skipped} ground-truth box(es) left out of the VOC table as mmdetection does (ignore flag, outside the image, area <= 0, or width/height < 1)`);
  }
  const annotations: VocAnnotation[] = Array.from({ length: I }, (_, pos) => ({
    bboxes: Float32Array.from(boxes[pos]!),
    labels: Int32Array.from(labels[pos]!),
    bboxesIgnore: Float32Array.from(ignBoxes[pos]!),
    labelsIgnore: Int32Array.from(ignLabels[pos]!),
  }));

  // detections grouped by (image file position, label), keeping results order within a group
  const key = new Float64Array(dt.count);
  for (let r = 0; r < dt.count; r++) key[r] = filePos[dt.image[r]!]! * C + labelOf[dt.category[r]!]!;
  const order = new Int32Array(dt.count);
  for (let r = 0; r < dt.count; r++) order[r] = r;
  order.sort((x, y) => key[x]! - key[y]! || x - y);
  const none = new Float32Array(0);
  const detResults: Float32Array[][] = Array.from({ length: I }, () => new Array<Float32Array>(C).fill(none));
  for (let s0 = 0; s0 < dt.count;) {
    let s1 = s0;
    while (s1 < dt.count && key[order[s1]!] === key[order[s0]!]) s1++;
    const arr = new Float32Array(5 * (s1 - s0));
    for (let q = s0; q < s1; q++) {
      const r = order[q]!, o = 5 * (q - s0);
      const x = dt.bbox[4 * r]!, y = dt.bbox[4 * r + 1]!;
      arr[o] = x;
      arr[o + 1] = y;
      arr[o + 2] = x + dt.bbox[4 * r + 2]!; // summed in double, then stored as float32
      arr[o + 3] = y + dt.bbox[4 * r + 3]!;
      arr[o + 4] = dt.score[r]!;
    }
    const k = key[order[s0]!]!;
    detResults[Math.floor(k / C)]![k % C] = arr;
    s0 = s1;
  }
  const { meanAp, results } = evalMap(detResults, annotations, {
    iouThr, mode, useLegacyCoordinate: options.useLegacyCoordinate ?? false, numClasses: C,
  });
  return {
    iou_thr: iouThr,
    mode,
    classes: results.map((res, label) => {
      const k = gt.categoryFileOrder[label]!;
      return { class: gt.categoryNames[k]!, category_id: gt.categoryIds[k]!, gts: res.numGts, dets: res.numDets, recall: tableRecall(res), ap: res.ap };
    }),
    mAP: meanAp,
  };
}
