/**
 * @file The job store: in-memory jobs with a bounded life. At most `maxConcurrent` run at once,
 * `maxQueued` wait (uploads in progress hold a slot too, see {@link JobStore.reserve}); beyond that
 * submissions get 429 MRC_ERR_TOO_MANY_JOBS. At most `maxStored` jobs are kept (the oldest finished
 * ones are evicted first). A finished job expires `ttlMs` after it ended; its temp dir is removed as
 * soon as it ends. Status: queued → running → done | failed | cancelled (cancel also from queued).
 */
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { errorBody, normalizeError } from '../errors.js';
import { JobErrors } from './errors.js';
import type { JobsConfig } from './config.js';
import { isFinished, JOB_STATUSES, type Job, type JobInput, type JobStatus } from './types.js';
import type { EvaluateOptions } from '../pipeline/evaluate-model.js';

/** Observers of job life (metrics, logs). */
export interface JobObserver {
  counts?(counts: Record<JobStatus, number>): void;
  finished?(job: Job, seconds: number): void;
}

/** A reserved slot for a job whose upload is still being read. */
export interface Reservation {
  release(): void;
}

/** Images a job will evaluate (detections mode: the GT's images). */
function totalImages(input: JobInput): number {
  if (input.mode === 'model') return input.images.length;
  const images = (input.groundTruth as { images?: unknown } | null)?.images;
  return Array.isArray(images) ? images.length : 0;
}

export type RunFn = (job: Job) => Promise<void>;

export class JobStore {
  private readonly jobs = new Map<string, Job>();
  private readonly queue: Job[] = [];
  private readonly running = new Set<Promise<void>>();
  private reserved = 0;
  private closed = false;
  private readonly sweeper: NodeJS.Timeout;

  constructor(readonly limits: JobsConfig, private readonly run: RunFn, private readonly observer: JobObserver = {}) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(60_000, Math.max(250, limits.ttlMs / 4)));
    this.sweeper.unref();
    this.emitCounts();
  }

  private active(): number {
    let n = 0;
    for (const j of this.jobs.values()) if (!isFinished(j.status)) n++;
    return n;
  }

  /** Throws 429 when no slot is free (or 503 when closing). */
  private checkCapacity(extra: number): void {
    if (this.closed) throw Object.assign(new Error('Server is shutting down'), { code: 'MRC_ERR_SHUTTING_DOWN', statusCode: 503 });
    const cap = this.limits.maxConcurrent + this.limits.maxQueued;
    if (this.active() + this.reserved + extra > cap) {
      throw Object.assign(new JobErrors.TOO_MANY_JOBS(`${cap} jobs are queued or running (JOBS_MAX_CONCURRENT + JOBS_MAX_QUEUED); retry later`), { retryAfter: 10 });
    }
    if (this.jobs.size + this.reserved + extra > this.limits.maxStored) {
      this.sweep();
      const evictable = [...this.jobs.values()].filter((j) => isFinished(j.status)).sort((a, b) => a.finishedAt! - b.finishedAt!);
      while (this.jobs.size + this.reserved + extra > this.limits.maxStored && evictable.length > 0) this.remove(evictable.shift()!.id);
      if (this.jobs.size + this.reserved + extra > this.limits.maxStored) {
        throw Object.assign(new JobErrors.TOO_MANY_JOBS(`${this.limits.maxStored} jobs are stored (JOBS_MAX_STORED); retry later`), { retryAfter: 10 });
      }
    }
  }

  /** Holds one slot while an upload is read; `submit(.., reservation)` consumes it. */
  reserve(): Reservation {
    this.checkCapacity(1);
    this.reserved++;
    let held = true;
    return { release: () => { if (held) { held = false; this.reserved--; } } };
  }

  /** Adds a queued job and starts it when a runner is free. */
  submit(input: JobInput, options: EvaluateOptions, tmpDir: string | null, reservation?: Reservation): Job {
    reservation?.release();
    try {
      this.checkCapacity(1);
    } catch (err) {
      if (tmpDir) void rm(tmpDir, { recursive: true, force: true });
      throw err;
    }
    const job: Job = {
      id: randomUUID(), mode: input.mode, status: 'queued', options, createdAt: Date.now(), startedAt: null, finishedAt: null,
      progress: { phase: 'queued', done: 0, total: totalImages(input), imageMs: 0 },
      input, tmpDir, result: null, report: null, error: null, cancelRequested: false,
    };
    this.jobs.set(job.id, job);
    this.queue.push(job);
    this.emitCounts();
    this.pump();
    return job;
  }

  /** The job, or undefined when unknown or expired. */
  get(id: string): Job | undefined {
    const job = this.jobs.get(id);
    if (job && this.expired(job)) {
      this.remove(id);
      return undefined;
    }
    return job;
  }

  /** Jobs, newest first. */
  list(): Job[] {
    this.sweep();
    return [...this.jobs.values()].sort((a, b) => b.createdAt - a.createdAt);
  }

  /**
   * Cancels a queued or running job (a running one stops before its next image) and returns it;
   * a finished job is deleted (returns it with its final status).
   */
  cancel(id: string): Job | undefined {
    const job = this.get(id);
    if (!job) return undefined;
    if (isFinished(job.status)) {
      this.remove(id);
      return job;
    }
    job.cancelRequested = true;
    if (job.status === 'queued') {
      const i = this.queue.indexOf(job);
      if (i >= 0) this.queue.splice(i, 1);
      this.finish(job, 'cancelled');
    } else {
      job.status = 'cancelled'; // the runner sees the flag and ends; finish() keeps this status
      this.emitCounts();
    }
    return job;
  }

  private expired(job: Job): boolean {
    return job.finishedAt !== null && Date.now() - job.finishedAt > this.limits.ttlMs;
  }

  private sweep(): void {
    for (const job of [...this.jobs.values()]) if (this.expired(job)) this.remove(job.id);
  }

  private remove(id: string): void {
    const job = this.jobs.get(id);
    if (!job) return;
    this.jobs.delete(id);
    job.input = null;
    job.report = null;
    if (job.tmpDir) void rm(job.tmpDir, { recursive: true, force: true });
    job.tmpDir = null;
    this.emitCounts();
  }

  private pump(): void {
    while (!this.closed && this.running.size < this.limits.maxConcurrent && this.queue.length > 0) {
      const job = this.queue.shift()!;
      const p = this.execute(job).finally(() => {
        this.running.delete(p);
        this.pump();
      });
      this.running.add(p);
    }
  }

  private async execute(job: Job): Promise<void> {
    job.status = 'running';
    job.startedAt = Date.now();
    this.emitCounts();
    try {
      await this.run(job);
      await this.finish(job, job.cancelRequested ? 'cancelled' : 'done');
    } catch (err) {
      if (job.cancelRequested) await this.finish(job, 'cancelled');
      else {
        const body = errorBody(normalizeError(err), job.id);
        job.error = { statusCode: body.statusCode, code: body.code, message: body.message, field: body.field };
        await this.finish(job, 'failed');
      }
    }
  }

  private async finish(job: Job, status: JobStatus): Promise<void> {
    job.status = status;
    job.finishedAt = Date.now();
    job.progress = { ...job.progress, phase: 'finished' };
    job.input = null;
    if (status !== 'done') job.result = null;
    const dir = job.tmpDir;
    job.tmpDir = null;
    this.emitCounts();
    this.observer.finished?.(job, (job.finishedAt - (job.startedAt ?? job.createdAt)) / 1000);
    if (dir) await rm(dir, { recursive: true, force: true }).catch(() => {});
  }

  private emitCounts(): void {
    if (!this.observer.counts) return;
    const counts = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
    for (const j of this.jobs.values()) counts[j.status]++;
    this.observer.counts(counts);
  }

  /** Cancels every job, waits for the running ones to stop, removes every temp dir. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    for (const job of [...this.jobs.values()]) if (!isFinished(job.status)) this.cancel(job.id);
    await Promise.allSettled([...this.running]);
    for (const id of [...this.jobs.keys()]) this.remove(id);
  }
}
