/**
 * @file What a replica does with one task of the distributed queue (src/queue/pgboss.ts is the
 * transport). Engine-neutral: everything goes through the {@link Store}, so any replica that shares
 * the database can run any task, and a task run twice (a retry after its replica died or stalled)
 * changes nothing.
 *
 * - {@link planJob}: the tasks of a committed job — a model-mode job's images cut into tasks of
 *   `batchImages` images; a detections-mode job is one `jobs` task.
 * - {@link TaskRunner.runImages}: images `from`..`to` of a model-mode job. Before the task the job's
 *   store row is read: unknown / finished → the task is skipped; `cancelRequested` → the job is
 *   finished as cancelled (once, whoever sees it first) and the task skipped. A queued job is marked
 *   running (held by {@link QUEUE_OWNER}, a lease that does not lapse: the queue's task timeouts replace
 *   it). Each image whose record is missing is evaluated exactly as POST /evaluate does
 *   (src/evaluation/model-evaluation.ts) and its outcome upserted, keyed by (job, image position).
 *   Then the progress is set from the count of records in the store, and when that count reaches the
 *   job's size the merge task is sent (deduplicated by its id: two replicas recording the last two
 *   images at once may both send it).
 * - {@link TaskRunner.runJob}: the merge of a model-mode job — src/jobs/run-job.ts, the very code a
 *   single process runs, reading every record in image order (and evaluating any image still without
 *   a record, so the merge never depends on a lost task) — or a whole detections-mode job; then the
 *   job is finished.
 *
 * Errors: the store being unavailable, or this process closing, rethrow (the queue retries the task,
 * here or elsewhere); any other error is the job's own (bad image, bad annotations): the job is
 * failed with it, as a single process would, and the task is done. A task that keeps dying without an
 * error of its own (its replica is killed every time) fails the job once the queue's retries are
 * exhausted ({@link TaskRunner.abandon}).
 */
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { ModelEvaluation } from '../evaluation/model-evaluation.js';
import { prepareModelInput, type UploadedFile } from '../evaluation/model-input.js';
import { encodeImageOutcome } from '../evaluation/records.js';
import type { EvaluateOptions } from '../evaluation/response.js';
import { JobAbandonedError } from '../jobs/errors.js';
import { runJob } from '../jobs/run-job.js';
import type { JobLog, JobObserver } from '../jobs/service.js';
import { isFinished, storeReportData, type Job, type JobError } from '../jobs/types.js';
import type { ModelRunner } from '../models/runtime.js';
import { StoreUnavailableError, type JobImageInfo, type Store, type StoredJob } from '../store/index.js';
import type { ImagesTask, JobTask } from './types.js';

/** Lease owner of a job run by the distributed queue (any replica may write its progress and finish it). */
export const QUEUE_OWNER = 'queue';
/** The lease of a queue-run job: it never lapses, so no in-process claim loop takes the job over. */
const QUEUE_LEASE_MS = 100 * 365 * 86400 * 1000;

/** The tasks of one job. */
export interface JobPlan {
  images: ImagesTask[];
  /** The job's `jobs` task when it is sent at once (detections mode); model mode sends it after its last image. */
  job: JobTask | null;
}

/** Cuts a committed job into tasks (see the file header). */
export function planJob(job: Pick<StoredJob, 'id' | 'mode' | 'progress'>, batchImages: number): JobPlan {
  if (job.mode !== 'model') return { images: [], job: { jobId: job.id } };
  const total = job.progress.total;
  const n = Math.max(1, Math.floor(batchImages));
  const images: ImagesTask[] = [];
  for (let from = 0; from < total; from += n) images.push({ jobId: job.id, from, to: Math.min(total, from + n) });
  // a job without images is merged (and fails or ends empty) by its jobs task at once
  return { images, job: images.length === 0 ? { jobId: job.id } : null };
}

/** Thrown to make the queue retry the task (here or on another replica). */
export class RetryTaskError extends Error {
  override readonly name = 'RetryTaskError';
}

export interface TaskRunnerOptions {
  store: Store;
  /** The runner of a model-mode job's model (resolves when the model is ready). */
  model(name: string | null, version: string | null): Promise<ModelRunner>;
  /** How a failure is described in the job (the edge's error mapping). */
  describeError(err: unknown): JobError;
  /** Sends the `jobs` task of a job (the merge), idempotently. */
  sendJobTask(task: JobTask): Promise<void>;
  ttlMs: number;
  observer?: JobObserver;
  log?: JobLog;
  clock?: () => number;
  overlays?: number;
}

/** What one replica keeps of a job between its tasks (the matched input; read once per process). */
interface JobContext {
  prepared: ReturnType<typeof prepareModelInput>;
  images: JobImageInfo[];
  options: EvaluateOptions;
  runner: ModelRunner;
  me: ModelEvaluation | null;
}

const silent: JobLog = { info() {}, warn() {}, error() {} };

/** Runs the tasks of the distributed queue (see the file header). */
export class TaskRunner {
  private readonly contexts = new Map<string, Promise<JobContext>>();
  /** What this process did (tests, logs): tasks run, images evaluated, merges finished. */
  readonly stats = { tasks: 0, images: 0, merges: 0 };
  private closing = false;
  private readonly clock: () => number;
  private readonly log: JobLog;

  constructor(private readonly opts: TaskRunnerOptions) {
    this.clock = opts.clock ?? Date.now;
    this.log = opts.log ?? silent;
  }

  /** From now on tasks stop at their next image and are left to the queue's retry. */
  close(): void {
    this.closing = true;
  }

  /** The job if a task of it should run; finishes it as cancelled when asked to. */
  private async admit(jobId: string): Promise<StoredJob | null> {
    const job = await this.opts.store.getJob(jobId, this.clock());
    if (!job || isFinished(job.status)) {
      this.contexts.delete(jobId);
      return null;
    }
    if (job.cancelRequested) {
      await this.finish(job, 'cancelled');
      return null;
    }
    if (job.status === 'queued') {
      // first task of the job: queued → running (one replica wins; the others see it running)
      return (await this.opts.store.claimJob(jobId, QUEUE_OWNER, QUEUE_LEASE_MS, this.clock())) ?? this.opts.store.getJob(jobId, this.clock());
    }
    return job;
  }

  private async finish(job: StoredJob, status: 'cancelled' | 'failed', err?: unknown): Promise<void> {
    const now = this.clock();
    const error = status === 'failed' ? this.opts.describeError(err) : undefined;
    const ok = await this.opts.store.finishJob(job.id, { status, now, ttlMs: this.opts.ttlMs, leaseOwner: null, ...(error ? { error } : {}) });
    this.contexts.delete(job.id);
    if (ok) {
      void this.emitCounts();
      if (status === 'failed') this.log.info({ job: job.id, err }, 'evaluation job failed');
      this.opts.observer?.finished?.({ ...job, status, result: null, error: error ?? null, finishedAt: now } as Job, (now - (job.startedAt ?? job.createdAt)) / 1000);
    }
  }

  /** Jobs per status to the observer (metrics), after a job ended here. */
  private async emitCounts(): Promise<void> {
    if (!this.opts.observer?.counts) return;
    try {
      this.opts.observer.counts(await this.opts.store.countByStatus());
    } catch { /* the store is unavailable: the service's next poll */ }
  }

  /** Whether an error means "try this task again later" rather than "the job failed". */
  private retryable(err: unknown): boolean {
    return err instanceof StoreUnavailableError || err instanceof RetryTaskError || this.closing;
  }

  private context(job: StoredJob): Promise<JobContext> {
    let ctx = this.contexts.get(job.id);
    if (!ctx) {
      ctx = (async () => {
        const input = await this.opts.store.getJobInput(job.id);
        if (!input || input.mode !== 'model') throw new Error(`job ${job.id} has no model-mode inputs`);
        const runner = await this.opts.model(job.modelName, job.modelVersion);
        const files: UploadedFile[] = input.images.map((im) => ({ fileName: im.fileName, field: im.field ?? `image[${im.index}]` }));
        return { prepared: prepareModelInput(input.annotations, files), images: input.images, options: job.options as EvaluateOptions, runner, me: null };
      })();
      this.contexts.set(job.id, ctx);
      ctx.catch(() => this.contexts.delete(job.id));
      // a process keeps the inputs of a few jobs only
      while (this.contexts.size > 4) this.contexts.delete(this.contexts.keys().next().value!);
    }
    return ctx;
  }

  /** Images `from`..`to` of a model-mode job (see the file header). @throws to have the task retried */
  async runImages(task: ImagesTask): Promise<void> {
    const { store } = this.opts;
    this.stats.tasks++;
    const job = await this.admit(task.jobId);
    if (!job) return;
    try {
      const ctx = await this.context(job);
      const size = ctx.prepared.images.length;
      const done = new Set(await store.doneImageIndices(job.id, { from: task.from, to: task.to }));
      let ms = 0;
      for (let k = task.from; k < Math.min(task.to, size); k++) {
        if (done.has(k)) continue;
        if (this.closing) throw new RetryTaskError('the service is shutting down');
        const image = await store.getJobImage(job.id, ctx.images[k]!.index);
        if (!image) throw new Error(`job ${job.id}: image ${k} is missing from the store`);
        // one evaluation per process and job holds the GT index; an image evaluated before here (a
        // task retried in this process) needs a fresh one, as an evaluation takes each image once
        if (!ctx.me || ctx.me.has(k)) ctx.me = new ModelEvaluation(ctx.prepared, ctx.options, ctx.runner);
        const outcome = await ctx.me.evaluateImage(k, Buffer.from(image.bytes.buffer, image.bytes.byteOffset, image.bytes.byteLength), true);
        ms += outcome.ms;
        await store.putImageRecord(job.id, k, encodeImageOutcome(outcome));
        this.stats.images++;
        await yieldLoop();
      }
      const recorded = await store.countImageRecords(job.id);
      if (ms > 0 || recorded >= size) {
        const imageMs = job.progress.imageMs + ms;
        await store.updateProgress(job.id, QUEUE_OWNER, { phase: recorded >= size ? 'evaluation' : 'images', done: Math.min(recorded, size), total: size, imageMs });
      }
      if (recorded >= size) await this.opts.sendJobTask({ jobId: job.id });
    } catch (err) {
      if (this.retryable(err)) throw err;
      await this.finish(job, 'failed', err);
    }
  }

  /** The merge and finish of a model-mode job, or a whole detections-mode job. @throws to have the task retried */
  async runJob(task: JobTask): Promise<void> {
    const job = await this.admit(task.jobId);
    if (!job) return;
    const t0 = performance.now();
    try {
      const checkpoint = async (): Promise<void> => {
        if (this.closing) throw new RetryTaskError('the service is shutting down');
      };
      const output = await runJob({ store: this.opts.store, job, leaseOwner: QUEUE_OWNER, checkpoint, model: this.opts.model, ...(this.opts.overlays !== undefined ? { overlays: this.opts.overlays } : {}) });
      const fresh = await this.opts.store.getJob(job.id, this.clock());
      if (fresh?.cancelRequested) {
        await this.finish(fresh, 'cancelled');
        return;
      }
      const now = this.clock();
      if (job.mode === 'model') {
        // the image stages ran in other tasks (maybe on other replicas): their per-stage sums are not
        // known here (0); `total` is the job's time from its first task to its end
        const timings = output.result.timings_ms;
        output.result = { ...output.result, timings_ms: { ...timings, total: Math.max(timings.total ?? 0, now - (job.startedAt ?? job.createdAt)) } };
      }
      const ok = await this.opts.store.finishJob(job.id, { status: 'done', now, ttlMs: this.opts.ttlMs, leaseOwner: QUEUE_OWNER, result: output.result, report: storeReportData(output.report) });
      this.contexts.delete(job.id);
      if (ok) {
        this.stats.merges++;
        void this.emitCounts();
        this.log.info({ job: job.id, ms: Math.round(performance.now() - t0) }, 'evaluation job merged and finished');
        this.opts.observer?.finished?.({ ...job, status: 'done', result: output.result, error: null, finishedAt: now } as Job, (now - (job.startedAt ?? job.createdAt)) / 1000);
      }
    } catch (err) {
      if (this.retryable(err)) throw err;
      await this.finish(job, 'failed', err);
    }
  }

  /** Finishes a running job whose cancel was requested (the replica that took the request). */
  async settleCancel(jobId: string): Promise<void> {
    const job = await this.opts.store.getJob(jobId, this.clock());
    if (job && job.status === 'running' && job.cancelRequested) await this.finish(job, 'cancelled');
  }

  /** A task of `jobId` died on every retry (its replicas were killed or hung each time): the job fails. */
  async abandon(jobId: string, attempts: number): Promise<void> {
    const job = await this.opts.store.getJob(jobId, this.clock());
    if (!job || isFinished(job.status)) return;
    await this.finish(job, 'failed', new JobAbandonedError(attempts));
  }
}
