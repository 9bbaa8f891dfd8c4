/**
 * @file Running one claimed job to its result, from what the store holds:
 * - model mode: the inputs are read back (annotations, then one image at a time), matched again
 *   (src/evaluation/model-input.ts: deterministic), the outcomes of images already recorded (a job
 *   resumed after a crash or a takeover) are merged first, then each remaining image is evaluated
 *   (src/evaluation/model-evaluation.ts) and its outcome stored with the progress in one commit;
 *   then the whole-set finish, the losses, and the report data (PR curves, overlays of the worst
 *   images drawn from the stored images);
 * - detections mode: the whole-set evaluation of the stored JSON (src/evaluation/evaluate.ts).
 * `checkpoint` is awaited before each image and between evaluation steps: it throws to stop the job
 * (cancelled, lease lost, shutting down). Nothing here knows HTTP.
 */
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import type { Accumulated, ImageErrors, IouType } from '../eval/index.js';
import { evaluateDetectionsInput } from '../evaluation/evaluate.js';
import { ModelEvaluation, type ImageOutcome } from '../evaluation/model-evaluation.js';
import { annotationsByImage, prepareModelInput, type UploadedFile } from '../evaluation/model-input.js';
import { decodeImageOutcome, encodeImageOutcome } from '../evaluation/records.js';
import { roundedTimings, type EvaluateOptions } from '../evaluation/response.js';
import type { ModelRunner } from '../models/runtime.js';
import { renderOverlay } from '../report/overlay.js';
import { compactCurves, type PrCurves } from '../report/curves.js';
import { iterateImageRecords, type JobProgress, type Store, type StoredJob } from '../store/index.js';
import type { JobResult, Overlay, ReportData } from './types.js';

/** What running a job needs. */
export interface RunJobContext {
  store: Store;
  job: StoredJob;
  /** The lease holder (this process). */
  leaseOwner: string;
  /** Throws to stop the job (awaited before each image and between evaluation steps). */
  checkpoint(): Promise<void>;
  /** The model runner of a model-mode job (waits for the model to be ready). */
  model(name: string | null, version: string | null): Promise<ModelRunner>;
  /** Overlays drawn in the report (default 3). */
  overlays?: number;
}

/** A finished run. */
export interface JobRunOutput {
  result: JobResult;
  report: ReportData;
}

/** Keeps only the PR-curve slice of each accumulation (a job's report must stay small). */
function compact(acc: Partial<Record<IouType, Accumulated>>): Partial<Record<IouType, PrCurves>> {
  const out: Partial<Record<IouType, PrCurves>> = {};
  for (const t of ['bbox', 'segm'] as const) if (acc[t]) out[t] = compactCurves(acc[t]);
  return out;
}

/** Runs a claimed job (see the file header). */
export async function runJob(ctx: RunJobContext): Promise<JobRunOutput> {
  const { store, job } = ctx;
  const input = await store.getJobInput(job.id);
  if (!input) throw new Error(`job ${job.id} has no inputs`);
  const opts = job.options as EvaluateOptions;
  const t0 = performance.now();
  const step = async (): Promise<void> => {
    await yieldLoop();
    await ctx.checkpoint();
  };
  const setProgress = async (p: JobProgress): Promise<void> => {
    await store.updateProgress(job.id, ctx.leaseOwner, p);
  };

  if (input.mode === 'detections') {
    await setProgress({ ...job.progress, phase: 'evaluation' });
    const out = await evaluateDetectionsInput(input.groundTruth, input.detections, opts, {
      paths: { groundTruth: 'body.ground_truth', detections: 'body.detections' }, step,
    });
    const images = out.response.counts.images;
    await setProgress({ phase: 'evaluation', done: images, total: images, imageMs: 0 });
    return {
      result: { ...out.response, timings_ms: roundedTimings(out.response.timings_ms, performance.now() - t0) },
      report: { curves: compact(out.outcome.accumulated), overlays: [] },
    };
  }

  const runner = await ctx.model(job.modelName, job.modelVersion);
  const files: UploadedFile[] = input.images.map((im) => ({ fileName: im.fileName, field: im.field ?? `image[${im.index}]` }));
  const prepared = prepareModelInput(input.annotations, files);
  const me = new ModelEvaluation(prepared, opts, runner);
  let imageMs = 0;
  for await (const rec of iterateImageRecords(store, job.id)) {
    const outcome = decodeImageOutcome(rec.record as Uint8Array);
    me.add(outcome);
    imageMs += outcome.ms;
  }
  const total = me.size;
  await setProgress({ phase: 'images', done: me.done, total, imageMs });
  for (let k = 0; k < total; k++) {
    if (me.has(k)) continue;
    await ctx.checkpoint();
    const image = await store.getJobImage(job.id, input.images[k]!.index);
    if (!image) throw new Error(`job ${job.id}: image ${k} is missing from the store`);
    // The step of POST /evaluate, image by image; a full inference queue is waited out.
    const outcome = await me.evaluateImage(k, Buffer.from(image.bytes.buffer, image.bytes.byteOffset, image.bytes.byteLength), true);
    imageMs += outcome.ms;
    await store.putImageRecord(job.id, k, encodeImageOutcome(outcome), { phase: 'images', done: me.done, total, imageMs });
    await yieldLoop();
  }
  await ctx.checkpoint();
  await setProgress({ phase: 'evaluation', done: total, total, imageMs });
  const out = await me.finish(step);
  await setProgress({ phase: 'report', done: total, total, imageMs });
  const overlays = await worstOverlays(ctx, prepared.annotations, me.recorded(), input.images.map((im) => im.index), out.outcome.imageErrors);
  return {
    result: { ...out.response, timings_ms: roundedTimings(out.response.timings_ms, performance.now() - t0) },
    report: { curves: compact(out.outcome.accumulated), overlays },
  };
}

/** Draws the worst images: highest loss when losses exist, else most missed GT + false positives. */
async function worstOverlays(
  ctx: RunJobContext, annotations: Record<string, unknown>, outcomes: ImageOutcome[], storeIndex: number[], imageErrors: ImageErrors[],
): Promise<Overlay[]> {
  const n = ctx.overlays ?? 3;
  if (n <= 0) return [];
  const lossOf = new Map(outcomes.flatMap((o) => (o.losses ? [[o.imageId, o.losses.loss] as const] : [])));
  const errOf = new Map(imageErrors.map((e) => [e.imageId, e]));
  const score = (id: number): number => (lossOf.get(id) ?? 0) * 1000 + (errOf.get(id)?.missed ?? 0) + (errOf.get(id)?.falsePositives ?? 0) / 100;
  const ranked = [...outcomes].sort((a, b) => score(b.imageId) - score(a.imageId)).slice(0, n);
  const annsOf = annotationsByImage((annotations.annotations as unknown[] | undefined) ?? []);
  const categories = Array.isArray(annotations.categories) ? annotations.categories as Array<Record<string, unknown>> : [];
  const nameOf = new Map(categories.map((c) => [c.id, String(c.name)]));
  const out: Overlay[] = [];
  for (const o of ranked) {
    await ctx.checkpoint();
    const id = o.imageId;
    const gt = (annsOf.get(id) ?? []).map(({ ann }) => ({ bbox: (ann.bbox as number[]).map(Number), label: nameOf.get(ann.category_id) ?? String(ann.category_id) }));
    const dets = o.detections.map((d) => ({ bbox: d.bbox, score: d.score, label: nameOf.get(d.category_id) ?? String(d.category_id) }));
    const e = errOf.get(id);
    const loss = lossOf.get(id);
    const reason = [loss !== undefined ? `loss ${loss.toFixed(3)}` : null, e ? `${e.missed} of ${e.gt} GT missed at IoU 0.5` : null, e ? `${e.falsePositives} false positives` : null].filter(Boolean).join(', ');
    try {
      const image = await ctx.store.getJobImage(ctx.job.id, storeIndex[o.k]!);
      if (!image) continue;
      out.push({ fileName: image.fileName, imageId: id, reason, dataUri: await renderOverlay(Buffer.from(image.bytes), gt, dets) });
    } catch {
      // an overlay is a nicety: a drawing failure must not fail the job
    }
    await yieldLoop();
  }
  return out;
}
