/**
 * @file One image of a model-mode job: decode → graph (fed the image's non-crowd GT boxes when the
 * graph is loss-capable) → detections as COCO results (RLE masks) and the five losses. It follows
 * src/pipeline/evaluate-model.ts step for step (same GT conversion, same postprocess options, same
 * loss call), image by image, so that a job over a set gives what one POST /evaluate over the same
 * images gives. A full inference queue (503 QUEUE_FULL, e.g. /predict traffic) is waited out.
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeToRowMajor, frBbox, InputError, segmentationToRle } from '../eval/index.js';
import { expectArray, isObject } from '../eval/json-check.js';
import { computeImageLosses, validateGroundTruth, type ImageLosses, type LossConstants, type LossGraphOutputs, type LossGroundTruth } from '../losses/index.js';
import { decodeImage } from '../pipeline/decode.js';
import type { EvaluateOptions } from '../pipeline/evaluate-model.js';
import { postprocess } from '../pipeline/postprocess.js';
import { checkImageFitsModel, type Timings } from '../pipeline/predict.js';
import type { ModelHandle } from '../plugins/model.js';
import type { JobImage } from './types.js';

/** Timings summed over the images of a job (ms). */
export type JobTimings = Timings & { losses: number };

/** Output of one image. */
export interface ImageStepResult {
  results: Array<Record<string, unknown>>;
  losses: (ImageLosses & { file_name: string; image_id: number }) | null;
}

/** Annotations of each image id (built once per job). */
export function annotationsByImage(anns: unknown[]): Map<unknown, Array<{ ann: Record<string, unknown>; path: string }>> {
  const out = new Map<unknown, Array<{ ann: Record<string, unknown>; path: string }>>();
  anns.forEach((a, i) => {
    if (!isObject(a)) return;
    const list = out.get(a.image_id) ?? [];
    list.push({ ann: a, path: `annotations.annotations[${i}]` });
    out.set(a.image_id, list);
  });
  return out;
}

/** Non-crowd GT of one image as the losses (and the graph's gt_boxes) want it (as evaluate-model.ts). */
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

/** model.infer, waiting while the inference queue is full (checks `cancelled` between tries). */
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
 * Runs one image. `entry` is its `annotations.images[index]` object.
 * @throws InputError (size mismatch, bad GT), catalog errors of decode / inference.
 */
export async function runImageStep(
  model: ModelHandle,
  img: JobImage,
  entry: Record<string, unknown>,
  index: number,
  anns: Array<{ ann: Record<string, unknown>; path: string }>,
  opts: EvaluateOptions,
  timings: JobTimings,
): Promise<ImageStepResult> {
  const pipe = model.require();
  const lossReason = model.lossesUnavailableReason();
  const constants = model.files!.manifest.lossConstants as LossConstants | null;
  const bytes = await readFile(img.path);
  const t0 = performance.now();
  const image = await decodeImage(bytes, { maxPixels: pipe.maxImagePixels, field: img.field });
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
  const { gt, paths } = lossGroundTruth(anns, image.height, image.width);
  const pathOf = (field: string, i?: number): string => (i === undefined ? `${ePath}.${field}` : `${paths[i] ?? ePath}.${field === 'boxes' ? 'bbox' : field === 'labels' ? 'category_id' : 'segmentation'}`);
  if (lossReason === null) validateGroundTruth(gt, constants!.num_classes, pathOf);
  const run = await inferPatiently(model, image, timings, lossReason === null ? gt.boxes.slice() : undefined);
  const t1 = performance.now();
  const instances = postprocess(run.outputs, {
    format: pipe.format, names: pipe.detections, width: image.width, height: image.height, classes: pipe.classes,
    scoreThreshold: 0, maxDetections: 100, maskFormat: 'rle',
  });
  const results = instances.map((inst) => ({ image_id: imageId, category_id: inst.category_id, bbox: inst.bbox, score: inst.score, segmentation: inst.segmentation }));
  const postMs = performance.now() - t1;
  timings.postprocess += postMs;
  model.observe('postprocess', postMs);
  let losses: ImageStepResult['losses'] = null;
  if (lossReason === null) {
    const t2 = performance.now();
    const l = computeImageLosses(model.logicalOutputs(run.outputs) as unknown as LossGraphOutputs, gt, constants!, opts.lossSampling, { path: pathOf });
    losses = { file_name: img.fileName, image_id: imageId, ...l };
    timings.losses += performance.now() - t2;
  }
  return { results, losses };
}
