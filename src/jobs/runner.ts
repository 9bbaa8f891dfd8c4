/**
 * @file Runs one evaluation job to its result: model mode goes image by image (src/jobs/model-step.ts,
 * an `await` between images, the cancel flag checked before each one), then one whole-set
 * evaluation (evaluate-set.ts: chunked per-image records, a single accumulation), the mean losses,
 * and the report data (PR arrays, overlays of the worst images drawn while the uploads still
 * exist). Detections mode is the whole-set evaluation alone. The answer has the blocks of
 * POST /evaluate. Input checks that can fail fast (JSON shape, file-name matching, GT validity) are
 * in {@link prepareModelInput}, which the route calls before answering 202.
 */
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { InputError, loadGroundTruth, WarningCollector } from '../eval/index.js';
import { expectArray, expectObject, isObject } from '../eval/json-check.js';
import { LOSS_ALIASES, LOSS_KEYS, meanLosses, type ImageLosses } from '../losses/index.js';
import { emptyTimings } from '../pipeline/predict.js';
import type { ModelHandle } from '../plugins/model.js';
import { renderOverlay } from '../report/overlay.js';
import { compactCurves, type PrCurves } from '../report/svg.js';
import type { Accumulated, IouType } from '../eval/index.js';
import { JobErrors } from './errors.js';
import { evaluateSet, type ImageErrors } from './evaluate-set.js';
import { annotationsByImage, runImageStep, type ImageStepResult, type JobTimings } from './model-step.js';
import type { EvaluationBody, Job, JobImage, ModelJobInput, Overlay } from './types.js';

/** A model-mode job's images with their annotation entries. */
export type PreparedModelInput = ModelJobInput;

const base = (p: string): string => p.slice(Math.max(p.lastIndexOf('/'), p.lastIndexOf('\\')) + 1);

/**
 * Matches files to `annotations.images[].file_name` (exact, else unique base name, as /evaluate)
 * and validates the ground truth of the matched images.
 * @throws InputError naming the file (`image[i]`) or the JSON path under `annotations`.
 */
export function prepareModelInput(annotations: unknown, files: JobImage[]): PreparedModelInput {
  const gt = expectObject(annotations, 'annotations');
  const entries = expectArray(gt.images, 'annotations.images').map((e, i) => expectObject(e, `annotations.images[${i}]`));
  expectArray(gt.annotations ?? [], 'annotations.annotations');
  const byName = new Map<string, number[]>();
  entries.forEach((e, i) => {
    if (typeof e.file_name !== 'string') return;
    for (const key of new Set([e.file_name, base(e.file_name)])) byName.set(key, [...(byName.get(key) ?? []), i]);
  });
  const used = new Set<number>();
  const images = files.map((f) => {
    const hits = byName.get(f.fileName) ?? byName.get(base(f.fileName)) ?? [];
    if (hits.length !== 1) {
      throw new InputError(f.field, hits.length === 0
        ? `uploaded file "${f.fileName}" matches no annotations.images[].file_name`
        : `uploaded file "${f.fileName}" matches ${hits.length} annotations.images entries`);
    }
    const index = hits[0]!;
    if (used.has(index)) throw new InputError(f.field, `file "${f.fileName}" is uploaded twice`, 400);
    used.add(index);
    return { ...f, index };
  });
  loadGroundTruth(subset(gt, new Set(images.map((im) => entries[im.index]!.id))), 'annotations', new WarningCollector());
  return { annotations: gt, images };
}

/** The GT restricted to the given image ids (what is evaluated). */
function subset(gt: Record<string, unknown>, ids: Set<unknown>): Record<string, unknown> {
  const anns = Array.isArray(gt.annotations) ? gt.annotations : [];
  return {
    ...gt,
    images: (gt.images as unknown[]).filter((e) => isObject(e) && ids.has(e.id)),
    annotations: anns.filter((a) => isObject(a) && ids.has(a.image_id)),
  };
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

const round = (ms: number): number => Math.round(ms * 100) / 100;

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
  const evalOpts = {
    ...(opts.iouTypes ? { iouTypes: opts.iouTypes } : {}),
    ...(opts.vocMode ? { vocMode: opts.vocMode } : {}),
    ...(opts.vocIouThr !== undefined ? { vocIouThr: opts.vocIouThr } : {}),
    checkpoint,
  };
  if (input.mode === 'detections') {
    job.progress = { ...job.progress, phase: 'evaluation' };
    const t1 = performance.now();
    const { result, accumulated } = await evaluateSet({
      groundTruth: input.groundTruth, detections: input.detections, ...evalOpts,
      paths: { groundTruth: 'body.ground_truth', detections: 'body.detections' },
    });
    const evalMs = performance.now() - t1;
    job.progress = { ...job.progress, done: result.counts.images, total: result.counts.images };
    job.result = {
      images: result.counts.images, losses: null, coco: result.coco, voc: result.voc, warnings: result.warnings,
      counts: { images: result.counts.images, gt_instances: result.counts.gtInstances, detections: result.counts.detections },
      timings_ms: { evaluation: round(evalMs), total: round(performance.now() - t0) },
    };
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
  const timings: JobTimings = { ...emptyTimings(), losses: 0 };
  const results: Array<Record<string, unknown>> = [];
  const perImage: NonNullable<ImageStepResult['losses']>[] = [];
  job.progress = { phase: 'images', done: 0, total: prepared.images.length, imageMs: 0 };
  for (const img of prepared.images) {
    checkpoint();
    const ts = performance.now();
    const entry = entries[img.index]!;
    const step = await runImageStep(model, img, entry, img.index, annsOf.get(entry.id) ?? [], opts, timings);
    for (const r of step.results) results.push(r);
    if (step.losses) perImage.push(step.losses);
    job.progress = { ...job.progress, done: job.progress.done + 1, imageMs: job.progress.imageMs + performance.now() - ts };
    await yieldLoop();
  }
  checkpoint();
  job.progress = { ...job.progress, phase: 'evaluation' };
  const matchedIds = new Set(prepared.images.map((im) => entries[im.index]!.id));
  const warnings = new WarningCollector();
  if (matchedIds.size < entries.length) {
    warnings.add('images-not-uploaded', 'annotations.images', `${entries.length - matchedIds.size} of ${entries.length} annotated images were not uploaded and are left out of the evaluation`);
  }
  const t3 = performance.now();
  const { result, accumulated, imageErrors } = await evaluateSet({
    groundTruth: subset(gtJson, matchedIds), detections: results, ...evalOpts,
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
  const body: EvaluationBody = {
    images: prepared.images.length,
    losses,
    ...(lossReason !== null ? { losses_unavailable: lossReason } : {}),
    coco: result.coco,
    voc: result.voc,
    warnings: [...warnings.list(), ...result.warnings],
    counts: { images: result.counts.images, gt_instances: result.counts.gtInstances, detections: result.counts.detections },
    timings_ms: Object.fromEntries(Object.entries({
      decode: timings.decode, preprocess: timings.preprocess, inference: timings.inference, queue: timings.queue,
      postprocess: timings.postprocess, losses: timings.losses, evaluation: evalMs, total: performance.now() - t0,
    }).map(([k, v]) => [k, round(v)])),
  };
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
