/**
 * @file Runs one evaluation job to its result: model mode goes image by image (the per-image step of
 * POST /evaluate, src/pipeline/evaluate-model.ts `evaluateImage`; an `await` between images, the
 * cancel flag checked before each one), then one whole-set evaluation (evaluate-set.ts: chunked per-image records, a single accumulation), the mean losses,
 * and the report data (PR arrays, overlays of the worst images drawn while the uploads still
 * exist). Detections mode is the whole-set evaluation alone. The answer has the blocks of
 * POST /evaluate. Input checks that can fail fast (JSON shape, file-name matching, GT validity) are
 * in {@link prepareModelInput}, which the route calls before answering 202.
 */
import { readFile } from 'node:fs/promises';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { loadGroundTruth, WarningCollector } from '../eval/index.js';
import { expectArray, expectObject } from '../eval/json-check.js';
import {
  annotationsByImage, emptyEvaluationTimings, evalCoreOptions, evaluatedGroundTruth, evaluateImage, evaluationResponse, imageEntries, lossesSummary,
  matchUploads, modelTimings, roundedTimings, type NamedImageLosses,
} from '../pipeline/evaluate-model.js';
import type { ModelHandle } from '../plugins/model.js';
import { renderOverlay } from '../report/overlay.js';
import { compactCurves, type PrCurves } from '../report/svg.js';
import type { Accumulated, IouType } from '../eval/index.js';
import { JobErrors } from './errors.js';
import { evaluateSet, type ImageErrors } from './evaluate-set.js';
import type { EvaluationBody, Job, JobImage, ModelJobInput, Overlay } from './types.js';

/** A model-mode job's images with their annotation entries. */
export type PreparedModelInput = ModelJobInput;

/**
 * Matches files to `annotations.images[].file_name` (exact, else unique base name, as /evaluate:
 * src/pipeline/evaluate-model.ts `matchUploads`) and validates the ground truth of the matched images.
 * @throws InputError naming the file (`image[i]`) or the JSON path under `annotations`.
 */
export function prepareModelInput(annotations: unknown, files: JobImage[]): PreparedModelInput {
  const gt = expectObject(annotations, 'annotations');
  const entries = imageEntries(gt);
  expectArray(gt.annotations ?? [], 'annotations.annotations');
  const indices = matchUploads(entries, files);
  const images = files.map((f, k) => ({ ...f, index: indices[k]! }));
  loadGroundTruth(evaluatedGroundTruth(gt, new Set(images.map((im) => entries[im.index]!.id))), 'annotations', new WarningCollector());
  return { annotations: gt, images };
}

/** What the runner needs from the app. */
export interface RunnerDeps {
  model: ModelHandle | null;
  /** Overlays drawn in the report (default 3). */
  overlays?: number;
}

/** Keeps only the PR-curve slice of each accumulation (a job's report must stay small). */
function compact(acc: Partial<Record<IouType, Accumulated>>): Partial<Record<IouType, PrCurves>> {
  const out: Partial<Record<IouType, PrCurves>> = {};
  for (const t of ['bbox', 'segm'] as const) if (acc[t]) out[t] = compactCurves(acc[t]);
  return out;
}

/** Throws CANCELLED when the job was cancelled. */
function checkpointOf(job: Job): () => void {
  return () => {
    if (job.cancelRequested) throw new JobErrors.CANCELLED();
  };
}

/** Runs `job` (status 'running'); sets job.result and job.report, or throws. */
export async function runJob(job: Job, deps: RunnerDeps): Promise<void> {
  const input = job.input;
  if (!input) throw new Error('job has no input');
  const checkpoint = checkpointOf(job);
  const t0 = performance.now();
  const opts = job.options;
  const evalOpts = { ...evalCoreOptions(opts), checkpoint };
  if (input.mode === 'detections') {
    job.progress = { ...job.progress, phase: 'evaluation' };
    const t1 = performance.now();
    const { result, accumulated } = await evaluateSet({
      groundTruth: input.groundTruth, detections: input.detections, ...evalOpts,
      paths: { groundTruth: 'body.ground_truth', detections: 'body.detections' },
    });
    const evalMs = performance.now() - t1;
    job.progress = { ...job.progress, done: result.counts.images, total: result.counts.images };
    job.result = evaluationResponse({ images: result.counts.images, losses: null, result, timings: roundedTimings({ evaluation: evalMs }, performance.now() - t0) });
    job.report = { curves: compact(accumulated), overlays: [] };
    return;
  }

  const model = deps.model;
  if (!model) throw new Error('model mode needs the model');
  const prepared: PreparedModelInput = input;
  const gtJson = prepared.annotations;
  const entries = gtJson.images as Array<Record<string, unknown>>;
  const annsOf = annotationsByImage((gtJson.annotations as unknown[] | undefined) ?? []);
  const lossReason = model.lossesUnavailableReason();
  const timings = emptyEvaluationTimings();
  const results: Array<Record<string, unknown>> = [];
  const perImage: NamedImageLosses[] = [];
  job.progress = { phase: 'images', done: 0, total: prepared.images.length, imageMs: 0 };
  for (const img of prepared.images) {
    checkpoint();
    const ts = performance.now();
    const entry = entries[img.index]!;
    const bytes = await readFile(img.path);
    // The step of POST /evaluate, image by image; a full inference queue is waited out.
    const step = await evaluateImage(model, { fileName: img.fileName, field: img.field, bytes }, { entry, index: img.index, anns: annsOf.get(entry.id) ?? [] }, opts, timings, true);
    for (const r of step.results) results.push(r);
    if (step.losses) perImage.push(step.losses);
    job.progress = { ...job.progress, done: job.progress.done + 1, imageMs: job.progress.imageMs + performance.now() - ts };
    await yieldLoop();
  }
  checkpoint();
  job.progress = { ...job.progress, phase: 'evaluation' };
  const warnings = new WarningCollector();
  const groundTruth = evaluatedGroundTruth(gtJson, new Set(prepared.images.map((im) => entries[im.index]!.id)), warnings);
  const t3 = performance.now();
  const { result, accumulated, imageErrors } = await evaluateSet({
    groundTruth, detections: results, ...evalOpts,
    paths: { groundTruth: 'annotations', detections: 'detections' },
  });
  const evalMs = performance.now() - t3;
  const { losses } = lossesSummary(perImage, lossReason, opts.lossSampling, result.coco.segm?.stats[0]);
  const body: EvaluationBody = evaluationResponse({
    images: prepared.images.length, losses, lossesUnavailable: lossReason, result, warnings,
    timings: roundedTimings(modelTimings(timings, evalMs), performance.now() - t0),
  });
  job.progress = { ...job.progress, phase: 'report' };
  const overlays = await worstOverlays(prepared, results, imageErrors, perImage, deps.overlays ?? 3, checkpoint);
  job.result = body;
  job.report = { curves: compact(accumulated), overlays };
}

/** Draws the `n` worst images: highest loss when losses exist, else most missed GT + false positives. */
async function worstOverlays(
  prepared: PreparedModelInput,
  results: Array<Record<string, unknown>>,
  imageErrors: ImageErrors[],
  perImage: Array<{ image_id: number; loss: number }>,
  n: number,
  checkpoint: () => void,
): Promise<Overlay[]> {
  if (n <= 0) return [];
  const entries = prepared.annotations.images as Array<Record<string, unknown>>;
  const lossOf = new Map(perImage.map((l) => [l.image_id, l.loss]));
  const errOf = new Map(imageErrors.map((e) => [e.imageId, e]));
  const score = (id: number): number => (lossOf.get(id) ?? 0) * 1000 + (errOf.get(id)?.missed ?? 0) + (errOf.get(id)?.falsePositives ?? 0) / 100;
  const ranked = prepared.images.map((im) => ({ im, id: entries[im.index]!.id as number })).sort((a, b) => score(b.id) - score(a.id)).slice(0, n);
  const annsOf = annotationsByImage((prepared.annotations.annotations as unknown[] | undefined) ?? []);
  const categories = Array.isArray(prepared.annotations.categories) ? prepared.annotations.categories as Array<Record<string, unknown>> : [];
  const nameOf = new Map(categories.map((c) => [c.id, String(c.name)]));
  const out: Overlay[] = [];
  for (const { im, id } of ranked) {
    checkpoint();
    const gt = (annsOf.get(id) ?? []).map(({ ann }) => ({ bbox: (ann.bbox as number[]).map(Number), label: nameOf.get(ann.category_id) ?? String(ann.category_id) }));
    const dets = results.filter((r) => r.image_id === id).map((r) => ({ bbox: r.bbox as number[], score: r.score as number, label: nameOf.get(r.category_id) ?? String(r.category_id) }));
    const e = errOf.get(id);
    const loss = lossOf.get(id);
    const reason = [loss !== undefined ? `loss ${loss.toFixed(3)}` : null, e ? `${e.missed} of ${e.gt} GT missed at IoU 0.5` : null, e ? `${e.falsePositives} false positives` : null].filter(Boolean).join(', ');
    try {
      out.push({ fileName: im.fileName, imageId: id, reason, dataUri: await renderOverlay(im.path, gt, dets) });
    } catch {
      // an overlay is a nicety: a drawing failure must not fail the job
    }
    await yieldLoop();
  }
  return out;
}
