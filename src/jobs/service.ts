/**
 * @file The job service: evaluation jobs kept in a {@link Store} (SQLite, PostgreSQL, or memory)
 * and run by this process. No HTTP here (src/routes/evaluations.ts is the edge).
 *
 * - Submitting: `reserve()` holds a slot while an upload is read (429 TooManyJobsError when running +
 *   queued + uploads in progress reach JOBS_MAX_CONCURRENT + JOBS_MAX_QUEUED; when JOBS_MAX_STORED
 *   jobs are kept the oldest finished one is deleted first); `submit()` commits the job and ALL its
 *   inputs in one store transaction, so once it resolves (the 202) the job survives a crash.
 * - Running: the service claims queued jobs — and running jobs whose lease lapsed (their process
 *   died) — up to JOBS_MAX_CONCURRENT at a time, renews the lease every third of JOBS_LEASE_SECONDS
 *   while a job runs, and runs it (src/jobs/run-job.ts): a model-mode job records each image's
 *   outcome as it goes, so a job taken over resumes from its last recorded image and ends with the
 *   numbers of an uninterrupted run. It claims at start-up, after each job, after each submission and
 *   every `pollMs`.
 * - Stopping a job: cancel (a queued job at once, a running one at its next checkpoint), a lost
 *   lease (another process took it over), the store becoming unavailable, or the service closing —
 *   the last three leave the job to be resumed (by this process when the store is back, or after a
 *   restart), never failed.
 * - Lifetime: a finished job expires JOBS_TTL_SECONDS after it ended; the store hides expired jobs
 *   and the service deletes them periodically. Every time read goes through the injected clock.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { StoreUnavailableError, type FinalStatus, type JobStatus, type NewJobImage, type StatusCounts, type Store, type StoredJob } from '../store/index.js';
import type { JobsConfig } from '../config.js';
import type { EvaluateOptions } from '../evaluation/response.js';
import type { ModelRunner } from '../models/runtime.js';
import { ShuttingDownError } from '../models/errors.js';
import { JobAbandonedError, JobCancelledError, JobNotDoneError, JobNotFoundError, TooManyJobsError } from './errors.js';
import { runJob, type JobRunOutput, type RunJobContext } from './run-job.js';
import { InProcessQueue } from '../queue/in-process.js';
import type { TaskQueue } from '../queue/types.js';
import { isFinished, loadReportData, storeReportData, type Job, type JobError, type ReportData, type StoredReportData } from './types.js';

/** Observers of job life (metrics, logs). */
export interface JobObserver {
  /** Jobs per status in the store (after changes, and every poll). */
  counts?(counts: StatusCounts): void;
  /** A job this process ran ended with `status`, `seconds` after it started (or was created). */
  finished?(job: Job, seconds: number): void;
}

/** Where the service logs (pino-compatible). */
export interface JobLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** A slot held while an upload is read; `submit(…, reservation)` consumes it. */
export interface Reservation {
  release(): void;
}

/** What a new job is given. */
export type JobSubmission =
  | { mode: 'model'; annotations: unknown; images: NewJobImage[]; options: EvaluateOptions; modelName: string; modelVersion: string }
  | { mode: 'detections'; groundTruth: unknown; detections: unknown; options: EvaluateOptions; total: number }
  /** A registered dataset (src/evaluation/datasets.ts): the store reads its inputs from the dataset; kept as history. */
  | { mode: 'dataset'; datasetId: string; options: EvaluateOptions; modelName: string; modelVersion: string; modelSha256: string | null; trigger: string };

/**
 * Who submits or reads a job: the token name (src/auth/scopes.ts `ownerOf`), or null when access
 * control is off. A job is visible only to its owner; with null every job is visible.
 */
export type JobViewer = string | null;

/** Whether `viewer` may see `job` (unknown to everyone else: 404, so its existence does not leak). */
export function visibleTo(job: { owner: string | null }, viewer: JobViewer): boolean {
  return viewer === null || job.owner === viewer;
}

export interface JobServiceOptions {
  store: Store;
  limits: JobsConfig;
  /** The runner of a model-mode job's model (resolves when the model is ready). */
  model(name: string | null, version: string | null): Promise<ModelRunner>;
  /** How a failure is described in the job (the edge's error mapping: src/errors.ts). */
  describeError(err: unknown): JobError;
  observer?: JobObserver;
  log?: JobLog;
  /** Epoch milliseconds (default Date.now); tests drive expiry and leases with it. */
  clock?: () => number;
  /** How often to look for claimable jobs and expired ones (default 1000 ms). */
  pollMs?: number;
  /** Lease owner id of this process (default host:pid:random). */
  owner?: string;
  /** Overlays drawn in a report (default 3). */
  overlays?: number;
  /**
   * A job claimed more often than this without finishing is failed instead of run again: it keeps
   * killing (or hanging) the processes that run it (default 10; a graceful restart counts as one).
   */
  maxAttempts?: number;
  /** Runs one claimed job (default src/jobs/run-job.ts `runJob`; tests substitute it). */
  run?: (ctx: RunJobContext) => Promise<JobRunOutput>;
  /**
   * Where jobs run (src/queue): by default this process claims whole jobs from the store (in-process
   * queue); the pg-boss queue spreads a job's images over every replica sharing the database.
   */
  queue?: TaskQueue;
}

/** Why a running job stops without an outcome of its own. */
class Interrupted extends Error {
  override readonly name = 'Interrupted';
}

const silent: JobLog = { info() {}, warn() {}, error() {} };

/** A job this process is running. */
interface Running {
  cancelRequested: boolean;
  /** Why it must stop without finishing (lease lost, closing), if so. */
  interrupted: string | null;
  done: Promise<void>;
}

export class JobService {
  readonly store: Store;
  readonly limits: JobsConfig;
  readonly owner: string;
  private readonly clock: () => number;
  private readonly log: JobLog;
  private readonly running = new Map<string, Running>();
  private reserved = 0;
  private closed = false;
  private started = false;
  private pumping: Promise<void> | null = null;
  private pumpAgain = false;
  private poller: NodeJS.Timeout | null = null;
  /** Where jobs run: this process's claim loop (in-process) or the distributed queue. */
  readonly queue: TaskQueue;

  constructor(private readonly opts: JobServiceOptions) {
    this.queue = opts.queue ?? new InProcessQueue({ store: opts.store, claim: () => this.pump() });
    this.store = opts.store;
    this.limits = opts.limits;
    this.clock = opts.clock ?? Date.now;
    this.log = opts.log ?? silent;
    this.owner = opts.owner ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  }

  /** Starts claiming jobs (at once: jobs left unfinished by a previous process are resumed). */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.poller = setInterval(() => {
      this.queue.poll();
      void this.sweep();
    }, this.opts.pollMs ?? 1000);
    this.poller.unref();
    this.queue.start();
    void this.emitCounts();
  }

  /** Jobs running in this process now. */
  get runningHere(): number {
    return this.running.size;
  }

  /** Holds one slot while an upload is read. @throws TooManyJobsError */
  reserve(): Promise<Reservation> {
    return this.serial(async () => {
      await this.checkCapacity();
      this.reserved++;
      let held = true;
      return { release: () => { if (held) { held = false; this.reserved--; } } };
    });
  }

  /** Capacity checks and the creation they allow run one at a time in this process. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.tail.then(fn);
    this.tail = p.catch(() => undefined);
    return p;
  }

  private tail: Promise<unknown> = Promise.resolve();

  /** Throws TooManyJobsError when no slot is free for one more job (or the store's error when it is unavailable). */
  private async checkCapacity(): Promise<void> {
    const now = this.clock();
    await this.store.deleteExpired(now);
    const counts = await this.store.countByStatus();
    const cap = this.limits.maxConcurrent + this.limits.maxQueued;
    if (counts.queued + counts.running + this.reserved + 1 > cap) {
      throw new TooManyJobsError(`${cap} jobs are queued or running (JOBS_MAX_CONCURRENT + JOBS_MAX_QUEUED); retry later`);
    }
    // dataset evaluations are history: they neither count against JOBS_MAX_STORED nor get deleted for room
    let stored = Object.values(await this.store.countByStatus('upload')).reduce((a, b) => a + b, 0);
    if (stored + this.reserved + 1 <= this.limits.maxStored) return;
    // delete the oldest finished jobs to make room
    const finished: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await this.store.listJobs({ status: ['done', 'failed', 'cancelled'], kind: 'upload', limit: 1000, cursor, now });
      finished.push(...page.jobs.map((j) => j.id));
      cursor = page.nextCursor;
    } while (cursor);
    while (stored + this.reserved + 1 > this.limits.maxStored && finished.length > 0) {
      if (await this.store.deleteJob(finished.pop()!)) stored--;
    }
    if (stored + this.reserved + 1 > this.limits.maxStored) {
      throw new TooManyJobsError(`${this.limits.maxStored} jobs are stored (JOBS_MAX_STORED); retry later`);
    }
  }

  /**
   * Creates a queued job with all its inputs in one store transaction (durable when this resolves)
   * and starts it when a slot is free. Consumes `reservation` (the slot it holds is this job's).
   * @throws TooManyJobsError, StoreUnavailableError, ShuttingDownError
   */
  submit(sub: JobSubmission & { owner?: JobViewer }, reservation?: Reservation): Promise<Job> {
    return this.serial(async () => {
      if (this.closed) throw new ShuttingDownError();
      reservation?.release();
      await this.checkCapacity();
      const now = this.clock();
      const job = await this.store.createJob({ owner: sub.owner ?? null, ...sub.mode === 'dataset'
        ? {
          options: sub.options, total: 0, createdAt: now, modelName: sub.modelName, modelVersion: sub.modelVersion, datasetId: sub.datasetId,
          modelSha256: sub.modelSha256, trigger: sub.trigger, input: { mode: 'dataset' as const },
        }
        : sub.mode === 'model'
        ? {
          options: sub.options, total: sub.images.length, createdAt: now, modelName: sub.modelName, modelVersion: sub.modelVersion,
          input: { mode: 'model', annotations: sub.annotations, images: sub.images },
        }
        : { options: sub.options, total: sub.total, createdAt: now, input: { mode: 'detections', groundTruth: sub.groundTruth, detections: sub.detections } } });
      void this.emitCounts();
      // durable already: a queue that cannot take it now gets it from its sweep of queued jobs
      await this.queue.enqueue(job).catch((err: unknown) => this.log.warn({ job: job.id, err }, 'could not enqueue an evaluation job yet; it will be'));
      return job as Job;
    });
  }

  /** The job (unknown, deleted, expired or another owner's: JobNotFoundError). */
  async get(id: string, viewer: JobViewer = null): Promise<Job> {
    const job = await this.store.getJob(id, this.clock());
    if (!job || !visibleTo(job, viewer)) throw new JobNotFoundError(id);
    return this.withLocalState(job);
  }

  /** A running job's cancel request is seen here before the store says so. */
  private withLocalState(job: StoredJob): Job {
    const r = this.running.get(job.id);
    if (r?.cancelRequested && !job.cancelRequested) return { ...job, cancelRequested: true } as Job;
    return job as Job;
  }

  /** Jobs newest first (one page). */
  async list(limit = 50, viewer: JobViewer = null): Promise<Job[]> {
    const page = await this.store.listJobs({ limit, now: this.clock(), ...(viewer !== null ? { owner: viewer } : {}) });
    return page.jobs.map((j) => ({ ...j, result: null }) as Job);
  }

  /**
   * Cancels a queued job (at once) or a running one (it stops at its next checkpoint; its status
   * says `cancelled` from now on); deletes a finished job. Returns the job as it is now.
   * @throws JobNotFoundError
   */
  async cancel(id: string, viewer: JobViewer = null): Promise<Job> {
    const now = this.clock();
    const job = await this.store.getJob(id, now);
    if (!job || !visibleTo(job, viewer)) throw new JobNotFoundError(id);
    if (isFinished(job.status)) {
      await this.store.deleteJob(job.id);
      void this.emitCounts();
      return job as Job;
    }
    const r = this.running.get(job.id);
    if (r) r.cancelRequested = true;
    const after = await this.store.requestCancel(job.id, this.limits.ttlMs, now);
    if (!after) throw new JobNotFoundError(id);
    await this.queue.cancelled(job.id).catch(() => undefined);
    if (after.status === 'cancelled' && job.status === 'queued') this.opts.observer?.finished?.(after as Job, 0);
    void this.emitCounts();
    return this.withLocalState(after);
  }

  /**
   * The result and report data of a done job.
   * @throws JobNotFoundError, JobNotDoneError
   */
  async report(id: string, viewer: JobViewer = null): Promise<{ job: Job; report: ReportData }> {
    const job = await this.get(id, viewer);
    if (job.status !== 'done' || !job.result) throw new JobNotDoneError(job.id, job.cancelRequested && !isFinished(job.status) ? 'cancelled' : job.status);
    const stored = await this.store.getReport(job.id, this.clock()) as StoredReportData | null;
    return { job, report: loadReportData(stored) };
  }

  /** Claims jobs while a slot is free (coalesced: one claim loop at a time). */
  private pump(): void {
    if (!this.started || this.closed || this.queue.kind !== 'in-process') return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = (async () => {
      do {
        this.pumpAgain = false;
        while (!this.closed && this.running.size < this.limits.maxConcurrent) {
          const job = await this.store.claimNext(this.owner, this.limits.leaseMs, this.clock());
          if (!job) break;
          // our own job whose lease renewal came late (a stalled event loop): it still runs here
          if (this.running.has(job.id)) continue;
          this.execute(job);
        }
      } while (this.pumpAgain && !this.closed);
    })().catch((err: unknown) => {
      if (!(err instanceof StoreUnavailableError)) this.log.error({ err }, 'claiming evaluation jobs failed');
    }).finally(() => { this.pumping = null; });
  }

  /** Deletes expired jobs (the store already hides them from readers). */
  private async sweep(): Promise<void> {
    try {
      if (await this.store.deleteExpired(this.clock()) > 0) void this.emitCounts();
    } catch { /* the store is unavailable: next time */ }
  }

  private async emitCounts(): Promise<void> {
    if (!this.opts.observer?.counts) return;
    try {
      this.opts.observer.counts(await this.store.countByStatus());
    } catch { /* the store is unavailable: next time */ }
  }

  /** Runs a claimed job in the background, renewing its lease, and records how it ended. */
  private execute(job: StoredJob): void {
    const r: Running = { cancelRequested: job.cancelRequested, interrupted: null, done: Promise.resolve() };
    this.running.set(job.id, r);
    const leaseMs = this.limits.leaseMs;
    const renew = setInterval(() => {
      void (async () => {
        try {
          if (!await this.store.renewLease(job.id, this.owner, leaseMs, this.clock())) r.interrupted ??= 'lease lost (taken over by another process)';
          else if ((await this.store.getJob(job.id, this.clock()))?.cancelRequested) r.cancelRequested = true;
        } catch { /* the store is unavailable: the next store call of the run stops it */ }
      })();
    }, Math.max(200, Math.floor(leaseMs / 3)));
    renew.unref();
    const checkpoint = async (): Promise<void> => {
      if (r.interrupted) throw new Interrupted(r.interrupted);
      if (r.cancelRequested) throw new JobCancelledError();
    };
    const log = this.log;
    if (job.attempts > 1) log.info({ job: job.id, attempts: job.attempts, done: job.progress.done }, 'resuming evaluation job');
    const maxAttempts = this.opts.maxAttempts ?? 10;
    r.done = (async () => {
      let output: JobRunOutput | null = null;
      let error: unknown = null;
      try {
        if (job.attempts > maxAttempts) throw new JobAbandonedError(job.attempts - 1);
        output = await (this.opts.run ?? runJob)({ store: this.store, job, leaseOwner: this.owner, checkpoint, model: this.opts.model, ...(this.opts.overlays !== undefined ? { overlays: this.opts.overlays } : {}) });
      } catch (err) {
        error = err;
      } finally {
        clearInterval(renew);
      }
      if (error instanceof Interrupted || error instanceof StoreUnavailableError || (error !== null && (r.interrupted || this.closed))) {
        // resumable: leave the job running under a lease that lapses (at once when closing)
        log.warn({ job: job.id, reason: r.interrupted ?? (error as Error).message }, 'evaluation job stopped; it will be resumed');
        // released: the lease ends now, so the next process (or this one, later) claims it at once
        if (this.closed) await this.store.renewLease(job.id, this.owner, 1, this.clock() - 1).catch(() => false);
        return;
      }
      const status: FinalStatus = r.cancelRequested || error instanceof JobCancelledError ? 'cancelled' : error === null ? 'done' : 'failed';
      const jobError = status === 'failed' ? this.opts.describeError(error) : undefined;
      if (status === 'failed') log.info({ job: job.id, err: error }, 'evaluation job failed');
      try {
        const now = this.clock();
        const ok = await this.store.finishJob(job.id, {
          status, now, ttlMs: this.limits.ttlMs, leaseOwner: this.owner,
          ...(status === 'done' ? { result: output!.result, report: storeReportData(output!.report) } : {}),
          ...(jobError ? { error: jobError } : {}),
        });
        if (ok) {
          const finished = { ...job, status, result: status === 'done' ? output!.result : null, error: jobError ?? null, finishedAt: now } as Job;
          this.opts.observer?.finished?.(finished, (now - (job.startedAt ?? job.createdAt)) / 1000);
        }
      } catch (err) {
        log.warn({ job: job.id, err }, 'could not record the end of an evaluation job; it will be resumed');
      }
    })().finally(() => {
      this.running.delete(job.id);
      void this.emitCounts();
      this.pump();
    });
  }

  /** Resolves when no job runs in this process (tests, CLI). */
  async idle(): Promise<void> {
    while (this.running.size > 0 || this.pumping) {
      await Promise.allSettled([...[...this.running.values()].map((r) => r.done), this.pumping]);
    }
  }

  /**
   * Stops claiming; running jobs stop at their next checkpoint and are left to be resumed (their
   * lease is released so the next process takes them at once). Does not close the store.
   */
  async close(): Promise<void> {
    this.closed = true;
    if (this.poller) clearInterval(this.poller);
    await this.queue.close();
    for (const r of this.running.values()) r.interrupted ??= 'the service is shutting down';
    await Promise.allSettled([...this.running.values()].map((r) => r.done));
    await this.pumping?.catch(() => undefined);
  }
}

/** Images a detections-mode job evaluates (the GT's images). */
export function detectionsTotal(groundTruth: unknown): number {
  const images = (groundTruth as { images?: unknown } | null)?.images;
  return Array.isArray(images) ? images.length : 0;
}

export type { JobStatus };
