/**
 * @file The per-image path, in order: decode → preprocess → session → postprocess (→ render).
 * Each stage is timed; the caller gets the timings and an `observe(stage, ms)` callback per stage
 * (the model plugin forwards it to app.metrics.observeStage).
 *
 * Used by the model runtime (src/models/runtime.ts: `predict`, `infer`), i.e. by POST /predict and
 * the model mode of evaluations. Errors are typed (src/pipeline/errors.ts: the pool's
 * QueueFullError, PoolClosedError, InferenceRunError, and the image errors); src/errors.ts maps
 * them to statuses.
 */
import { performance } from 'node:perf_hooks';
import { resizedSize } from '../losses/transform.js';
import { decodeImage, type DecodedImage } from './decode.js';
import type { ModelFormat } from './manifest.js';
import type { PasteRegion } from './paste-masks.js';
import { postprocess, type DetectionOutputNames, type Instance, type MaskFormat } from './postprocess.js';
import { buildFeeds, toChwFloat, type InputNames } from './preprocess.js';
import { MaskLayer, classColor, renderPng } from './render.js';
import { ImageUnsupportedError } from './errors.js';
import type { InferencePool, Reservation, RunResult } from './session.js';
import type { TensorMap } from './session-types.js';

/** Pipeline stages, as labelled in metrics. */
export type PipelineStage = 'decode' | 'preprocess' | 'inference' | 'postprocess';

/** Milliseconds per stage of one image (`queue` = wait for a free worker, not part of `inference`). */
export interface Timings {
  decode: number;
  preprocess: number;
  inference: number;
  postprocess: number;
  queue: number;
}

/** What the pipeline needs from a loaded model. */
export interface PipelineModel {
  pool: InferencePool;
  /** The graph's internal resize (manifest loss_constants min_size/max_size), when known. */
  resize?: { minSize: number; maxSize: number };
  format: ModelFormat;
  inputs: InputNames;
  detections: DetectionOutputNames;
  classes: readonly string[];
  maxImagePixels: number;
}

/** Options of one prediction. */
export interface PredictOptions {
  scoreThreshold: number;
  maxDetections: number;
  maskFormat: MaskFormat;
  /** Also render the PNG answer. */
  render: boolean;
  /** Input path for errors (`image` for multipart, `body` for a raw upload). */
  field: string;
  /** A pool place taken before decoding (InferencePool.reserve), used by the run. */
  reservation?: Reservation;
}

/** Result of {@link predictImage}. */
export interface Prediction {
  image: { width: number; height: number; format: string };
  instances: Instance[];
  timings: Timings;
  /** PNG bytes when `render` was requested. */
  png?: Buffer;
}

/** Stage observer (milliseconds). */
export type Observe = (stage: PipelineStage, ms: number) => void;

/** Times `fn` and reports it. */
async function timed<T>(stage: PipelineStage, t: Timings, observe: Observe | undefined, fn: () => T | Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    const ms = performance.now() - t0;
    t[stage] += ms;
    observe?.(stage, ms);
  }
}

/** Runs the graph through the pool (errors: QueueFullError, PoolClosedError, InferenceRunError). */
export function runGraph(
  pool: InferencePool, feeds: TensorMap, opts: { reservation?: Reservation | undefined; fetches?: string[] | undefined } = {},
): Promise<RunResult> {
  return pool.run(feeds, opts);
}

/**
 * Refuses images the graph's own resize would shrink to nothing (e.g. 2000x1: torchvision's
 * GeneralizedRCNNTransform gives a 0-pixel side and the graph fails), before any inference.
 * @throws ImageUnsupportedError with `field`.
 */
export function checkImageFitsModel(model: PipelineModel, image: { width: number; height: number }, field: string): void {
  if (!model.resize) return;
  const [h, w] = resizedSize(image.height, image.width, model.resize.minSize, model.resize.maxSize);
  if (h < 1 || w < 1) {
    throw new ImageUnsupportedError(
      `${image.width}x${image.height} is too elongated: the model resizes it to ${w}x${h} (min_size ${model.resize.minSize}, max_size ${model.resize.maxSize})`,
      { field },
    );
  }
}

/** New zeroed timings. */
export function emptyTimings(): Timings {
  return { decode: 0, preprocess: 0, inference: 0, postprocess: 0, queue: 0 };
}

/**
 * Decoded image → every graph output (for /evaluate's model mode and losses).
 * @param gtBoxes xyxy float32 [G*4] fed as `gt_boxes` (loss-capable graphs only).
 */
export async function inferDecoded(
  model: PipelineModel, image: DecodedImage, timings: Timings, observe?: Observe, gtBoxes?: Float32Array,
  run: { reservation?: Reservation | undefined; fetches?: string[] | undefined } = {},
): Promise<RunResult> {
  const feeds = await timed('preprocess', timings, observe, () =>
    buildFeeds(toChwFloat(image.data, image.width, image.height), model.inputs, gtBoxes));
  const result = await runGraph(model.pool, feeds, run);
  // The worker's own measure of session.run(); the wait for a free worker is reported apart.
  timings.inference += result.inferenceMs;
  timings.queue += result.queuedMs;
  observe?.('inference', result.inferenceMs);
  return result;
}

/** The graph outputs /predict reads (the detections), in the graph's names; cached per model. */
const fetchCache = new WeakMap<PipelineModel, string[]>();
function detectionFetches(model: PipelineModel): string[] {
  let f = fetchCache.get(model);
  if (!f) {
    const have = new Set(model.pool.info.outputs.map((o) => o.name));
    const d = model.detections;
    f = [d.boxes, d.labels, d.scores, d.masks].filter((n) => have.has(n));
    fetchCache.set(model, f);
  }
  return f;
}

/**
 * The whole /predict path for one upload.
 * @throws the typed errors of src/pipeline/errors.ts: image errors, QueueFullError, PoolClosedError,
 *   InferenceRunError.
 */
export async function predictImage(model: PipelineModel, bytes: Buffer, opts: PredictOptions, observe?: Observe): Promise<Prediction> {
  const timings = emptyTimings();
  const image = await timed('decode', timings, observe, () =>
    decodeImage(bytes, { maxPixels: model.maxImagePixels, field: opts.field }));
  checkImageFitsModel(model, image, opts.field);
  const { outputs } = await inferDecoded(model, image, timings, observe, undefined, {
    reservation: opts.reservation, fetches: detectionFetches(model),
  });
  const layer = opts.render ? new MaskLayer(image.width, image.height) : null;
  const instances = await timed('postprocess', timings, observe, () => postprocess(outputs, {
    format: model.format,
    names: model.detections,
    width: image.width,
    height: image.height,
    classes: model.classes,
    scoreThreshold: opts.scoreThreshold,
    maxDetections: opts.maxDetections,
    maskFormat: opts.maskFormat,
    ...(layer ? { onMask: (inst: Instance, mask: Uint8Array, region: PasteRegion) => layer.paint(mask, region, classColor(inst.category_id)) } : {}),
  }));
  const prediction: Prediction = { image: { width: image.width, height: image.height, format: image.format }, instances, timings };
  if (layer) {
    prediction.png = await timed('postprocess', timings, observe, () => renderPng(image, instances, layer));
  }
  return prediction;
}
