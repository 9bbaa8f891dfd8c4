/**
 * @file Data types of evaluation jobs beyond the store's rows (src/store/types.ts): the typed
 * result (the /evaluate answer over the whole set), what the report keeps besides it (PR curves,
 * worst-image overlays) in memory and as stored JSON, and how a failed job failed.
 */
import { resolveParams, type IouType } from '../eval/index.js';
import type { EvaluateOptions, EvaluationResponse } from '../evaluation/response.js';
import type { PrCurves } from '../report/curves.js';
import type { JobStatus, StoredJob } from '../store/index.js';

export { JOB_STATUSES, type JobStatus } from '../store/index.js';

export const isFinished = (s: JobStatus): boolean => s === 'done' || s === 'failed' || s === 'cancelled';

/** A job's result: the POST /evaluate answer computed over the whole set. */
export type JobResult = EvaluationResponse;

/** A worst-image overlay for the report. */
export interface Overlay {
  fileName: string;
  imageId: number;
  /** Why it is among the worst (e.g. "loss 1.234, 2 missed, 5 false positives"). */
  reason: string;
  /** data:image/png;base64,... */
  dataUri: string;
}

/** What the HTML report needs beyond the JSON result. */
export interface ReportData {
  /** Precision slices of the whole-set accumulation (PR curves; params for the COCO lines). */
  curves: Partial<Record<IouType, PrCurves>>;
  overlays: Overlay[];
}

/** {@link ReportData} as stored (JSON): typed arrays as number arrays, the params by IoU type. */
export interface StoredReportData {
  curves: Partial<Record<IouType, { categoryIds: number[]; T: number; R: number; K: number; precision: number[] }>>;
  overlays: Overlay[];
}

/** The stored form of report data (jobs use pycocotools' default params, rebuilt on read). */
export function storeReportData(r: ReportData): StoredReportData {
  const curves: StoredReportData['curves'] = {};
  for (const t of ['bbox', 'segm'] as const) {
    const c = r.curves[t];
    if (c) curves[t] = { categoryIds: Array.from(c.categoryIds), T: c.T, R: c.R, K: c.K, precision: Array.from(c.precision) };
  }
  return { curves, overlays: r.overlays };
}

/** Report data read back from the store. */
export function loadReportData(s: StoredReportData | null): ReportData {
  const curves: ReportData['curves'] = {};
  for (const t of ['bbox', 'segm'] as const) {
    const c = s?.curves[t];
    if (c) curves[t] = { params: resolveParams(t, undefined), categoryIds: Float64Array.from(c.categoryIds), T: c.T, R: c.R, K: c.K, precision: Float64Array.from(c.precision) };
  }
  return { curves, overlays: s?.overlays ?? [] };
}

/** How a failed job failed (the common error shape without the HTTP envelope). */
export interface JobError {
  statusCode: number;
  code: string;
  message: string;
  field: string | null;
}

/** Progress phases, in order. */
export type Phase = 'queued' | 'images' | 'evaluation' | 'report' | 'finished';

/** A stored job with its typed parts. */
export type Job = StoredJob & { result: JobResult | null; options: EvaluateOptions; error: JobError | null };
