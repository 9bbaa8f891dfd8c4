/**
 * @file Golden datasets (docs/history.md#datasets), the use cases without HTTP: registering one
 * from a multipart upload (the same reading and checks as a model-mode POST /evaluations: images
 * streamed to a temp dir, annotations matched and validated by src/evaluation/model-input.ts, plus
 * the `name` and optional schedule fields), its JSON view, the schedule and baseline settings, and
 * submitting an evaluation of it to the job service. The store keeps the annotations (restricted to
 * the uploaded images) and the image bytes once; evaluations of the dataset read them from there.
 */
import { open, rm } from 'node:fs/promises';
import { WarningCollector } from '../eval/index.js';
import type { Job } from '../jobs/types.js';
import type { JobService, Reservation } from '../jobs/service.js';
import { readJobUpload, type JobFile, type JobUploadLimits } from '../jobs/upload.js';
import { NotAnImageError } from '../pipeline/errors.js';
import { sniffFormat } from '../pipeline/decode.js';
import type { DatasetView } from '../schemas/history.js';
import { DatasetExistsError, DatasetLimitError, DatasetNotFoundError, type StoredDataset, type Store } from '../store/index.js';
import type { EvaluateOptions } from './response.js';
import { MultipartError } from './errors.js';
import { DatasetExists, DatasetNotFound, EvaluationNotDone, HistoryInputError, TooManyDatasets } from './history-errors.js';
import { historyRow } from './history.js';
import { evaluatedGroundTruth, prepareModelInput } from './model-input.js';
import type { UploadPart } from './upload.js';
import { nextRunAt } from './schedule.js';

/** Dataset names: they become Prometheus label values and URLs' query values. */
export const DATASET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const TEXT_FIELDS = ['name', 'cron', 'model', 'version', 'auto'] as const;
type TextField = (typeof TEXT_FIELDS)[number];

/** A dataset upload read and checked, its images in a temp dir (remove `tmpDir` after use). */
export interface DatasetUpload {
  tmpDir: string;
  name: string;
  annotations: Record<string, unknown>;
  images: JobFile[];
  fields: Partial<Record<TextField, string>>;
}

/** Takes the text fields out of the parts and passes the rest (image, annotations) on. */
async function* takeFields(parts: AsyncIterable<UploadPart>, out: Partial<Record<TextField, string>>): AsyncGenerator<UploadPart> {
  for await (const part of parts) {
    const name = part.fieldname as TextField;
    if (!TEXT_FIELDS.includes(name)) {
      yield part;
      continue;
    }
    if (part.type !== 'field') throw new MultipartError(`"${name}" must be a text field, not a file`, name);
    if (out[name] !== undefined) throw new MultipartError(`"${name}" is repeated`, name);
    out[name] = String(part.value);
  }
}

async function checkImageFile(f: JobFile): Promise<void> {
  const fh = await open(f.path, 'r');
  try {
    const head = new Uint8Array(16);
    const { bytesRead } = await fh.read(head, 0, 16, 0);
    if (!sniffFormat(head.subarray(0, bytesRead))) throw new NotAnImageError(f.field);
  } finally {
    await fh.close();
  }
}

/**
 * Reads a POST /datasets body: `name`, `image` files, `annotations`, optional `cron`, `model`,
 * `version`, `auto`. Everything is checked before anything is stored.
 * @throws MultipartError, UploadTooLargeError, InvalidJsonError, InputError (annotations),
 *   NotAnImageError, HistoryInputError — each naming its field
 */
export async function readDatasetUpload(parts: AsyncIterable<UploadPart>, limits: JobUploadLimits): Promise<DatasetUpload> {
  const fields: Partial<Record<TextField, string>> = {};
  const upload = await readJobUpload(takeFields(parts, fields), limits);
  try {
    if (fields.name === undefined) throw new MultipartError('missing "name" (1-64 characters: letters, digits, ".", "_", "-")', 'name');
    if (!DATASET_NAME.test(fields.name)) throw new HistoryInputError(`name must be 1-64 characters of letters, digits, ".", "_", "-", starting with a letter or digit (got ${JSON.stringify(fields.name.slice(0, 80))})`, 'name');
    if (fields.auto !== undefined && fields.auto !== 'true' && fields.auto !== 'false') throw new HistoryInputError('auto must be "true" or "false"', 'auto');
    if (fields.cron !== undefined) nextRunAt(fields.cron, 0, 'cron');
    const prepared = prepareModelInput(upload.annotations, upload.images);
    for (const f of upload.images) await checkImageFile(f);
    const entries = prepared.annotations.images as Array<Record<string, unknown>>;
    const annotations = evaluatedGroundTruth(prepared.annotations, new Set(prepared.images.map((im) => entries[im.index]!.id)), new WarningCollector());
    return { tmpDir: upload.tmpDir, name: fields.name, annotations, images: upload.images, fields };
  } catch (err) {
    await rm(upload.tmpDir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Stores a dataset read by {@link readDatasetUpload} (removes its temp dir).
 * @throws DatasetExists (409), TooManyDatasets (409)
 */
export async function createDataset(store: Store, upload: DatasetUpload, owner: string | null, now: number, max: number): Promise<StoredDataset> {
  try {
    const cats = Array.isArray(upload.annotations.categories) ? upload.annotations.categories as Array<Record<string, unknown>> : [];
    const categories = cats.map((c) => ({ id: Number(c.id), name: String(c.name ?? c.id) })).sort((a, b) => a.id - b.id);
    const cron = upload.fields.cron ?? null;
    return await store.createDataset({
      owner, name: upload.name, annotations: upload.annotations, categories, createdAt: now, max,
      annotationCount: Array.isArray(upload.annotations.annotations) ? upload.annotations.annotations.length : 0,
      images: upload.images.map((f, k) => ({ index: k, fileName: f.fileName, field: f.field, path: f.path })),
      schedule: {
        cron, model: upload.fields.model ?? null, version: upload.fields.version ?? null, auto: upload.fields.auto === 'true',
        nextRunAt: cron ? nextRunAt(cron, now, 'cron') : null,
      },
    });
  } catch (err) {
    if (err instanceof DatasetExistsError) throw new DatasetExists(upload.name);
    if (err instanceof DatasetLimitError) throw new TooManyDatasets(err.max);
    throw err;
  } finally {
    await rm(upload.tmpDir, { recursive: true, force: true });
  }
}

const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());

/** The JSON view of a dataset (Dataset schema). */
export function datasetView(d: StoredDataset): DatasetView {
  return {
    id: d.id, name: d.name, images: d.images, bytes: d.bytes, annotations: d.annotations, categories: d.categories,
    created_at: iso(d.createdAt)!, evaluations: d.evaluations, baseline_evaluation_id: d.baselineJobId,
    schedule: {
      cron: d.schedule.cron, model: d.schedule.model, version: d.schedule.version, auto: d.schedule.auto,
      next_run_at: iso(d.schedule.nextRunAt), last_run_at: iso(d.schedule.lastRunAt), last_evaluation_id: d.schedule.lastJobId, last_error: d.schedule.lastError,
    },
    links: datasetLinks(d.id),
  };
}

export const datasetLinks = (id: string): DatasetView['links'] => ({
  self: `/datasets/${id}`, evaluations: `/evaluations?dataset_id=${id}`, series: `/evaluations/series?dataset_id=${id}`,
});

/** The dataset, or DatasetNotFound (another owner's too). */
export async function requireDataset(store: Store, id: string, owner: string | null, field = 'params.id'): Promise<StoredDataset> {
  const d = await store.getDataset(id, owner);
  if (!d) throw new DatasetNotFound(id, field);
  return d;
}

/** Sets the schedule (fields left out keep their value). */
export async function updateSchedule(store: Store, id: string, owner: string | null, body: { cron?: string | null; model?: string | null; version?: string | null; auto?: boolean }, now: number): Promise<StoredDataset> {
  const d = await requireDataset(store, id, owner);
  const cron = body.cron === undefined ? d.schedule.cron : body.cron;
  const next = cron === null ? null : cron === d.schedule.cron && d.schedule.nextRunAt !== null ? d.schedule.nextRunAt : nextRunAt(cron, now, 'body.cron');
  const updated = await store.setDatasetSchedule(d.id, {
    cron, nextRunAt: next,
    model: body.model === undefined ? d.schedule.model : body.model,
    version: body.version === undefined ? d.schedule.version : body.version,
    auto: body.auto ?? d.schedule.auto,
  }, owner);
  if (!updated) throw new DatasetNotFound(id);
  return updated;
}

/** Pins a done evaluation of the dataset as its baseline (null unpins). */
export async function pinBaseline(store: Store, id: string, owner: string | null, evaluationId: string | null, now: number): Promise<StoredDataset> {
  const d = await requireDataset(store, id, owner);
  if (evaluationId !== null) {
    const row = await historyRow(store, evaluationId, owner, now);
    if (!row || row.datasetId !== d.id) throw new HistoryInputError(`evaluation "${evaluationId}" is not an evaluation of dataset "${d.id}"`, 'body.evaluation_id');
    if (row.status !== 'done') throw new EvaluationNotDone(row.id, row.status, 'body.evaluation_id');
  }
  const updated = await store.setDatasetBaseline(d.id, evaluationId, owner);
  if (!updated) throw new DatasetNotFound(id);
  return updated;
}

/** The model a dataset evaluation runs: its names and graph hash. */
export interface EvaluatedModel {
  name: string;
  version: string;
  sha256: string | null;
}

/**
 * Submits an evaluation of a dataset (checked to exist and be the owner's) to the job service.
 * @throws DatasetNotFound naming `field`, TooManyJobsError, StoreUnavailableError
 */
export async function submitDatasetEvaluation(service: JobService, args: {
  datasetId: string; owner: string | null; model: EvaluatedModel; options: EvaluateOptions; trigger: string; field?: string; reservation?: Reservation;
}): Promise<Job> {
  const field = args.field ?? 'body.dataset_id';
  await requireDataset(service.store, args.datasetId, args.owner, field);
  try {
    return await service.submit({
      owner: args.owner, mode: 'dataset', datasetId: args.datasetId, options: args.options, modelName: args.model.name, modelVersion: args.model.version,
      modelSha256: args.model.sha256, trigger: args.trigger,
    }, args.reservation);
  } catch (err) {
    if (err instanceof DatasetNotFoundError) throw new DatasetNotFound(args.datasetId, field); // deleted meanwhile
    throw err;
  }
}
