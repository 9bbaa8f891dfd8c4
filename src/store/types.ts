/**
 * @file The durable store of evaluation jobs: one engine-neutral, async interface ({@link Store})
 * implemented by SQLite (sqlite.ts, one file under DATA_DIR) and PostgreSQL (postgres.ts,
 * DATABASE_URL); `openStore` (index.ts) picks one. No HTTP here. docs/storage.md describes the
 * schema, the lifetime of what is kept and the errors.
 *
 * What it keeps, per job: the job row (state, options, progress, timestamps, outcome, report data,
 * the lease of the process running it), its inputs (annotations / ground truth / detections JSON,
 * and the image files as bytes, so any process can resume a job without the original temp dir), and
 * one opaque record per image (the runner's mergeable per-image COCO/VOC records and losses).
 *
 * Conventions:
 * - times are epoch milliseconds (numbers); methods that depend on the clock take `now` (tests and
 *   several replicas agree on it through the caller, not the database server's clock);
 * - JSON values are anything `JSON.stringify` accepts; they come back as `JSON.parse` gives them
 *   (key order kept; `undefined`, NaN and functions follow JSON.stringify's rules);
 * - every method may reject with {@link StoreUnavailableError} (retry later); `openStore` may also
 *   reject with StoreCorruptError or SchemaTooNewError (errors.ts);
 * - "lease holder" methods take the lease owner id and do nothing (return false) when the caller no
 *   longer holds the lease: a process whose lease lapsed and was taken over cannot overwrite the new
 *   holder's progress or outcome (fencing).
 */

/** Life of a job: queued → running → done | failed | cancelled (cancel also from queued). */
export type JobStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
export const JOB_STATUSES: readonly JobStatus[] = ['queued', 'running', 'done', 'failed', 'cancelled'];
/** Terminal statuses (finishJob). */
export type FinalStatus = 'done' | 'failed' | 'cancelled';

/** model: image files + COCO annotations, inference in the job; detections: GT + detections JSON. */
export type JobMode = 'model' | 'detections';

/** Progress of a job (what GET /evaluations/{id} shows). */
export interface JobProgress {
  /** `queued`, `images`, `evaluation`, `report`, `finished` (free text for the store). */
  phase: string;
  /** Images done. */
  done: number;
  /** Images in the job. */
  total: number;
  /** Milliseconds spent on the images done so far (for the ETA). */
  imageMs: number;
}

/** A job as listed (everything except the potentially large result and report data). */
export interface JobSummary {
  /** UUID. */
  id: string;
  /** Who submitted it (for access control later); null = anonymous. */
  owner: string | null;
  modelName: string | null;
  modelVersion: string | null;
  /** A registered data set (later); null = inputs uploaded with the job. */
  datasetId: string | null;
  mode: JobMode;
  status: JobStatus;
  /** The evaluation options as given at creation (JSON). */
  options: unknown;
  progress: JobProgress;
  createdAt: number;
  /** First claim. */
  startedAt: number | null;
  finishedAt: number | null;
  /** Set when the job ends (finishedAt + TTL); the job is gone for readers from then on. */
  expiresAt: number | null;
  /** How a failed job failed (JSON, e.g. `{statusCode, code, message, field}`), else null. */
  error: unknown;
  /** Cancel was asked while running; the lease holder stops at its next checkpoint. */
  cancelRequested: boolean;
  /** Process id holding the job (while running), else null. */
  leaseOwner: string | null;
  /** The lease lapses at this time; another process may then claim the job. */
  leaseExpiresAt: number | null;
  /** Times the job was claimed (> 1: it was taken over after a lapsed lease). */
  attempts: number;
}

/** A job with its result (getJob, claims). */
export interface StoredJob extends JobSummary {
  /** The /evaluate body over the whole set (JSON) once done, else null. */
  result: unknown;
}

/** One image file of a model-mode job, given to createJob. Exactly one of `bytes` and `path`. */
export interface NewJobImage {
  /** Key of the image in the job (unique per job; the runner uses the annotations.images index). */
  index: number;
  fileName: string;
  /** Input path for errors (`image[3]`), kept with the image. */
  field?: string | null;
  /** The file's bytes, or … */
  bytes?: Uint8Array;
  /** … a file to read (one file at a time: an upload of 2 GiB is never held in memory). */
  path?: string;
}

/** What a job is given. Images may be an async iterable (produced while the transaction runs). */
export type NewJobInput =
  | { mode: 'model'; annotations: unknown; images: Iterable<NewJobImage> | AsyncIterable<NewJobImage> }
  | { mode: 'detections'; groundTruth: unknown; detections: unknown }
  /**
   * A model-mode job over the registered dataset `NewJob.datasetId`: nothing is copied; getJobInput
   * and getJobImage answer from the dataset, the job is kept as history (it never expires) and
   * `total` is the dataset's image count. @throws DatasetNotFoundError
   */
  | { mode: 'dataset' };

/** A job to create. */
export interface NewJob {
  /** UUID; generated when absent. */
  id?: string;
  owner?: string | null;
  modelName?: string | null;
  modelVersion?: string | null;
  datasetId?: string | null;
  options: unknown;
  /** Images the job will evaluate (progress.total). */
  total: number;
  /** Default Date.now(). */
  createdAt?: number;
  input: NewJobInput;
  /** The sha256 of the model graph evaluated (history). */
  modelSha256?: string | null;
  /** What started the job (history: `manual`, `schedule`, `model_loaded`, `default_changed`). */
  trigger?: string | null;
}

/** An image of a job without its bytes. */
export interface JobImageInfo {
  index: number;
  fileName: string;
  field: string | null;
  /** Bytes. */
  size: number;
}

/** An image of a job with its bytes. */
export interface JobImageData extends JobImageInfo {
  bytes: Uint8Array;
}

/** A job's inputs as stored; images are listed without bytes (see {@link Store.getJobImage}). */
export type StoredJobInput =
  | { mode: 'model'; annotations: unknown; images: JobImageInfo[] }
  | { mode: 'detections'; groundTruth: unknown; detections: unknown };

/** A per-image record: opaque JSON, or bytes (a Uint8Array is stored as bytes, anything else as JSON). */
export type ImageRecordValue = unknown;

/** A per-image record read back. */
export interface ImageRecord {
  index: number;
  /** JSON.parse of what was stored, or a Uint8Array when bytes were stored. */
  record: unknown;
}

/** Filters and paging of {@link Store.listJobs}. Filters combine with AND. */
export interface ListJobsQuery {
  owner?: string;
  status?: JobStatus | readonly JobStatus[];
  modelName?: string;
  datasetId?: string;
  /** Page size, 1..1000 (default 50). */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string | null;
  /** Jobs expired at this time are left out (default Date.now()). */
  now?: number;
  /** `upload`: only jobs with their own inputs; `history`: only dataset jobs (kept forever); default both. */
  kind?: JobKind;
}

/** Jobs with their own (uploaded) inputs, which expire, or dataset evaluations, kept as history. */
export type JobKind = 'upload' | 'history';

/** One page of jobs, newest first (createdAt, then id, descending). */
export interface JobPage {
  jobs: JobSummary[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

/** How a job ended (finishJob). */
export interface JobOutcome {
  status: FinalStatus;
  /** Kept only when status is 'done'. */
  result?: unknown;
  /** Kept only when status is 'failed'. */
  error?: unknown;
  /** Report data (PR curves, overlays), kept only when status is 'done'. */
  report?: unknown;
  /** Finish time (default Date.now()). */
  now?: number;
  /** The job expires `ttlMs` after it ended. */
  ttlMs: number;
  /**
   * Only this lease holder may finish the job (fencing); null = anyone (e.g. an admin or a queued
   * job cancelled before any claim).
   */
  leaseOwner: string | null;
  /** Keep the image bytes after the job ends (default false: they are deleted with the job's end). */
  keepImages?: boolean;
}

/** Jobs per status. */
export type StatusCounts = Record<JobStatus, number>;

/** Which engine, for logs and /health. */
export type StoreEngine = 'sqlite' | 'postgres';

/**
 * The durable store. All methods are async; rejections are {@link StoreUnavailableError} when the
 * database is unreachable (retry later) and plain errors for misuse. Safe to call concurrently.
 */
export interface Store {
  readonly engine: StoreEngine;
  /** Where the data is: the SQLite file path, or the PostgreSQL URL without its password. */
  readonly location: string;

  /**
   * Creates a queued job with its inputs in ONE transaction: when it resolves, the job and all its
   * inputs are durable (answer 202 after this); when it rejects (an image file cannot be read, a
   * duplicate image index, the database goes away), nothing of the job is left.
   * @returns the created job
   */
  createJob(job: NewJob): Promise<StoredJob>;

  /** The job, or null when unknown, deleted, or expired at `now` (default Date.now()). */
  getJob(id: string, now?: number): Promise<StoredJob | null>;

  /** The report data of a job (null when none, unknown or expired). Separate: it can be large (PNG overlays). */
  getReport(id: string, now?: number): Promise<unknown>;

  /** Jobs newest first, filtered and paged (keyset pagination: stable while jobs are added). */
  listJobs(query?: ListJobsQuery): Promise<JobPage>;

  /** Jobs per status (expired jobs not yet deleted are counted under their status); `kind` filters. */
  countByStatus(kind?: JobKind): Promise<StatusCounts>;

  /**
   * Claims the oldest claimable job for `leaseOwner` for `leaseMs`: a queued job, or a running job
   * whose lease lapsed at `now` (its holder crashed or hung). Atomic across processes: one claimant
   * wins, the others get another job or null. Sets status running, startedAt (first claim),
   * the lease, attempts + 1.
   * @returns the claimed job, or null when nothing is claimable
   */
  claimNext(leaseOwner: string, leaseMs: number, now?: number): Promise<StoredJob | null>;

  /** Claims this job if it is claimable (as {@link claimNext}); null otherwise. */
  claimJob(id: string, leaseOwner: string, leaseMs: number, now?: number): Promise<StoredJob | null>;

  /**
   * Extends the lease of a running job held by `leaseOwner` to now + leaseMs.
   * @returns false when the caller no longer holds it (taken over, finished, deleted): stop working on it
   */
  renewLease(id: string, leaseOwner: string, leaseMs: number, now?: number): Promise<boolean>;

  /**
   * Sets the progress of a running job held by `leaseOwner`.
   * @returns false when the caller does not hold the lease
   */
  updateProgress(id: string, leaseOwner: string, progress: JobProgress): Promise<boolean>;

  /**
   * Ends a job (done, failed or cancelled): status, finishedAt, expiresAt = now + ttlMs, progress
   * phase `finished`, result (done only), error (failed only), report (done only), lease cleared;
   * the image bytes are deleted unless `keepImages`. Does nothing to a job already finished.
   * @returns false when the job is unknown, already finished, or leased by someone else
   */
  finishJob(id: string, outcome: JobOutcome): Promise<boolean>;

  /**
   * Asks a job to stop. A queued job is cancelled at once (finished, expires at now + ttlMs); a
   * running one gets `cancelRequested` (its lease holder stops at its next checkpoint and finishes
   * it as cancelled); a finished one is left as is.
   * @returns the job after the change, or null when unknown or expired
   */
  requestCancel(id: string, ttlMs: number, now?: number): Promise<StoredJob | null>;

  /** The job's inputs (images without bytes), or null when unknown or the inputs were deleted. */
  getJobInput(id: string): Promise<StoredJobInput | null>;

  /** One image with its bytes (load images one at a time), or null when absent. */
  getJobImage(id: string, index: number): Promise<JobImageData | null>;

  /**
   * Writes the record of image `index` (upsert: writing an index twice leaves one row, the last
   * value). When `progress` is given it is set in the same transaction (one commit per image).
   * A Uint8Array is stored as bytes, anything else as JSON.
   * @throws when the job does not exist (foreign key)
   */
  putImageRecord(id: string, index: number, record: ImageRecordValue, progress?: JobProgress): Promise<void>;

  /**
   * Records in image order, `limit` (default 1000) at a time after index `after` (exclusive;
   * default: from the start). Page with the last index returned until fewer than `limit` come back.
   */
  listImageRecords(id: string, page?: { after?: number; limit?: number }): Promise<ImageRecord[]>;

  /**
   * Indices that have a record, ascending (where a resumed job continues); only those in
   * [`range.from`, `range.to`) when given (a distributed task checks its own images).
   */
  doneImageIndices(id: string, range?: { from?: number; to?: number }): Promise<number[]>;

  /** How many images of the job have a record (0 for an unknown job): the progress of a distributed job. */
  countImageRecords(id: string): Promise<number>;

  /** Deletes the job, its inputs and records (whatever its status). @returns false when unknown */
  deleteJob(id: string): Promise<boolean>;

  /** Deletes every job with expiresAt ≤ now, with inputs and records. @returns jobs deleted */
  deleteExpired(now?: number): Promise<number>;

  // ------------------------------------------------------------------ datasets and history

  /**
   * Creates a dataset with its images in one transaction (all or nothing).
   * @throws DatasetExistsError (name taken by the owner), DatasetLimitError (`max` datasets exist)
   */
  createDataset(d: NewDataset): Promise<StoredDataset>;

  /** The dataset (owner given: only when it is that owner's), or null. */
  getDataset(id: string, owner?: string | null): Promise<StoredDataset | null>;

  /** Datasets newest first, paged (owner given: only that owner's). */
  listDatasets(query?: { owner?: string | null; limit?: number; cursor?: string | null }): Promise<DatasetPage>;

  /** Datasets stored (all owners). */
  countDatasets(): Promise<number>;

  /**
   * Deletes a dataset, its images and its evaluations (history), unless one of them is queued or
   * running. @returns `deleted`, `busy` (a job of it is queued or running: nothing deleted) or `missing`
   */
  deleteDataset(id: string, owner?: string | null): Promise<'deleted' | 'busy' | 'missing'>;

  /** Sets the schedule fields of a dataset (next run computed by the caller). @returns the dataset, or null */
  setDatasetSchedule(id: string, schedule: DatasetScheduleUpdate, owner?: string | null): Promise<StoredDataset | null>;

  /** Pins (or with null unpins) the baseline evaluation. @returns the dataset, or null */
  setDatasetBaseline(id: string, jobId: string | null, owner?: string | null): Promise<StoredDataset | null>;

  /** Datasets with a scheduled run due at `now` (next_run_at ≤ now), soonest first. */
  dueDatasets(now: number, limit?: number): Promise<StoredDataset[]>;

  /**
   * Claims one firing of a schedule: moves next_run_at from `expected` to `next` and sets
   * last_run_at = now, only if next_run_at is still `expected` (one process wins a firing).
   * @returns true when this caller won
   */
  claimScheduledRun(id: string, expected: number, next: number | null, now: number): Promise<boolean>;

  /** Records what a firing (scheduled or automatic) did: the job started, or why none was. */
  recordDatasetRun(id: string, outcome: { jobId: string | null; error: string | null }): Promise<void>;

  /** Datasets that evaluate automatically on model events of `modelName` (auto and model null or equal). */
  autoDatasets(modelName: string): Promise<StoredDataset[]>;

  /** Claims one automatic run keyed by `key` (e.g. `model@version:event`): true once per key and dataset. */
  claimAutoRun(id: string, key: string): Promise<boolean>;

  /** Evaluations with their summaries, newest first (createdAt, id), filtered and paged. */
  listHistory(query?: HistoryQuery): Promise<HistoryPage>;

  // ------------------------------------------------------------------ drift references (docs/drift.md)

  /** Stores the drift reference of a model version, replacing the previous one (upsert). */
  putDriftReference(ref: DriftReferenceRecord): Promise<void>;

  /** The drift reference of a model version, or null. */
  getDriftReference(model: string, version: string): Promise<DriftReferenceRecord | null>;

  /** Every drift reference, by model then version. */
  listDriftReferences(): Promise<DriftReferenceRecord[]>;

  /** Deletes the drift reference of a model version. @returns false when there was none */
  deleteDriftReference(model: string, version: string): Promise<boolean>;

  /** Readiness: resolves when the database answers a trivial query, else rejects (StoreUnavailableError). */
  ping(): Promise<void>;

  /** Closes the database (waits for calls in progress). Later calls reject with StoreUnavailableError (reason `closed`). */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------- datasets and history

/** A dataset to create. */
export interface NewDataset {
  /** UUID; generated when absent. */
  id?: string;
  owner?: string | null;
  name: string;
  /** COCO annotations (JSON). */
  annotations: unknown;
  /** Annotations (instances) in `annotations` (shown in listings). */
  annotationCount: number;
  categories: Array<{ id: number; name: string }>;
  images: Iterable<NewJobImage> | AsyncIterable<NewJobImage>;
  /** Default Date.now(). */
  createdAt?: number;
  /** Refuse (DatasetLimitError) when this many datasets exist already (all owners). */
  max?: number;
  schedule?: DatasetScheduleUpdate;
}

/** The schedule fields of a dataset. */
export interface DatasetScheduleUpdate {
  cron: string | null;
  model: string | null;
  version: string | null;
  auto: boolean;
  /** Next firing (epoch ms), null when no cron. */
  nextRunAt: number | null;
}

/** A stored dataset (without its annotations and image bytes). */
export interface StoredDataset {
  id: string;
  owner: string | null;
  name: string;
  images: number;
  annotations: number;
  bytes: number;
  categories: Array<{ id: number; name: string }>;
  createdAt: number;
  baselineJobId: string | null;
  schedule: DatasetScheduleUpdate & { lastRunAt: number | null; lastJobId: string | null; lastError: string | null };
  /** Evaluations of it in the store (history). */
  evaluations: number;
}

export interface DatasetPage {
  datasets: StoredDataset[];
  nextCursor: string | null;
}

/** Filters of {@link Store.listHistory} (AND). */
export interface HistoryQuery {
  /** Only this owner's (undefined or null: everyone's). */
  owner?: string | null;
  /** Only this job. */
  id?: string;
  modelName?: string;
  modelVersion?: string;
  datasetId?: string;
  status?: JobStatus;
  /** createdAt ≥ since, < until. */
  since?: number;
  until?: number;
  /** 1..1000, default 50. */
  limit?: number;
  cursor?: string | null;
  /** Include per-class AP (series). */
  classes?: boolean;
  /** Expired jobs left out at this time (default Date.now()). */
  now?: number;
}

/** Box or mask AP of a summary (null: not evaluated or no GT). */
export interface ApSummary {
  ap: number | null;
  ap50: number | null;
  ap75: number | null;
}

/** Per-class AP of a summary. */
export interface ClassSummary {
  category_id: number;
  name: string;
  box_ap: number | null;
  mask_ap: number | null;
}

/** The summary columns of a done job (computed from its result at finishJob). */
export interface JobHistorySummary {
  images: number | null;
  /** The five losses' means and `loss`, or null. */
  losses: Record<string, number | null> | null;
  box: ApSummary;
  mask: ApSummary;
  classes: ClassSummary[];
}

/** One row of the history. */
export interface HistoryRow {
  id: string;
  owner: string | null;
  mode: JobMode;
  status: JobStatus;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  modelName: string | null;
  modelVersion: string | null;
  modelSha256: string | null;
  datasetId: string | null;
  /** null when the dataset is gone (or none). */
  datasetName: string | null;
  trigger: string | null;
  /** Images of the job (progress total). */
  total: number;
  summary: JobHistorySummary;
}

export interface HistoryPage {
  rows: HistoryRow[];
  nextCursor: string | null;
}

/** The drift reference of one model version (docs/drift.md): what its predictions looked like. */
export interface DriftReferenceRecord {
  /** The model's manifest name and version. */
  model: string;
  version: string;
  /** Where the reference came from (JSON: live window or evaluation). */
  source: unknown;
  /** The histograms per feature (JSON). */
  histograms: unknown;
  /** Images the histograms were made of. */
  images: number;
  /** Who pinned it (token name), null when anonymous. */
  owner: string | null;
  createdAt: number;
}
