/**
 * @file The two ways of POST /evaluate as use cases (also the body of a job): model mode over an
 * upload (src/evaluation/model-evaluation.ts, image by image) and detections mode over GT + results
 * JSON. Both drive the one chunkable evaluation of src/eval and await `step` between chunks of
 * images and between finish steps, so a large set never holds the event loop for long (jobs also
 * check for cancellation there).
 */
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { Evaluation, type EvaluationOutcome, type FinishOptions } from '../eval/index.js';
import type { ModelRunner } from '../models/runtime.js';
import { ModelEvaluation, type ModelEvaluationResult } from './model-evaluation.js';
import { prepareModelInput, type UploadedFile } from './model-input.js';
import { evalCoreOptions, evaluationResponse, type EvaluateOptions, type EvaluationResponse } from './response.js';

/** Awaited between chunks and steps (default: one turn of the event loop). */
export type Step = () => Promise<void> | void;

/** A model-mode upload held in memory (POST /evaluate). */
export interface ModelUpload {
  images: Array<UploadedFile & { bytes: Buffer }>;
  annotations: unknown;
}

/**
 * Model mode: match, validate, run every image, evaluate.
 * @throws InputError (4xx with the JSON path / part name), MultipartError, the pipeline's typed errors
 */
export async function evaluateModelUpload(runner: ModelRunner, upload: ModelUpload, opts: EvaluateOptions, step: Step = () => yieldLoop()): Promise<ModelEvaluationResult> {
  const input = prepareModelInput(upload.annotations, upload.images);
  const me = new ModelEvaluation(input, opts, runner);
  for (let k = 0; k < input.images.length; k++) await me.evaluateImage(k, input.images[k]!.bytes);
  return me.finish(step);
}

/** Detections mode's answer and what the report and the metrics need. */
export interface DetectionsEvaluation {
  response: EvaluationResponse;
  outcome: EvaluationOutcome;
  evalMs: number;
}

/** Options of {@link evaluateDetectionsInput} beyond the evaluation options. */
export interface DetectionsRunOptions extends FinishOptions {
  /** JSON path prefixes of the inputs (default `ground_truth` / `detections`). */
  paths?: { groundTruth: string; detections: string };
  /** Images per chunk of per-image records (default 64). */
  chunkImages?: number;
  step?: Step;
}

/**
 * Detections mode: GT + COCO results → the answer (no losses), evaluated in chunks of images.
 * @throws InputError with the JSON path of the offending input
 */
export async function evaluateDetectionsInput(groundTruth: unknown, detections: unknown, opts: EvaluateOptions, run: DetectionsRunOptions = {}): Promise<DetectionsEvaluation> {
  const step = run.step ?? (() => yieldLoop());
  const t0 = performance.now();
  const ev = Evaluation.open(groundTruth, { ...evalCoreOptions(opts), ...(run.paths ? { paths: run.paths } : {}) });
  await step();
  const batch = ev.loadResults(detections, { offset: 0 });
  await step();
  const ids = Array.from(ev.gt.imageIds);
  const chunk = Math.max(1, run.chunkImages ?? 64);
  for (let s = 0; s < ids.length; s += chunk) {
    ev.add(batch.evaluate(ids.slice(s, s + chunk)));
    await step();
  }
  if (ids.length === 0) ev.add(batch.evaluate([]));
  const outcome = await ev.finishStepwise(step, run);
  const evalMs = performance.now() - t0;
  const result = outcome.result;
  return { response: evaluationResponse({ images: result.counts.images, losses: null, result, timings: { evaluation: evalMs } }), outcome, evalMs };
}
