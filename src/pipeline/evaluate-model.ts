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
 */
import { performance } from 'node:perf_hooks';
import { Errors, withField } from '../errors.js';
import { decodeToRowMajor, evaluateDetections, frBbox, InputError, segmentationToRle, type EvaluateDetectionsResult, WarningCollector } from '../eval/index.js';
import { expectArray, expectObject, isObject } from '../eval/json-check.js';
import { computeImageLosses, LOSS_ALIASES, LOSS_KEYS, meanLosses, validateGroundTruth, type ImageLosses, type LossConstants, type LossGraphOutputs, type LossGroundTruth, type SamplingMode } from '../losses/index.js';
import type { ModelHandle } from '../plugins/model.js';
import { decodeImage } from './decode.js';
import { postprocess } from './postprocess.js';
import { checkImageFitsModel, emptyTimings } from './predict.js';

/** Parts of a model-mode request (see src/routes/evaluate-upload.ts). */
export interface EvaluateUpload {
  images: Array<{ fileName: string; bytes: Buffer; field: string }>;
  annotations: unknown;
}

/** Evaluation options (query string / JSON fields). */
export interface EvaluateOptions {
  iouTypes?: Array<'bbox' | 'segm'>;
  vocMode?: 'area' | '11points';
  vocIouThr?: number;
  lossSampling: SamplingMode;
}

/** What the route needs: the response body and what metrics record. */
export interface ModelEvaluation {
  body: {
    images: number;
    losses: Record<string, unknown> | null;
    losses_unavailable?: string;
    coco: EvaluateDetectionsResult['coco'];
    voc: EvaluateDetectionsResult['voc'];
    warnings: EvaluateDetectionsResult['warnings'];
    counts: { images: number; gt_instances: number; detections: number };
    timings_ms: Record<string, number>;
  };
  result: EvaluateDetectionsResult;
  perImageLosses: Array<Record<string, number>>;
  meanLosses: Record<string, number> | null;
  evalMs: number;
}

const base = (p: string): string => p.slice(Math.max(p.lastIndexOf('/'), p.lastIndexOf('\\')) + 1);

/** Matches uploads to `images[]` entries by file_name (exact, else unique basename). */
function matchImages(gt: Record<string, unknown>, upload: EvaluateUpload): Array<{ entry: Record<string, unknown>; index: number }> {
  const entries = expectArray(gt.images, 'annotations.images').map((e, i) => expectObject(e, `annotations.images[${i}]`));
  const byName = new Map<string, number[]>();
  entries.forEach((e, i) => {
    if (typeof e.file_name !== 'string') return;
    for (const key of new Set([e.file_name, base(e.file_name)])) byName.set(key, [...(byName.get(key) ?? []), i]);
  });
  const used = new Set<number>();
  return upload.images.map((img) => {
    const hits = byName.get(img.fileName) ?? byName.get(base(img.fileName)) ?? [];
    if (hits.length !== 1) {
      throw new InputError(img.field, hits.length === 0
        ? `uploaded file "${img.fileName}" matches no annotations.images[].file_name`
        : `uploaded file "${img.fileName}" matches ${hits.length} annotations.images entries`);
    }
    const index = hits[0]!;
    if (used.has(index)) throw withField(new Errors.MULTIPART(`file "${img.fileName}" is uploaded twice`), img.field);
    used.add(index);
    return { entry: entries[index]!, index };
  });
}

/** Non-crowd GT of one image as the losses (and the graph's gt_boxes) want it. */
function lossGroundTruth(anns: Array<{ ann: Record<string, unknown>; path: string }>, H: number, W: number): { gt: LossGroundTruth; paths: string[] } {
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

/**
 * Runs the model-mode evaluation.
 * @throws InputError (4xx with the JSON path / part name), catalog errors from the pipeline.
 */
export async function evaluateModel(model: ModelHandle, upload: EvaluateUpload, opts: EvaluateOptions): Promise<ModelEvaluation> {
  const pipe = model.require();
  const manifest = model.files!.manifest;
  const gtJson = expectObject(upload.annotations, 'annotations');
  const matched = matchImages(gtJson, upload);
  const anns = expectArray(gtJson.annotations ?? [], 'annotations.annotations');
  const lossReason = model.lossesUnavailableReason();
  const constants = manifest.lossConstants as LossConstants | null;
  const timings = { ...emptyTimings(), losses: 0 };
  const warnings = new WarningCollector();
  const results: Array<Record<string, unknown>> = [];
  const perImage: Array<ImageLosses & { file_name: string; image_id: number }> = [];

  for (const [k, { entry, index }] of matched.entries()) {
    const img = upload.images[k]!;
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
    const mine = anns.flatMap((a, i) => (isObject(a) && a.image_id === imageId ? [{ ann: a, path: `annotations.annotations[${i}]` }] : []));
    const { gt, paths } = lossGroundTruth(mine, image.height, image.width);
    const pathOf = (field: string, i?: number): string => (i === undefined ? `${ePath}.${field}` : `${paths[i] ?? ePath}.${field === 'boxes' ? 'bbox' : field === 'labels' ? 'category_id' : 'segmentation'}`);
    if (lossReason === null) validateGroundTruth(gt, constants!.num_classes, pathOf);
    // A copy: feeds are transferred to the worker, and the losses need gt.boxes afterwards.
    const run = await model.infer(image, timings, lossReason === null ? gt.boxes.slice() : undefined);
    const t1 = performance.now();
    const instances = postprocess(run.outputs, {
      format: pipe.format, names: pipe.detections, width: image.width, height: image.height, classes: pipe.classes,
      scoreThreshold: 0, maxDetections: 100, maskFormat: 'rle',
    });
    for (const inst of instances) {
      results.push({ image_id: imageId, category_id: inst.category_id, bbox: inst.bbox, score: inst.score, segmentation: inst.segmentation });
    }
    const postMs = performance.now() - t1;
    timings.postprocess += postMs;
    model.observe('postprocess', postMs);
    if (lossReason === null) {
      const t2 = performance.now();
      const losses = computeImageLosses(model.logicalOutputs(run.outputs) as unknown as LossGraphOutputs, gt, constants!, opts.lossSampling, { path: pathOf });
      perImage.push({ file_name: img.fileName, image_id: imageId, ...losses });
      timings.losses += performance.now() - t2;
    }
  }

  const matchedIds = new Set(matched.map((m) => m.entry.id));
  const allImages = expectArray(gtJson.images, 'annotations.images');
  if (matchedIds.size < allImages.length) {
    warnings.add('images-not-uploaded', 'annotations.images', `${allImages.length - matchedIds.size} of ${allImages.length} annotated images were not uploaded and are left out of the evaluation`);
  }
  const groundTruth = {
    ...gtJson,
    images: allImages.filter((e) => isObject(e) && matchedIds.has(e.id)),
    annotations: anns.filter((a) => isObject(a) && matchedIds.has(a.image_id)),
  };
  const t3 = performance.now();
  const result = evaluateDetections({
    groundTruth, detections: results,
    ...(opts.iouTypes ? { iouTypes: opts.iouTypes } : {}),
    ...(opts.vocMode ? { vocMode: opts.vocMode } : {}),
    ...(opts.vocIouThr !== undefined ? { vocIouThr: opts.vocIouThr } : {}),
    paths: { groundTruth: 'annotations', detections: 'detections' },
  });
  const evalMs = performance.now() - t3;
  const pick = (l: ImageLosses): Record<string, number> => Object.fromEntries([...LOSS_KEYS, 'loss'].map((key) => [key, l[key as keyof ImageLosses] as number]));
  const mean = perImage.length > 0 ? pick(meanLosses(perImage)) : null;
  const losses = lossReason === null && mean ? {
    sampling: opts.lossSampling,
    mean,
    per_image: perImage.map((l) => ({ file_name: l.file_name, image_id: l.image_id, ...pick(l), mask_dice: l.mask_dice, mask_bce_smooth: l.mask_bce_smooth, counts: l.counts })),
    aliases: Object.fromEntries(LOSS_KEYS.map((key) => [key, { detectron2: LOSS_ALIASES[key].detectron2, mmdetection: LOSS_ALIASES[key].mmdetection, matterport: LOSS_ALIASES[key].matterport }])),
  } : null;
  return {
    body: {
      images: matched.length,
      losses,
      ...(lossReason !== null ? { losses_unavailable: lossReason } : {}),
      coco: result.coco,
      voc: result.voc,
      warnings: [...warnings.list(), ...result.warnings],
      counts: { images: result.counts.images, gt_instances: result.counts.gtInstances, detections: result.counts.detections },
      timings_ms: {
        decode: timings.decode, preprocess: timings.preprocess, inference: timings.inference, queue: timings.queue,
        postprocess: timings.postprocess, losses: timings.losses, evaluation: evalMs,
      },
    },
    result,
    perImageLosses: perImage.map(pick),
    meanLosses: mean,
    evalMs,
  };
}
