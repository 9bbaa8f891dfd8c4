/**
 * @file The distributed queue: pg-boss (v12) in the store's PostgreSQL database (schema `pgboss`),
 * used when DATABASE_URL is set. Every replica runs workers on three queues:
 *
 * | queue | a task is | run by |
 * |---|---|---|
 * | `mrcnn-images` | `batchImages` images of a model-mode job | {@link TaskRunner.runImages} |
 * | `mrcnn-jobs` | a detections-mode job, or the merge of a model-mode job | {@link TaskRunner.runJob} |
 * | `mrcnn-dead` | a task whose retries are exhausted (dead letter) | {@link TaskRunner.abandon} |
 *
 * Task ids are derived from the job id (UUIDs hashed from `job:queue:first image`), so sending a
 * job's tasks again — the sweep of queued jobs, two replicas recording the last images at once —
 * inserts nothing new (pg-boss inserts `ON CONFLICT DO NOTHING`).
 *
 * A replica that dies or stalls mid-task stops sending the task's heartbeat (every half of
 * `heartbeatSeconds`); pg-boss's monitor (every `monitorSeconds`, run by one replica at a time) then
 * puts the task back for any replica (retry), also when the task outlives `expireSeconds`
 * (TASK_TIMEOUT_SECONDS). Records are upserts keyed by (job, image): a task that runs twice — also
 * when the stalled replica wakes up and finishes it late — changes nothing.
 *
 * While PostgreSQL is unreachable pg-boss keeps polling (errors are logged once per kind) and the
 * store answers StoreUnavailableError; both reconnect by themselves once the server is back.
 */
import { createHash } from 'node:crypto';
import { PgBoss } from 'pg-boss';
import type { Job, JobWithMetadata } from 'pg-boss';
import type { JobLog } from '../jobs/service.js';
import type { Store, StoredJob } from '../store/index.js';
import { planJob, type TaskRunner } from './tasks.js';
import type { ImagesTask, JobTask, QueueName, TaskQueue } from './types.js';

export const QUEUES = { images: 'mrcnn-images', jobs: 'mrcnn-jobs', dead: 'mrcnn-dead' } as const;

export interface PgBossQueueOptions {
  /** DATABASE_URL. */
  url: string;
  store: Store;
  /** The task logic (built with this queue's {@link PgBossQueue.sendJobTask}). */
  runner(queue: PgBossQueue): TaskRunner;
  /** Images per task of the `images` queue (QUEUE_BATCH_IMAGES). */
  batchImages: number;
  /** Tasks of the `images` queue this replica runs at once (JOBS_MAX_CONCURRENT). */
  concurrency: number;
  /** A task running longer than this is retried elsewhere (TASK_TIMEOUT_SECONDS). */
  expireSeconds: number;
  /** A task whose replica sent no heartbeat for this long is retried elsewhere (≥ 10; JOBS_LEASE_SECONDS). */
  heartbeatSeconds: number;
  /** Runs of a task before its job is failed as abandoned (default 10). */
  maxAttempts?: number;
  /** How often expired / silent tasks are looked for (default a third of the heartbeat, 2..10 s). */
  monitorSeconds?: number;
  /** Connections of pg-boss's own pool (default 4). */
  poolMax?: number;
  log?: JobLog;
  clock?: () => number;
  /** A task `start`ed here, or ended: `done` (completed, skipped, or its job failed) or `retry` (handed back to the queue). */
  onTask?(queue: 'jobs' | 'images' | 'dead', event: 'start' | 'done' | 'retry'): void;
}

/** A UUID derived from `key` (stable: the same task gets the same id on every replica). */
export function taskId(key: string): string {
  const h = createHash('sha256').update(key).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const imagesTaskId = (t: ImagesTask): string => taskId(`${t.jobId}:images:${t.from}`);
const jobTaskId = (t: JobTask): string => taskId(`${t.jobId}:jobs`);

/** How often a replica refreshes the queue depth and looks for jobs whose tasks were never sent. */
const SWEEP_MS = 5000;

const silent: JobLog = { info() {}, warn() {}, error() {} };

export class PgBossQueue implements TaskQueue {
  readonly kind = 'pgboss' as const;
  readonly boss: PgBoss;
  readonly runner: TaskRunner;
  private readonly log: JobLog;
  private started: Promise<void> | null = null;
  private closed = false;
  private ready = false;
  private waiting: Partial<Record<QueueName, number>> = { images: 0, jobs: 0 };
  private lastError = '';
  private sweeping = false;
  private lastSweep = 0;

  constructor(private readonly opts: PgBossQueueOptions) {
    this.log = opts.log ?? silent;
    // expiry and heartbeat checks: a third of the heartbeat (a dead replica's task is back within
    // about 1.3 heartbeats), 2..10 s; one replica runs each pass
    const monitor = opts.monitorSeconds ?? Math.min(10, Math.max(2, Math.round(Math.max(10, opts.heartbeatSeconds) / 3)));
    this.boss = new PgBoss({
      connectionString: opts.url,
      max: opts.poolMax ?? 4,
      application_name: 'maskrcnn-serve:queue',
      connectionTimeoutMillis: 5000,
      superviseIntervalSeconds: monitor,
      monitorIntervalSeconds: monitor,
      queueCacheIntervalSeconds: Math.max(1, monitor),
      useListenNotify: true,
      schedule: false,
    });
    this.boss.on('error', (err: Error) => {
      // one line per kind of error (PostgreSQL down: every poll fails the same way)
      const kind = `${(err as { code?: string }).code ?? ''} ${err.message.slice(0, 80)}`;
      if (kind !== this.lastError) this.log.warn({ err: err.message }, 'task queue: database error (retrying)');
      this.lastError = kind;
    });
    this.runner = opts.runner(this);
  }

  start(): void {
    if (this.started || this.closed) return;
    this.started = this.startLoop();
  }

  /** Starts pg-boss (installs or migrates its schema once), creates the queues, starts the workers; retries until the database answers. */
  private async startLoop(): Promise<void> {
    for (let wait = 500; !this.closed; wait = Math.min(wait * 2, 10_000)) {
      try {
        await this.boss.start();
        break;
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'task queue: cannot start yet (retrying)');
        await new Promise((r) => setTimeout(r, wait).unref());
      }
    }
    if (this.closed) return;
    const retry = { retryLimit: (this.opts.maxAttempts ?? 10) - 1, retryDelay: 1, expireInSeconds: this.opts.expireSeconds, heartbeatSeconds: Math.max(10, this.opts.heartbeatSeconds) };
    for (;;) {
      try {
        await this.ensureQueue(QUEUES.dead, { retryLimit: 5, retryDelay: 5, expireInSeconds: 60, notify: true });
        await this.ensureQueue(QUEUES.images, { ...retry, deadLetter: QUEUES.dead, notify: true });
        await this.ensureQueue(QUEUES.jobs, { ...retry, deadLetter: QUEUES.dead, notify: true });
        break;
      } catch (err) {
        if (this.closed) return;
        this.log.warn({ err: (err as Error).message }, 'task queue: cannot create the queues yet (retrying)');
        await new Promise((r) => setTimeout(r, 1000).unref());
      }
    }
    if (this.closed) return;
    const work = { pollingIntervalSeconds: 0.5, notifyPollingIntervalSeconds: 5, batchSize: 1 };
    const counted = async (queue: 'jobs' | 'images' | 'dead', run: () => Promise<void>): Promise<void> => {
      this.opts.onTask?.(queue, 'start');
      try {
        await run();
        this.opts.onTask?.(queue, 'done');
      } catch (err) {
        this.opts.onTask?.(queue, 'retry');
        throw err;
      }
    };
    // One worker per slot, each knowing its own id: after a task it is woken at once (notifyWorker)
    // instead of sleeping the polling interval, so a replica goes from task to task without a gap
    // while tasks wait; an empty fetch then sleeps until a NOTIFY (new tasks) or the backstop poll.
    const worker = async <T extends object>(queue: 'images' | 'jobs', run: (data: T) => Promise<void>): Promise<void> => {
      let id = '';
      id = await this.boss.work<T>(QUEUES[queue], { ...work, localConcurrency: 1 }, async ([task]: Job<T>[]) => {
        try {
          await counted(queue, () => run(task!.data));
        } finally {
          this.boss.notifyWorker(id);
        }
      });
    };
    for (let i = 0; i < Math.max(1, this.opts.concurrency); i++) await worker<ImagesTask>('images', (t) => this.runner.runImages(t));
    await worker<JobTask>('jobs', (t) => this.runner.runJob(t));
    // dead letters are rare: a slow poll (a NOTIFY wakes it at once)
    await this.boss.work(QUEUES.dead, { pollingIntervalSeconds: 30, notifyPollingIntervalSeconds: 30, batchSize: 1, includeMetadata: true },
      async ([task]: JobWithMetadata<JobTask>[]) => counted('dead', () => this.runner.abandon(task!.data.jobId, (task!.sourceRetryCount ?? 0) + 1)));
    this.ready = true;
    this.poll();
  }

  private async ensureQueue(name: string, options: Record<string, unknown>): Promise<void> {
    const existing = await this.boss.getQueue(name);
    if (existing) await this.boss.updateQueue(name, options);
    else await this.boss.createQueue(name, options).catch(async (err: unknown) => {
      // another replica created it meanwhile
      if (!(await this.boss.getQueue(name))) throw err;
    });
  }

  /** Waits until the workers run (tests, bench). */
  async whenStarted(): Promise<void> {
    this.start();
    await this.started;
  }

  async enqueue(job: StoredJob): Promise<void> {
    if (!this.ready) await this.whenStarted();
    const plan = planJob(job, this.opts.batchImages);
    if (plan.images.length > 0) await this.boss.insert(QUEUES.images, plan.images.map((t) => ({ id: imagesTaskId(t), data: t })));
    if (plan.job) await this.sendJobTask(plan.job);
  }

  /** Sends a job's `jobs` task (idempotent: one task per job). */
  async sendJobTask(task: JobTask): Promise<void> {
    await this.boss.insert(QUEUES.jobs, [{ id: jobTaskId(task), data: task }]);
  }

  async cancelled(jobId: string): Promise<void> {
    if (!this.ready) return;
    // the waiting tasks of the job are cancelled; a task already running sees the store flag
    const job = await this.opts.store.getJob(jobId).catch(() => null);
    const total = job?.progress.total ?? 0;
    const ids = planJob({ id: jobId, mode: job?.mode ?? 'model', progress: { phase: '', done: 0, total, imageMs: 0 } }, this.opts.batchImages).images.map(imagesTaskId);
    try {
      if (ids.length > 0) await this.boss.cancel(QUEUES.images, ids);
      await this.boss.cancel(QUEUES.jobs, jobTaskId({ jobId }));
    } catch (err) {
      this.log.warn({ job: jobId, err: (err as Error).message }, 'could not cancel the waiting tasks of a job (they will be skipped)');
    }
    // a job cancelled while queued is finished by the store at once; a running one by its next task
    await this.runner.settleCancel(jobId).catch(() => undefined);
  }

  poll(): void {
    if (!this.ready || this.closed || this.sweeping) return;
    const now = Date.now();
    if (now - this.lastSweep < SWEEP_MS) return;
    this.lastSweep = now;
    this.sweeping = true;
    void this.sweep().finally(() => { this.sweeping = false; });
  }

  /**
   * Re-sends the tasks of jobs still queued a while after they were created (the replica that
   * accepted one died before its tasks were sent); refreshes the depth.
   */
  private async sweep(): Promise<void> {
    try {
      // the counts pg-boss's monitor keeps per queue (refreshed every monitorSeconds by one replica):
      // reading them costs the same whatever the backlog, on every replica
      const queues = await this.boss.getQueues([QUEUES.images, QUEUES.jobs]);
      const n = (q: string): number => Number(queues.find((r) => r.name === q)?.queuedCount ?? 0);
      this.waiting = { images: n(QUEUES.images), jobs: n(QUEUES.jobs) };
      const now = (this.opts.clock ?? Date.now)();
      const page = await this.opts.store.listJobs({ status: 'queued', limit: 100, now });
      for (const job of page.jobs) {
        if (now - job.createdAt < 10_000) continue;
        // sent already (its tasks wait behind others): nothing to do
        const plan = planJob(job, this.opts.batchImages);
        const first = plan.images[0] ? { queue: QUEUES.images, id: imagesTaskId(plan.images[0]) } : { queue: QUEUES.jobs, id: jobTaskId({ jobId: job.id }) };
        if ((await this.boss.findJobs(first.queue, { id: first.id })).length > 0) continue;
        await this.enqueue(job as StoredJob);
      }
    } catch { /* the database is unavailable: next time */ }
  }

  depth(): Partial<Record<QueueName, number>> {
    return { ...this.waiting };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.runner.close();
    await this.started?.catch(() => undefined);
    // running tasks see `closing` at their next image and throw: pg-boss puts them back for another replica
    await this.boss.stop({ graceful: true, timeout: 10_000, close: true }).catch(() => undefined);
  }
}
