/**
 * @file Model-mode evaluation, the use case both POST /evaluate and evaluation jobs drive: for each
 * uploaded image matched to an `annotations.images` entry, decode → run the graph (fed the image's
 * non-crowd GT boxes when the model gives losses) → the five losses (src/losses) and the detections,
 * evaluated at once into the image's mergeable records (src/eval Evaluation); then one finish over
 * every image (one accumulation, the VOC table over all images, the mean losses).
 *
 * One image gives an {@link ImageOutcome}: its records, losses and detections — what a job stores per
 * image, so that a job resumed after a crash merges the stored outcomes with the new ones and ends
 * with the numbers of an uninterrupted run. Depends on a {@link ModelRunner} (src/models/runtime.ts),
 * not on Fastify. While the inference queue is full (e.g. /predict traffic) jobs wait and retry.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Evaluation, InputError, WarningCollector, type EvaluationOutcome, type FinishOptions, type RecordSet } from '../eval/index.js';
import { computeImageLosses, validateGroundTruth } from '../losses/index.js';
import type { ImageRun, ModelRunner } from '../models/runtime.js';
import { QueueFullError } from '../pipeline/errors.js';
import type { DecodedImage } from '../pipeline/decode.js';
import { evaluatedGroundTruth, imageTargets, lossGroundTruth, type ImageTarget, type ModelInput } from './model-input.js';
import {
  emptyEvaluationTimings, evalCoreOptions, evaluationResponse, lossesBlock, modelTimings,
  type EvaluateOptions, type EvaluationResponse, type EvaluationTimings, type NamedImageLosses,
} from './response.js';

/** A detection as kept for the report's overlays (no mask). */
export interface OverlayDetection {
  category_id: number;
  bbox: number[];
  score: number;
}

/** What one image contributes to a model evaluation (stored per image by jobs). */
export interface ImageOutcome {
  /** Position of the image in the input (upload order). */
  k: number;
  imageId: number;
  /** COCO + VOC records of the image, mergeable. */
  records: RecordSet;
  /** The five losses of the image (null when the model gives none). */
  losses: NamedImageLosses | null;
  /** Its detections without masks (report overlays). */
  detections: OverlayDetection[];
  /** Milliseconds the image took (progress ETA). */
  ms: number;
}

/** The end of a model evaluation. */
export interface ModelEvaluationResult {
  response: EvaluationResponse;
  outcome: EvaluationOutcome;
  /** Milliseconds of the whole-set evaluation (finish). */
  evalMs: number;
  /** Per-image losses in upload order. */
  perImage: NamedImageLosses[];
}

/** runner.runImage, waiting out a full inference queue (QueueFullError) when `wait` is set. */
async function runPatiently(runner: ModelRunner, image: DecodedImage, gtBoxes: Float32Array | undefined, timings: EvaluationTimings, wait: boolean): Promise<ImageRun> {
  for (;;) {
    try {
      return await runner.runImage(image, gtBoxes?.slice(), timings);
    } catch (err) {
      if (!wait || !(err instanceof QueueFullError)) throw err;
      await sleep(Math.min(5000, Math.max(250, err.retryAfterSeconds * 1000)));
    }
  }
}

/** A model-mode evaluation over a prepared input (see the file header). */
export class ModelEvaluation {
  readonly evaluation: Evaluation;
  /** Warnings found before evaluating (annotated images that were not uploaded). */
  readonly warnings = new WarningCollector();
  readonly targets: ImageTarget[];
  readonly timings = emptyEvaluationTimings();
  private readonly outcomes = new Map<number, ImageOutcome>();

  constructor(readonly input: ModelInput, readonly options: EvaluateOptions, private readonly runner: ModelRunner) {
    this.targets = imageTargets(input);
    const ids = new Set(this.targets.map((t) => t.entry.id));
    const groundTruth = evaluatedGroundTruth(input.annotations, ids, this.warnings);
    this.evaluation = Evaluation.open(groundTruth, { ...evalCoreOptions(options), paths: { groundTruth: 'annotations', detections: 'detections' } });
  }

  /** Images in the input. */
  get size(): number {
    return this.targets.length;
  }

  /** Images whose outcome is recorded. */
  get done(): number {
    return this.outcomes.size;
  }

  /** True when image `k` has its outcome. */
  has(k: number): boolean {
    return this.outcomes.has(k);
  }

  /**
   * Evaluates image `k` of the input from its bytes: decode, check its size against its entry, run
   * the graph, losses, records. The outcome is also recorded here ({@link add}).
   * @param wait wait out a full inference queue instead of failing (jobs)
   * @throws InputError (size mismatch, bad GT), the pipeline's typed errors
   */
  async evaluateImage(k: number, bytes: Buffer, wait = false): Promise<ImageOutcome> {
    const t0 = performance.now();
    const file = this.input.images[k]!;
    const { entry, index, anns } = this.targets[k]!;
    const timings = this.timings;
    const lossReason = this.runner.lossesUnavailable;
    const image = await this.runner.decode(bytes, file.field, timings);
    const ePath = `annotations.images[${index}]`;
    for (const [key, v] of [['width', image.width], ['height', image.height]] as const) {
      if (entry[key] !== undefined && entry[key] !== v) {
        throw new InputError(`${ePath}.${key}`, `${key} is ${String(entry[key])} but "${file.fileName}" decodes to ${image.width}x${image.height} (EXIF orientation applied)`);
      }
    }
    const imageId = entry.id as number;
    const { gt, paths } = lossGroundTruth(anns, image.height, image.width);
    const pathOf = (field: string, i?: number): string => (i === undefined ? `${ePath}.${field}` : `${paths[i] ?? ePath}.${field === 'boxes' ? 'bbox' : field === 'labels' ? 'category_id' : 'segmentation'}`);
    if (lossReason === null) validateGroundTruth(gt, this.runner.lossConstants!.num_classes, pathOf);
    const run = await runPatiently(this.runner, image, lossReason === null ? gt.boxes : undefined, timings, wait);
    const results = run.instances.map((inst) => ({ image_id: imageId, category_id: inst.category_id, bbox: inst.bbox, score: inst.score, segmentation: inst.segmentation }));
    let losses: NamedImageLosses | null = null;
    if (run.lossOutputs) {
      const t2 = performance.now();
      const l = computeImageLosses(run.lossOutputs, gt, this.runner.lossConstants!, this.options.lossSampling, { path: pathOf });
      losses = { file_name: file.fileName, image_id: imageId, ...l };
      timings.losses += performance.now() - t2;
    }
    const records = this.evaluation.loadResults(results).evaluate([imageId]);
    const outcome: ImageOutcome = {
      k, imageId, records, losses,
      detections: results.map((r) => ({ category_id: r.category_id, bbox: r.bbox, score: r.score })),
      ms: performance.now() - t0,
    };
    this.add(outcome);
    return outcome;
  }

  /** Records an outcome (this process's, or one read back from a job's store). */
  add(outcome: ImageOutcome): void {
    if (this.outcomes.has(outcome.k)) throw new RangeError(`image ${outcome.k} is recorded twice`);
    this.evaluation.add(outcome.records);
    this.outcomes.set(outcome.k, outcome);
  }

  /** Outcomes in upload order. */
  recorded(): ImageOutcome[] {
    return [...this.outcomes.values()].sort((a, b) => a.k - b.k);
  }

  /**
   * The whole-set evaluation and the answer. `step` is awaited between finish steps (jobs yield to
   * the event loop and check for cancellation there).
   */
  async finish(step: () => Promise<void> | void = () => {}, finishOptions: FinishOptions = {}): Promise<ModelEvaluationResult> {
    if (this.outcomes.size !== this.targets.length) throw new RangeError(`${this.targets.length - this.outcomes.size} images are not evaluated yet`);
    const t0 = performance.now();
    const outcome = await this.evaluation.finishStepwise(step, finishOptions);
    const evalMs = performance.now() - t0;
    const perImage = this.recorded().flatMap((o) => (o.losses ? [o.losses] : []));
    const result = outcome.result;
    const losses = lossesBlock(perImage, this.runner.lossesUnavailable, this.options.lossSampling, result.coco.segm?.stats[0]);
    const response = evaluationResponse({
      images: this.targets.length, losses, lossesUnavailable: this.runner.lossesUnavailable, result, warnings: this.warnings,
      timings: modelTimings(this.timings, evalMs),
    });
    return { response, outcome, evalMs, perImage };
  }
}
