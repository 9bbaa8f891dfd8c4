/**
 * @file The history plugin (docs/history.md): wires datasets, schedules and the history to the rest
 * of the service and decorates `app.history`:
 * - the scheduler (src/evaluation/schedule.ts) runs every `pollMs` (10 s): due cron schedules fire
 *   once across restarts and processes (claimed in the store);
 * - model events: the registry's `versionReady` and `defaultChanged` start the evaluations of the
 *   datasets that opted in (`auto`), once per (dataset, model@version, event); versions already
 *   ready when the service starts count as loaded then (a restart does not evaluate them again);
 * - the Prometheus gauges of the latest results (`mrcnn_dataset_ap`, `mrcnn_dataset_loss`) are
 *   refreshed from the store at the same pace, so they show what any replica finished and drop
 *   the series of deleted datasets.
 * Submissions go through the job service like a POST /evaluations with a `dataset_id`.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { submitDatasetEvaluation } from '../evaluation/datasets.js';
import { DatasetScheduler } from '../evaluation/schedule.js';
import type { EvaluateOptions } from '../evaluation/response.js';
import type { DatasetLatest } from './metrics.js';
import type { Store, StoredDataset } from '../store/index.js';

/** Options of the plugin (tests, embedding). */
export interface HistoryPluginOptions {
  /** Epoch-ms clock (tests drive schedules with it; default the job service's clock, else Date.now). */
  clock?: () => number;
  /** How often schedules and gauges are looked at (default 10 000 ms; 0 = never by itself). */
  pollMs?: number;
}

/** What `app.history` offers to the routes and to other parts of the service. */
export interface HistoryService {
  readonly clock: () => number;
  readonly scheduler: DatasetScheduler;
  /** Evaluates `dataset` with a model version (default: the schedule's, else the default model). */
  submit(dataset: StoredDataset, trigger: string, model?: { name: string | null; version: string | null }): Promise<string>;
  /** Re-reads the latest results of every dataset into the gauges. */
  refreshMetrics(): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Datasets, schedules and history (src/plugins/history.ts). */
    history: HistoryService;
  }
}

/** The latest done evaluation per (dataset, model, version), for the gauges. */
export async function latestPerDataset(store: Store, now: number): Promise<DatasetLatest[]> {
  const out: DatasetLatest[] = [];
  let cursor: string | null = null;
  do {
    const page = await store.listDatasets({ limit: 100, cursor });
    for (const d of page.datasets) {
      const rows = (await store.listHistory({ datasetId: d.id, status: 'done', limit: 200, now })).rows;
      const seen = new Set<string>();
      for (const r of rows) {
        const key = `${r.modelName}\u0000${r.modelVersion}`;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push({
          dataset: d.name, owner: d.owner ?? '', model: r.modelName ?? '', version: r.modelVersion ?? '',
          boxAp: r.summary.box.ap, maskAp: r.summary.mask.ap, losses: r.summary.losses,
        });
      }
    }
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

async function historyPlugin(app: FastifyInstance, opts: HistoryPluginOptions): Promise<void> {
  const clock = opts.clock ?? Date.now;
  const store = app.jobs.store;
  const submit = async (dataset: StoredDataset, trigger: string, model?: { name: string | null; version: string | null }): Promise<string> => {
    const name = model?.name ?? dataset.schedule.model ?? undefined;
    const version = model ? model.version ?? undefined : dataset.schedule.version ?? undefined;
    const runtime = app.models.get(name, version, 'schedule.model', 'schedule.version').require();
    const job = await submitDatasetEvaluation(app.jobs, {
      datasetId: dataset.id, owner: dataset.owner, trigger, options: { lossSampling: 'expected' } as EvaluateOptions,
      model: { name: runtime.name, version: runtime.version, sha256: runtime.files.manifest.sha256 ?? null },
    });
    return job.id;
  };
  const scheduler = new DatasetScheduler({ store, clock, submit: (d, trigger, model) => submit(d, trigger, model), log: app.log });
  const refreshMetrics = async (): Promise<void> => {
    app.metrics.setDatasetLatest(await latestPerDataset(store, clock()));
  };
  app.decorate('history', { clock, scheduler, submit, refreshMetrics } satisfies HistoryService);

  const quietly = (what: string, p: Promise<unknown>): void => {
    p.catch((err: unknown) => app.log.warn({ err }, `${what} failed; retried at the next poll`));
  };
  const namesOf = (model: string): string[] => {
    const manifest = app.models.list().find((e) => e.model === model && e.runtime)?.name;
    return [...new Set([model, ...(manifest ? [manifest] : [])])];
  };
  let ready = false;
  const unsubscribe = app.models.subscribe({
    versionReady(entry) {
      if (ready && entry.version) quietly('automatic dataset evaluation', scheduler.modelEvent('model_loaded', namesOf(entry.model), entry.version));
    },
    defaultChanged(model, version) {
      if (ready) quietly('automatic dataset evaluation', scheduler.modelEvent('default_changed', namesOf(model), version));
    },
  });
  let timer: NodeJS.Timeout | null = null;
  const poll = (): void => {
    quietly('dataset schedules', scheduler.tick());
    quietly('dataset metrics', refreshMetrics());
  };
  app.addHook('onReady', async () => {
    void Promise.all([app.jobStore.opened, app.models.loaded]).then(() => {
      ready = true;
      // versions served from the start count as loaded now (once per version: claimed in the store)
      for (const e of app.models.list()) {
        if (e.ready && e.version) quietly('automatic dataset evaluation', scheduler.modelEvent('model_loaded', namesOf(e.model), e.version));
      }
      poll();
    }, () => { /* reported by server.ts / buildApp */ });
    const every = opts.pollMs ?? 10_000;
    if (every > 0) {
      timer = setInterval(() => { if (ready) poll(); }, every);
      timer.unref();
    }
  });
  app.addHook('onClose', async () => {
    if (timer) clearInterval(timer);
    unsubscribe();
  });
}

export default fp(historyPlugin, { name: 'history', dependencies: ['metrics', 'models', 'jobs'], fastify: '5.x' });
