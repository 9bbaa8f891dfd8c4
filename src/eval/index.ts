/**
 * @file Public entry of the evaluation core. `evaluateDetections` is what POST /evaluate calls (in
 * detections mode with the request JSON, in model mode with the model's own detections): COCO
 * bbox/segm AP/AR as pycocotools computes them, and mmdetection's per-class VOC table. The lower-level
 * pieces (loaders, per-image evaluation, accumulate, summarize, eval_map, RLE codec) are re-exported
 * for callers that already hold parsed data or evaluate in batches.
 */
import type { Warning } from './errors.js';
import { expectArray, expectNumber, fail, WarningCollector } from './json-check.js';
import { accumulate, type Accumulated } from './coco/accumulate.js';
import { evaluateImages, prepareEvaluation, type SegmAreaSource } from './coco/evaluate.js';
import { loadGroundTruth, loadResults, type CocoGroundTruth, type CocoResults } from './coco/load.js';
import { resolveParams, type CocoParams, type IouType } from './coco/params.js';
import { perCategory, summarize, type CategoryMetrics } from './coco/summarize.js';
import { vocFromCoco, type VocBlock } from './voc-from-coco.js';
import type { VocMode } from './voc.js';

export { InputError, type Warning } from './errors.js';
export * from './rle.js';
export { cocoBoxIou, cocoBoxIouMatrix, mmdetIouF32 } from './box-iou.js';
export { WarningCollector } from './json-check.js';
export { accumulate, type Accumulated } from './coco/accumulate.js';
export {
  evaluateImages, prepareEvaluation, validateSegmentations,
  type CocoEvalContext, type EvalRecords, type ImageEvalRecord, type SegmAreaSource,
} from './coco/evaluate.js';
export { loadGroundTruth, loadResults, type CocoGroundTruth, type CocoResults } from './coco/load.js';
export { AREA_LABELS, defaultParams, resolveParams, type CocoParams, type CocoParamsInput, type IouType } from './coco/params.js';
export { maskGeometry, maskIou, segmentationToRle, type MaskGeometry } from './coco/segmentation.js';
export { perCategory, STAT_NAMES, summarize, summaryLines, type CategoryMetrics } from './coco/summarize.js';
export { averagePrecision, evalMap, formatMapTable, tableRecall, tpfpDefault, type EvalMapOptions, type VocAnnotation, type VocClassResult, type VocMode } from './voc.js';
export { vocFromCoco, type VocBlock, type VocFromCocoOptions } from './voc-from-coco.js';

/** A C-ordered array with its pycocotools shape (values -1 where there is no usable GT). */
export interface ShapedArray {
  shape: number[];
  data: Float64Array;
}

/** COCO result of one iouType. `stats` and per-category values are null where pycocotools gives -1. */
export interface CocoBlock {
  /** 12 values: AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl. */
  stats: Array<number | null>;
  per_category: CategoryMetrics[];
  /** [T×R×K×A×M], only with `includeArrays`. */
  precision?: ShapedArray;
  /** [T×K×A×M], only with `includeArrays`. */
  recall?: ShapedArray;
  /** [T×R×K×A×M], only with `includeArrays`. */
  scores?: ShapedArray;
}

export interface EvaluateDetectionsInput {
  /** COCO instances JSON (`images`, `categories`, `annotations`). */
  groundTruth: unknown;
  /** COCO results array. */
  detections: unknown;
  /** Default: bbox, plus segm when every GT annotation and every result carries a segmentation. */
  iouTypes?: Array<'bbox' | 'segm'>;
  /** VOC AP mode; default 'area' (mmdet eval_map's default). */
  vocMode?: 'area' | '11points';
  /** VOC IoU threshold; default 0.5. */
  vocIouThr?: number;
  /** COCOeval overrides: maxDets (3 values), iouThrs, areaRng (4 ranges). */
  params?: { maxDets?: unknown; iouThrs?: unknown; areaRng?: unknown };
  /** JSON path prefixes for errors and warnings; default 'ground_truth' / 'detections'. */
  paths?: { groundTruth: string; detections: string };
  /** Attach precision/recall/scores arrays to each CocoBlock (not part of the default answer). */
  includeArrays?: boolean;
  /**
   * Detection area used for segm small/medium/large: 'loadRes' (default, pycocotools: the box area
   * when results[0] has a bbox) or 'mask' (the mask's pixel count, as mmdetection evaluates).
   */
  segmArea?: SegmAreaSource;
}

export interface EvaluateDetectionsResult {
  coco: { bbox?: CocoBlock; segm?: CocoBlock };
  voc: VocBlock;
  warnings: Warning[];
  counts: { images: number; gtInstances: number; detections: number };
}

/** COCO evaluation of already-loaded data: evaluate → accumulate → summarize. */
export function evaluateCoco(
  gt: CocoGroundTruth,
  dt: CocoResults,
  params: CocoParams,
  options: { segmArea?: SegmAreaSource; warnings?: WarningCollector } = {},
): { accumulated: Accumulated; stats: number[]; perCategory: CategoryMetrics[] } {
  const ctx = prepareEvaluation(gt, dt, params, options);
  const accumulated = accumulate(evaluateImages(ctx));
  return { accumulated, stats: summarize(accumulated), perCategory: perCategory(accumulated, gt.categoryNames) };
}

/** `iou_types` as given: a non-empty list of "bbox" / "segm" (duplicates dropped); 400 otherwise. */
export function parseIouTypes(v: unknown): IouType[] {
  const a = expectArray(v, 'iou_types');
  const out: IouType[] = [];
  a.forEach((t, i) => {
    if (t !== 'bbox' && t !== 'segm') fail(`iou_types[${i}]`, `must be "bbox" or "segm", got ${JSON.stringify(t)}`, 400);
    if (!out.includes(t)) out.push(t);
  });
  if (out.length === 0) fail('iou_types', 'must name at least one of "bbox", "segm"', 400);
  return out;
}

/**
 * The IoU types to evaluate: those asked for, else bbox, plus segm when every GT annotation and every
 * result carries a segmentation (a `segm-skipped` warning otherwise).
 */
export function chooseIouTypes(
  explicit: IouType[] | undefined,
  gt: CocoGroundTruth,
  dt: CocoResults,
  paths: { groundTruth: string; detections: string },
  warnings: WarningCollector,
): IouType[] {
  if (explicit) return explicit;
  const iouTypes: IouType[] = ['bbox'];
  const gtHasMasks = gt.anns.segmentation.every((s) => s !== undefined);
  const dtHasMasks = dt.segmentation.every((s) => s !== undefined);
  if (gtHasMasks && dtHasMasks) iouTypes.push('segm');
  else {
    warnings.add('segm-skipped', gtHasMasks ? paths.detections : `${paths.groundTruth}.annotations`,
      `segm not evaluated: ${gtHasMasks ? 'some detections' : 'some ground-truth annotations'} have no segmentation (request iou_types=segm to evaluate boxes as masks)`);
  }
  return iouTypes;
}

/** Evaluate COCO results against COCO ground truth: COCO bbox/segm blocks, VOC table, warnings. */
export function evaluateDetections(input: EvaluateDetectionsInput): EvaluateDetectionsResult {
  const gtPath = input.paths?.groundTruth ?? 'ground_truth';
  const dtPath = input.paths?.detections ?? 'detections';
  const vocMode: VocMode = input.vocMode ?? 'area';
  if (vocMode !== 'area' && vocMode !== '11points') fail('voc_mode', `must be "area" or "11points", got ${JSON.stringify(vocMode)}`, 400);
  const vocIouThr = input.vocIouThr === undefined ? 0.5 : expectNumber(input.vocIouThr, 'voc_iou_thr');
  if (vocIouThr < 0 || vocIouThr > 1) fail('voc_iou_thr', `must be in [0, 1], got ${vocIouThr}`);
  const segmArea = input.segmArea ?? 'loadRes';
  if (segmArea !== 'loadRes' && segmArea !== 'mask') fail('segm_area', `must be "loadRes" or "mask", got ${JSON.stringify(segmArea)}`, 400);
  const explicitTypes = input.iouTypes === undefined ? undefined : parseIouTypes(input.iouTypes);
  // validate params once (the iouType only labels them)
  resolveParams('bbox', input.params);

  const warnings = new WarningCollector();
  const gt = loadGroundTruth(input.groundTruth, gtPath, warnings);
  const dt = loadResults(gt, input.detections, dtPath, warnings);

  const iouTypes = chooseIouTypes(explicitTypes, gt, dt, { groundTruth: gtPath, detections: dtPath }, warnings);

  const coco: EvaluateDetectionsResult['coco'] = {};
  for (const iouType of iouTypes) {
    const params = resolveParams(iouType, input.params);
    const { accumulated: acc, stats, perCategory: pc } = evaluateCoco(gt, dt, params, { segmArea, warnings });
    const block: CocoBlock = { stats: stats.map((s) => (s === -1 ? null : s)), per_category: pc };
    if (input.includeArrays) {
      block.precision = { shape: [acc.T, acc.R, acc.K, acc.A, acc.M], data: acc.precision };
      block.recall = { shape: [acc.T, acc.K, acc.A, acc.M], data: acc.recall };
      block.scores = { shape: [acc.T, acc.R, acc.K, acc.A, acc.M], data: acc.scores };
    }
    coco[iouType] = block;
  }
  const voc = vocFromCoco(gt, dt, { iouThr: vocIouThr, mode: vocMode, warnings });
  return {
    coco,
    voc,
    warnings: warnings.list(),
    counts: { images: gt.imageIds.length, gtInstances: gt.anns.count, detections: dt.count },
  };
}
