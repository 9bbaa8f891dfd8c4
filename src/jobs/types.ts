/**
 * @file Data types of evaluation jobs: what a job is given (model mode: image files on disk + COCO
 * annotations; detections mode: GT + results JSON), its state, progress and outcome. The store
 * (store.ts) owns the state machine; the runner (runner.ts) fills progress and outcome; the routes
 * (src/routes/evaluations.ts) and the report (src/report) read them.
 */
import type { IouType } from '../eval/index.js';
import type { EvaluateOptions } from '../pipeline/evaluate-model.js';
import type { PrCurves } from '../report/svg.js';

export type JobStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
export const JOB_STATUSES: readonly JobStatus[] = ['queued', 'running', 'done', 'failed', 'cancelled'];
export const isFinished = (s: JobStatus): boolean => s === 'done' || s === 'failed' || s === 'cancelled';

/** One image of a model-mode job: a file on disk (the job's temp dir, or the CLI user's folder). */
export interface JobImage {
  fileName: string;
  path: string;
  /** Input path for errors: `image[3]`. */
  field: string;
}

/** A model-mode job after matching files to `annotations.images[index]`. */
export interface ModelJobInput {
  annotations: Record<string, unknown>;
  images: Array<JobImage & { index: number }>;
}

export type JobInput =
  | ({ mode: 'model' } & ModelJobInput)
  | { mode: 'detections'; groundTruth: unknown; detections: unknown };

/** The answer of a finished job: the /evaluate body, over the whole set. */
export type EvaluationBody = Record<string, unknown> & { images: number };

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

/** How a failed job failed (the common error shape without the HTTP envelope). */
export interface JobError {
  statusCode: number;
  code: string;
  message: string;
  field: string | null;
}

export interface Progress {
  phase: 'queued' | 'images' | 'evaluation' | 'report' | 'finished';
  done: number;
  total: number;
  /** ms spent on the images done so far (for the ETA). */
  imageMs: number;
}

export interface Job {
  id: string;
  mode: JobInput['mode'];
  status: JobStatus;
  options: EvaluateOptions;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  progress: Progress;
  /** Dropped when the job ends. */
  input: JobInput | null;
  /** Per-job temp dir (model mode uploads), removed when the job ends. */
  tmpDir: string | null;
  result: EvaluationBody | null;
  report: ReportData | null;
  error: JobError | null;
  /** Set by cancel(); the runner checks it between images. */
  cancelRequested: boolean;
}
