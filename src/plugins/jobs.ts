/**
 * @file The jobs plugin: owns the durable store of evaluation jobs (src/store: PostgreSQL when
 * DATABASE_URL is set, else SQLite under DATA_DIR; opened in the background while the database is
 * unavailable, src/jobs/deferred-store.ts) and the job service (src/jobs/service.ts) running on it;
 * wires the service to the models (a model-mode job waits for its model), to the one error mapping
 * (src/errors.ts: how a failed job failed) and to the metrics; decorates `app.jobs`; starts claiming
 * jobs once the models are loaded (jobs left unfinished by a previous process resume by themselves);
 * on close, running jobs stop at their next checkpoint and stay resumable, then the store closes.
 */
import { tmpdir } from 'node:os';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { errorBody, normalizeError } from '../errors.js';
import { summarizeEvaluation } from '../evaluation/summary.js';
import { deferredStore, type DeferredStore } from '../jobs/deferred-store.js';
import { JobService, type JobObserver } from '../jobs/service.js';
import { redactUrl } from '../store/postgres.js';
import { openStore, type Store } from '../store/index.js';
import { join } from 'node:path';
import { Counter, Gauge } from 'prom-client';
import { PgBossQueue } from '../queue/pgboss.js';
import { TaskRunner } from '../queue/tasks.js';
import type { TaskQueue } from '../queue/types.js';

/** Options of the plugin (tests, embedding). */
export interface JobsPluginOptions {
  /** Use this store instead of opening the configured one (not closed with the app). */
  store?: Store;
  /** Parent of the upload temp dirs (default os.tmpdir()). */
  tmpRoot?: string;
  /** Epoch-ms clock of the service (tests drive expiry with it). */
  clock?: () => number;
  /** How often the service looks for claimable and expired jobs (default 1000 ms). */
  pollMs?: number;
  /** Await the store's opening during registration (default true; server.ts passes false). */
  waitForStore?: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Evaluation jobs (src/jobs/service.ts). */
    jobs: JobService;
    /** Where the job store is being opened (server.ts exits when it cannot be opened at all). */
    jobStore: DeferredStore;
  }
}

async function jobsPlugin(app: FastifyInstance, opts: JobsPluginOptions): Promise<void> {
  const cfg = app.config;
  const engine = cfg.databaseUrl ? 'postgres' : 'sqlite';
  const location = cfg.databaseUrl ? redactUrl(cfg.databaseUrl) : join(cfg.dataDir, 'maskrcnn-serve.db');
  const deferred: DeferredStore = opts.store
    ? { store: opts.store, opened: Promise.resolve(opts.store), close: async () => {} }
    : deferredStore(() => openStore({ dataDir: cfg.dataDir, databaseUrl: cfg.databaseUrl, postgres: { poolMax: cfg.databasePoolMax } }), engine, location, {
      onRetry: (err) => app.log.warn({ reason: err.reason, store: location }, `job store unavailable, retrying: ${err.message}`),
    });
  const model = async (name: string | null, version: string | null) => {
    const entry = app.models.get(name ?? undefined, version ?? undefined);
    await entry.loaded;
    return entry.require();
  };
  const describeError = (err: unknown) => {
    const body = errorBody(normalizeError(err), '');
    return { statusCode: body.statusCode, code: body.code, message: body.message, field: body.field };
  };
  const observer: JobObserver = {
    counts: (c) => app.metrics.setJobCounts(c),
    finished: (job, seconds) => {
      app.metrics.jobFinished(job.status, seconds);
      if (job.status === 'done' && job.result) app.metrics.recordEvaluation(summarizeEvaluation(job.result));
    },
  };
  // Several replicas on one PostgreSQL: a job's images are tasks any replica runs (src/queue/pgboss.ts).
  let queue: TaskQueue | undefined;
  if (cfg.databaseUrl && cfg.jobs.queue === 'pgboss' && !opts.store) {
    const taskRuns = new Counter({
      name: 'mrcnn_queue_task_runs_total', help: 'Distributed tasks this replica ran, per queue and outcome (done, or retry: handed back to the queue).',
      labelNames: ['queue', 'outcome'], registers: [app.metrics.registry],
    });
    const taskActive = new Gauge({
      name: 'mrcnn_queue_tasks_running', help: 'Distributed tasks running in this replica now, per queue.', labelNames: ['queue'], registers: [app.metrics.registry],
    });
    for (const q of ['jobs', 'images', 'dead']) taskActive.set({ queue: q }, 0);
    queue = new PgBossQueue({
      onTask: (q, event) => {
        if (event === 'start') taskActive.inc({ queue: q });
        else {
          taskActive.dec({ queue: q });
          taskRuns.inc({ queue: q, outcome: event });
        }
      },
      url: cfg.databaseUrl, store: deferred.store, batchImages: cfg.jobs.batchImages, concurrency: cfg.jobs.maxConcurrent, poolMax: Math.min(4, cfg.databasePoolMax),
      expireSeconds: Math.round(cfg.jobs.taskTimeoutMs / 1000), heartbeatSeconds: Math.round(cfg.jobs.leaseMs / 1000), log: app.log,
      runner: (q) => new TaskRunner({
        store: deferred.store, model, describeError, ttlMs: cfg.jobs.ttlMs, log: app.log, sendJobTask: (t) => q.sendJobTask(t),
        observer,
        ...(opts.clock ? { clock: opts.clock } : {}),
      }),
      ...(opts.clock ? { clock: opts.clock } : {}),
    });
  }
  const service = new JobService({
    store: deferred.store,
    limits: cfg.jobs,
    model,
    describeError,
    ...(queue ? { queue } : {}),
    observer,
    log: app.log,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.pollMs !== undefined ? { pollMs: opts.pollMs } : {}),
  });
  app.decorate('jobs', service);
  // Tasks waiting per queue, for autoscaling (docs/scaling.md): the pg-boss queues, or queued jobs.
  new Gauge({
    name: 'mrcnn_queue_tasks', help: 'Evaluation tasks waiting to be claimed, per queue (jobs: whole jobs or merges; images: batches of images of model-mode jobs).',
    labelNames: ['queue'], registers: [app.metrics.registry],
    collect() {
      const depth = service.queue.depth();
      for (const q of ['jobs', 'images'] as const) this.set({ queue: q }, depth[q] ?? 0);
    },
  });
  app.decorate('jobStore', deferred);
  app.decorate('jobsTmpRoot', opts.tmpRoot ?? tmpdir());
  app.addHook('onClose', async () => {
    await service.close();
    await deferred.close();
  });
  const start = (): void => {
    void Promise.all([deferred.opened, app.models.loaded]).then(() => service.start(), () => { /* reported by server.ts / buildApp */ });
  };
  if (opts.waitForStore !== false) {
    const store = await deferred.opened;
    app.log.info({ engine: store.engine, store: store.location }, 'job store open');
  } else {
    deferred.opened.then((store) => app.log.info({ engine: store.engine, store: store.location }, 'job store open'), () => {});
  }
  app.addHook('onReady', async () => start());
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Parent of the job upload temp dirs. */
    jobsTmpRoot: string;
  }
}

export default fp(jobsPlugin, { name: 'jobs', dependencies: ['metrics', 'models'], fastify: '5.x' });
