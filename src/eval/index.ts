/**
 * @file Public entry of the evaluation core: COCO bbox/segm AP/AR as pycocotools computes them and
 * mmdetection's per-class VOC table. {@link Evaluation} (evaluation.ts) is the one evaluation the
 * service runs, fed all at once or image by image; `evaluateDetections` runs it in one go. The
 * lower-level pieces (loaders, per-image evaluation, accumulate, summarize, eval_map, RLE codec) are
 * re-exported for callers that already hold parsed data.
 */
export { InputError, type Warning } from './errors.js';
export * from './rle.js';
export { cocoBoxIou, cocoBoxIouMatrix, mmdetIouF32 } from './box-iou.js';
export { WarningCollector, type WarningEntry } from './json-check.js';
export { accumulate, type Accumulated } from './coco/accumulate.js';
export {
  evaluateImages, prepareEvaluation, validateSegmentations,
  ImageEvalRecord, type CocoEvalContext, type EvalRecords, type SegmAreaSource,
} from './coco/evaluate.js';
export { loadGroundTruth, loadResults, type CocoGroundTruth, type CocoResults, type ResultsBatchPosition } from './coco/load.js';
export { AREA_LABELS, defaultParams, resolveParams, type CocoParams, type CocoParamsInput, type IouType } from './coco/params.js';
export { maskGeometry, maskIou, segmentationToRle, type MaskGeometry } from './coco/segmentation.js';
export { perCategory, STAT_NAMES, summarize, summaryLines, type CategoryMetrics } from './coco/summarize.js';
export { averagePrecision, classResult, evalMap, formatMapTable, meanAveragePrecision, tableRecall, tpfpDefault, type EvalMapOptions, type VocAnnotation, type VocClassResult, type VocMode } from './voc.js';
export {
  prepareVoc, vocFromCoco, vocImageRecords, vocTable,
  type VocBlock, type VocClassRecord, type VocFromCocoOptions, type VocGroundTruth, type VocImageRecord,
} from './voc-from-coco.js';
export {
  evaluateDetections, Evaluation, parseIouTypes, ResultsBatch,
  type BatchSummary, type CocoBlock, type EvaluateDetectionsInput, type EvaluateDetectionsResult, type EvaluationOptions,
  type EvaluationOutcome, type FinishOptions, type ImageErrors, type ImageRecords, type RecordSet, type ShapedArray,
} from './evaluation.js';
