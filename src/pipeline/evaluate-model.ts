/**
 * @file Model mode of POST /evaluate: for each uploaded image matched to `images[].file_name` of
 * the COCO annotations, decode → run the graph (fed the image's non-crowd GT boxes when the graph is
 * loss-capable) → the five losses (src/losses `computeImageLosses`) and the detections as COCO
 * results with compressed RLE → one `evaluateDetections` (src/eval) over all images.
 *
 * GT for the losses follows torchvision's reference training (coco_utils): crowd annotations are
 * left out, boxes are xywh → xyxy, masks come from the segmentation (polygons or RLE; the box when
 * absent), labels are the COCO category ids (= the model's class indices 1..N).
 * Images are run one after another (each run already uses the pool's threads).
 *
 * Evaluation jobs (src/jobs/runner.ts) are built from the same pieces, so that a job over a set
 * gives what one POST /evaluate over the same images gives: {@link matchUploads},
 * {@link evaluateImage} (one image), {@link evaluatedGroundTruth}, {@link lossesSummary},
 * {@link evaluationResponse}; only the whole-set evaluation differs (jobs evaluate in chunks).
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Errors, withField } from '../errors.js';
import { decodeToRowMajor, evaluateDetections, frBbox, InputError, segmentationToRle, type EvaluateDetectionsResult, WarningCollector } from '../eval/index.js';
import { expectArray, expectObject, isObject } from '../eval/json-check.js';
import { computeImageLosses, diagnose, LOSS_ALIASES, LOSS_KEYS, meanLosses, validateGroundTruth, type ImageLosses, type LossConstants, type LossGraphOutputs, type LossGroundTruth, type SamplingMode } from '../losses/index.js';
import type { ModelHandle } from '../plugins/model.js';
import { decodeImage } from './decode.js';
import { postprocess } from './postprocess.js';
import { checkImageFitsModel, emptyTimings, type Timings } from './predict.js';

/** An uploaded file: its name and the input path used in errors (`image[3]`). */
export interface UploadedFile {
  fileName: string;
  field: string;
}

/** Parts of a model-mode request (see src/routes/evaluate-upload.ts). */
export interface EvaluateUpload {
  images: Array<UploadedFile & { bytes: Buffer }>;
  annotations: unknown;
}

/** Evaluation options (query string / JSON fields). */
export interface EvaluateOptions {
  iouTypes?: Array<'bbox' | 'segm'>;
  vocMode?: 'area' | '11points';
  vocIouThr?: number;
  lossSampling: SamplingMode;
}

/** The losses block of the answer (null when the graph cannot give losses). */
export type LossesBlock = Record<string, unknown> | null;

/** The /evaluate answer body (model mode and detections mode; timings in ms, not rounded). */
export type EvaluationResponse = {
  images: number;
  losses: LossesBlock;
  losses_unavailable?: string;
  coco: EvaluateDetectionsResult['coco'];
  voc: EvaluateDetectionsResult['voc'];
  warnings: EvaluateDetectionsResult['warnings'];
  counts: { images: number; gt_instances: number; detections: number };
  timings_ms: Record<string, number>;
};

/** What the route needs: the response body and what metrics record. */
export interface ModelEvaluation {
  body: EvaluationResponse;
  result: EvaluateDetectionsResult;
  perImageLosses: Array<Record<string, number>>;
  meanLosses: Record<string, number> | null;
  evalMs: number;
}

/** The options of the evaluation core (src/eval `evaluateDetections`, src/jobs `evaluateSet`) among `opts`. */
export function evalCoreOptions(opts: EvaluateOptions): Pick<EvaluateOptions, 'iouTypes' | 'vocMode' | 'vocIouThr'> {
  return {
    ...(opts.iouTypes ? { iouTypes: opts.iouTypes } : {}),
    ...(opts.vocMode ? { vocMode: opts.vocMode } : {}),
    ...(opts.vocIouThr !== undefined ? { vocIouThr: opts.vocIouThr } : {}),
  };
}

/** Timings summed over the images of one evaluation (ms). */
export type EvaluationTimings = Timings & { losses: number };

/** Fresh {@link EvaluationTimings}. */
export const emptyEvaluationTimings = (): EvaluationTimings => ({ ...emptyTimings(), losses: 0 });

/** One image's losses, with what names the image. */
export type NamedImageLosses = ImageLosses & { file_name: string; image_id: number };

/** One annotation of an image with its JSON path (`annotations.annotations[7]`). */
export interface AnnotationRef {
  ann: Record<string, unknown>;
  path: string;
}

/** Output of one image: its detections as COCO results (RLE masks) and its losses. */
export interface ImageEvaluation {
  results: Array<Record<string, unknown>>;
  losses: NamedImageLosses | null;
}

/** What one image is evaluated against: its `annotations.images[index]` entry and its annotations. */
export interface ImageTarget {
  entry: Record<string, unknown>;
  index: number;
  anns: AnnotationRef[];
}

const base = (p: string): string => p.slice(Math.max(p.lastIndexOf('/'), p.lastIndexOf('\\')) + 1);

/** `annotations.images` as objects (400/422 with the path otherwise). */
export function imageEntries(gt: Record<string, unknown>): Array<Record<string, unknown>> {
  return expectArray(gt.images, 'annotations.images').map((e, i) => expectObject(e, `annotations.images[${i}]`));
}

/**
 * Matches uploaded files to `entries` (`annotations.images`) by file_name: exact, else unique base
 * name. Returns the entry index of each file, in upload order.
 * @param duplicate the error for a file matching an entry already taken (default 400 MRC_ERR_MULTIPART).
 * @throws InputError (the file's field) when a file matches no entry or several.
 */
export function matchUploads(
  entries: Array<Record<string, unknown>>,
  files: UploadedFile[],
  duplicate: (field: string, message: string) => Error = (field, message) => withField(new Errors.MULTIPART(message), field),
): number[] {
  const byName = new Map<string, number[]>();
  entries.forEach((e, i) => {
    if (typeof e.file_name !== 'string') return;
    for (const key of new Set([e.file_name, base(e.file_name)])) byName.set(key, [...(byName.get(key) ?? []), i]);
  });
  const used = new Set<number>();
  return files.map((f) => {
    const hits = byName.get(f.fileName) ?? byName.get(base(f.fileName)) ?? [];
    if (hits.length !== 1) {
      throw new InputError(f.field, hits.length === 0
        ? `uploaded file "${f.fileName}" matches no annotations.images[].file_name`
        : `uploaded file "${f.fileName}" matches ${hits.length} annotations.images entries`);
    }
    const index = hits[0]!;
    if (used.has(index)) throw duplicate(f.field, `file "${f.fileName}" is uploaded twice`);
    used.add(index);
    return index;
  });
}

/** Annotations of each image id, with their JSON paths (non-objects are skipped). */
export function annotationsByImage(anns: unknown[]): Map<unknown, AnnotationRef[]> {
  const out = new Map<unknown, AnnotationRef[]>();
  anns.forEach((a, i) => {
    if (!isObject(a)) return;
    const list = out.get(a.image_id) ?? [];
    list.push({ ann: a, path: `annotations.annotations[${i}]` });
    out.set(a.image_id, list);
  });
  return out;
}

/** Non-crowd GT of one image as the losses (and the graph's gt_boxes) want it. */
function lossGroundTruth(anns: AnnotationRef[], H: number, W: number): { gt: LossGroundTruth; paths: string[] } {
  const kept = anns.filter(({ ann }) => !ann.iscrowd);
  const boxes = new Float32Array(kept.length * 4);
  const labels = new Int32Array(kept.length);
  const masks: Uint8Array[] = [];
  kept.forEach(({ ann, path }, i) => {
    const b = expectArray(ann.bbox, `${path}.bbox`);
    const [x, y, w, h] = b.map(Number) as [number, number, number, number];
    boxes.set([x, y, x + w, y + h], i * 4);
    labels[i] = Number(ann.category_id);
    const rle = ann.segmentation !== undefined && ann.segmentation !== null
      ? segmentationToRle(ann.segmentation, `${path}.segmentation`, H, W)
      : { counts: frBbox([x, y, w, h], H, W) };
    masks.push(decodeToRowMajor(rle.counts, H, W));
  });
  return { gt: { boxes, labels, masks, height: H, width: W }, paths: kept.map((k) => k.path) };
}

/** model.infer, waiting while the inference queue is full (503 QUEUE_FULL, e.g. /predict traffic). */
async function inferPatiently(model: ModelHandle, ...args: Parameters<ModelHandle['infer']>): ReturnType<ModelHandle['infer']> {
  for (;;) {
    try {
      return await model.infer(...args);
    } catch (err) {
      if ((err as { code?: string }).code !== 'MRC_ERR_QUEUE_FULL') throw err;
      const s = (err as { retryAfter?: number }).retryAfter;
      await sleep(typeof s === 'number' && s > 0 ? Math.min(5000, s * 1000) : 250);
    }
  }
}

/**
 * Evaluates one image: decode → graph (fed the image's non-crowd GT boxes when the graph is
 * loss-capable) → detections as COCO results (RLE masks) and the five losses. Adds to `timings`.
 * Shared by POST /evaluate ({@link evaluateModel}) and evaluation jobs (src/jobs/runner.ts).
 * @param waitWhenQueueFull wait out a full inference queue instead of failing with 503 (jobs).
 * @throws InputError (size mismatch, bad GT), catalog errors of decode / inference.
 */
export async function evaluateImage(
  model: ModelHandle,
  img: UploadedFile & { bytes: Buffer },
  target: ImageTarget,
  opts: EvaluateOptions,
  timings: EvaluationTimings,
  waitWhenQueueFull = false,
): Promise<ImageEvaluation> {
  const pipe = model.require();
  const lossReason = model.lossesUnavailableReason();
  const constants = model.files!.manifest.lossConstants as LossConstants | null;
  const { entry, index } = target;
  const t0 = performance.now();
  const image = await decodeImage(img.bytes, { maxPixels: pipe.maxImagePixels, field: img.field });
  const decodeMs = performance.now() - t0;
  timings.decode += decodeMs;
  model.observe('decode', decodeMs);
  checkImageFitsModel(pipe, image, img.field);
  const ePath = `annotations.images[${index}]`;
  for (const [key, v] of [['width', image.width], ['height', image.height]] as const) {
    if (entry[key] !== undefined && entry[key] !== v) {
      throw new InputError(`${ePath}.${key}`, `${key} is ${String(entry[key])} but "${img.fileName}" decodes to ${image.width}x${image.height} (EXIF orientation applied)`);
    }
  }
  const imageId = entry.id as number;
  const { gt, paths } = lossGroundTruth(target.anns, image.height, image.width);
  const pathOf = (field: string, i?: number): string => (i === undefined ? `${ePath}.${field}` : `${paths[i] ?? ePath}.${field === 'boxes' ? 'bbox' : field === 'labels' ? 'category_id' : 'segmentation'}`);
  if (lossReason === null) validateGroundTruth(gt, constants!.num_classes, pathOf);
  // A copy: feeds are transferred to the worker, and the losses need gt.boxes afterwards.
  const gtBoxes = lossReason === null ? gt.boxes.slice() : undefined;
  const run = waitWhenQueueFull ? await inferPatiently(model, image, timings, gtBoxes) : await model.infer(image, timings, gtBoxes);
  const t1 = performance.now();
  const instances = postprocess(run.outputs, {
    format: pipe.format, names: pipe.detections, width: image.width, height: image.height, classes: pipe.classes,
    scoreThreshold: 0, maxDetections: 100, maskFormat: 'rle',
  });
  const results = instances.map((inst) => ({ image_id: imageId, category_id: inst.category_id, bbox: inst.bbox, score: inst.score, segmentation: inst.segmentation }));
  const postMs = performance.now() - t1;
  timings.postprocess += postMs;
  model.observe('postprocess', postMs);
  let losses: NamedImageLosses | null = null;
  if (lossReason === null) {
    const t2 = performance.now();
    const l = computeImageLosses(model.logicalOutputs(run.outputs) as unknown as LossGraphOutputs, gt, constants!, opts.lossSampling, { path: pathOf });
    losses = { file_name: img.fileName, image_id: imageId, ...l };
    timings.losses += performance.now() - t2;
  }
  return { results, losses };
}

/**
 * The ground truth restricted to the evaluated (uploaded) images, i.e. what is evaluated; adds the
 * `images-not-uploaded` warning when some annotated images were not uploaded.
 */
export function evaluatedGroundTruth(gtJson: Record<string, unknown>, ids: Set<unknown>, warnings?: WarningCollector): Record<string, unknown> {
  const allImages = expectArray(gtJson.images, 'annotations.images');
  const anns = expectArray(gtJson.annotations ?? [], 'annotations.annotations');
  if (warnings && ids.size < allImages.length) {
    warnings.add('images-not-uploaded', 'annotations.images', `${allImages.length - ids.size} of ${allImages.length} annotated images were not uploaded and are left out of the evaluation`);
  }
  return {
    ...gtJson,
    images: allImages.filter((e) => isObject(e) && ids.has(e.id)),
    annotations: anns.filter((a) => isObject(a) && ids.has(a.image_id)),
  };
}

/** The five losses and their total of one image (what the mean and the metrics hold). */
const pickLosses = (l: ImageLosses): Record<string, number> => Object.fromEntries([...LOSS_KEYS, 'loss'].map((key) => [key, l[key as keyof ImageLosses] as number]));

/**
 * The losses block of the answer (mean, per image, aliases, diagnosis), the mean and the per-image
 * losses. `maskAp` (COCO segm AP of the same images, when computed) feeds the diagnosis's
 * "high loss_mask with low mask AP" flag.
 */
export function lossesSummary(perImage: NamedImageLosses[], lossReason: string | null, sampling: SamplingMode, maskAp?: number | null): {
  losses: LossesBlock;
  mean: Record<string, number> | null;
  perImageLosses: Array<Record<string, number>>;
} {
  const fullMean = perImage.length > 0 ? meanLosses(perImage) : null;
  const mean = fullMean ? pickLosses(fullMean) : null;
  const diagnosis = fullMean
    ? diagnose(fullMean, { sampling, ...(typeof maskAp === 'number' ? { maskAp } : {}) })
    : null;
  const losses = lossReason === null && mean && diagnosis ? {
    sampling,
    mean,
    per_image: perImage.map((l) => ({ file_name: l.file_name, image_id: l.image_id, ...pickLosses(l), mask_dice: l.mask_dice, mask_bce_smooth: l.mask_bce_smooth, counts: l.counts })),
    aliases: Object.fromEntries(LOSS_KEYS.map((key) => [key, { detectron2: LOSS_ALIASES[key].detectron2, mmdetection: LOSS_ALIASES[key].mmdetection, matterport: LOSS_ALIASES[key].matterport }])),
    diagnosis: {
      definition: diagnosis.definition, sampling: diagnosis.sampling, total: diagnosis.total,
      shares: diagnosis.shares, flags: diagnosis.flags, explanations: diagnosis.explanations,
      thresholds: diagnosis.thresholds,
      normalisation: Object.fromEntries(LOSS_KEYS.map((key) => [key, LOSS_ALIASES[key].normalisation])),
    },
  } : null;
  return { losses, mean, perImageLosses: perImage.map(pickLosses) };
}

/**
 * The answer body of /evaluate (also a job's result): `warnings` are those found before the
 * evaluation (model mode), followed by the evaluation's own.
 */
export function evaluationResponse(args: {
  images: number;
  losses: LossesBlock;
  lossesUnavailable?: string | null;
  result: EvaluateDetectionsResult;
  warnings?: WarningCollector;
  timings: Record<string, number>;
}): EvaluationResponse {
  const { result } = args;
  return {
    images: args.images,
    losses: args.losses,
    ...(args.lossesUnavailable !== undefined && args.lossesUnavailable !== null ? { losses_unavailable: args.lossesUnavailable } : {}),
    coco: result.coco,
    voc: result.voc,
    warnings: args.warnings ? [...args.warnings.list(), ...result.warnings] : result.warnings,
    counts: { images: result.counts.images, gt_instances: result.counts.gtInstances, detections: result.counts.detections },
    timings_ms: args.timings,
  };
}

/** Timings (ms) with `total` added, each rounded to 0.01 ms: the `timings_ms` block as answered. */
export function roundedTimings(timings: Record<string, number>, totalMs: number): Record<string, number> {
  return Object.fromEntries(Object.entries({ ...timings, total: totalMs }).map(([k, v]) => [k, Math.round(v * 100) / 100]));
}

/** The model-mode timings block (ms): the per-stage sums and the evaluation. */
export function modelTimings(timings: EvaluationTimings, evalMs: number): Record<string, number> {
  return {
    decode: timings.decode, preprocess: timings.preprocess, inference: timings.inference, queue: timings.queue,
    postprocess: timings.postprocess, losses: timings.losses, evaluation: evalMs,
  };
}

/**
 * Runs the model-mode evaluation.
 * @throws InputError (4xx with the JSON path / part name), catalog errors from the pipeline.
 */
export async function evaluateModel(model: ModelHandle, upload: EvaluateUpload, opts: EvaluateOptions): Promise<ModelEvaluation> {
  model.require();
  const gtJson = expectObject(upload.annotations, 'annotations');
  const entries = imageEntries(gtJson);
  const matched = matchUploads(entries, upload.images);
  const annsOf = annotationsByImage(expectArray(gtJson.annotations ?? [], 'annotations.annotations'));
  const lossReason = model.lossesUnavailableReason();
  const timings = emptyEvaluationTimings();
  const warnings = new WarningCollector();
  const results: Array<Record<string, unknown>> = [];
  const perImage: NamedImageLosses[] = [];

  for (const [k, index] of matched.entries()) {
    const entry = entries[index]!;
    const step = await evaluateImage(model, upload.images[k]!, { entry, index, anns: annsOf.get(entry.id) ?? [] }, opts, timings);
    for (const r of step.results) results.push(r);
    if (step.losses) perImage.push(step.losses);
  }

  const groundTruth = evaluatedGroundTruth(gtJson, new Set(matched.map((i) => entries[i]!.id)), warnings);
  const t3 = performance.now();
  const result = evaluateDetections({
    groundTruth, detections: results, ...evalCoreOptions(opts),
    paths: { groundTruth: 'annotations', detections: 'detections' },
  });
  const evalMs = performance.now() - t3;
  const { losses, mean, perImageLosses } = lossesSummary(perImage, lossReason, opts.lossSampling, result.coco.segm?.stats[0]);
  return {
    body: evaluationResponse({ images: matched.length, losses, lossesUnavailable: lossReason, result, warnings, timings: modelTimings(timings, evalMs) }),
    result,
    perImageLosses,
    meanLosses: mean,
    evalMs,
  };
}
