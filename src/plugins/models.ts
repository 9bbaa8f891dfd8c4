/**
 * @file The models plugin: builds the model registry (src/models/registry.ts) from the
 * configuration (MODELS, else MODEL_NAME, under MODEL_DIR; docs/models.md), the management use
 * cases (src/models/service.ts) with the budget (MODEL_THREADS, MODEL_MEMORY_MB), wires loads,
 * readiness and refusals to the metrics (service-wide and per version, src/models/metrics.ts),
 * decorates `app.models` (the registry) and `app.modelService`, and closes them with the app.
 *
 * Start-up loading either happens during registration (default: `app.ready()` resolves with every
 * MODELS version warm, or rejects with a ModelLoadError naming what is wrong), or, with
 * `waitForModel: false` (server.ts), in the background after start-up, so /health/live answers
 * while /health/ready says 503 until the default model is warm; `app.models.loaded` then rejects on
 * failure and server.ts exits with the message. Versions loaded later (POST /models) never stop the
 * service: a failure leaves that version `failed` with the reason.
 *
 * Other plugins subscribe to the registry's events with `app.models.subscribe({versionReady,
 * defaultChanged, ...})` (src/models/registry.ts, RegistryListener).
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ModelBudget, estimateMemory } from '../models/budget.js';
import { runCanary } from '../models/canary.js';
import { ModelInvalidError, ModelNotFoundError } from '../models/errors.js';
import { loadModel } from '../models/loader.js';
import { VersionMetrics } from '../models/metrics.js';
import { ModelRegistry, type LoadFn, type ModelEntry } from '../models/registry.js';
import type { ModelRuntime } from '../models/runtime.js';
import { resolveVersion, type ResolvedVersion } from '../models/repository.js';
import { ModelService } from '../models/service.js';
import { ModelLoadError } from '../pipeline/manifest.js';

/** Options of the plugin. */
export interface ModelsPluginOptions {
  /** Await load + warm-up during registration (default true). */
  waitForModel?: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The models this process serves (src/models/registry.ts). */
    models: ModelRegistry;
    /** Loading, unloading and default versions (src/models/service.ts). */
    modelService: ModelService;
  }
}

async function modelsPlugin(app: FastifyInstance, opts: ModelsPluginOptions): Promise<void> {
  const cfg = app.config;
  const { metrics } = app;
  const versionMetrics = new VersionMetrics(metrics.registry, metrics);
  const budget = new ModelBudget({ threads: cfg.modelThreads, memoryBytes: cfg.modelMemoryBytes });
  const settings = {
    modelDir: cfg.modelDir, executionProvider: cfg.executionProvider, intraOpThreads: cfg.intraOpThreads,
    inferenceWorkers: cfg.inferenceWorkers, queueSize: cfg.queueSize, maxImagePixels: cfg.maxImagePixels, warmup: cfg.warmup,
  };

  const isServiceDefault = (e: ModelEntry): boolean => e.model === registry.defaultModel && registry.isDefault(e);
  const showModelInfo = (rt: ModelRuntime | null): void => {
    if (rt) {
      metrics.setModelInfo({
        name: rt.name, version: rt.version, provider: rt.session.provider, ortVersion: rt.session.ortVersion, classes: rt.files.manifest.classes,
      });
    }
  };
  const showBudget = (): void => {
    const u = budget.usage(registry.list());
    versionMetrics.setBudget(u.threads, { used: u.memory_mb.used * 1024 ** 2, total: cfg.modelMemoryBytes });
  };

  const registry: ModelRegistry = new ModelRegistry({
    closeTimeoutMs: cfg.shutdownTimeoutMs,
    onListenerError: (err) => app.log.error({ err }, 'model registry listener failed'),
  }, {
    stateChanged: (entry) => {
      if (entry.version !== null && entry.state !== 'closed') versionMetrics.setState(entry.model, entry.version, entry.state);
      if (isServiceDefault(entry)) metrics.setModelReady(entry.ready);
      showBudget();
    },
    versionReady: (entry) => {
      versionMetrics.setDefault(entry.model, entry.version!, registry.isDefault(entry));
      app.log.info({ model: entry.model, version: entry.version, default: registry.isDefault(entry) }, 'model version ready');
    },
    defaultChanged: (model, version, previous) => {
      versionMetrics.setDefault(model, previous, false);
      versionMetrics.setDefault(model, version, true);
      const entry = registry.defaultOf(model)!;
      if (isServiceDefault(entry)) {
        showModelInfo(entry.runtime);
        metrics.setModelReady(entry.ready);
      }
      app.log.info({ model, version, previous }, 'default version changed');
    },
    versionRemoved: (entry) => {
      if (entry.version !== null) versionMetrics.remove(entry.model, entry.version);
      showBudget();
      app.log.info({ model: entry.model, version: entry.version }, 'model version removed');
    },
    notReady: (entry) => {
      metrics.rejected('not_ready');
      versionMetrics.notReady(entry.model, entry.version);
    },
  });

  /** Loads running now, to tell whether a load's RSS growth was its own. */
  const active = new Set<{ overlapped: boolean }>();

  /** The load of one version: resolve (start-up versions), start the pool, warm up, measure. */
  const loadFn = (resolved: ResolvedVersion | null, workers: number, intraOpThreads: number): LoadFn => async (entry) => {
    let r = resolved;
    if (!r) {
      r = await resolveVersion(cfg.modelDir, entry.model, entry.version ?? undefined).catch((err: unknown) => {
        // start-up: the messages of a folder that cannot be served (server.ts exits with them)
        if (err instanceof ModelNotFoundError) throw new ModelLoadError(`model folder "${entry.model}"${entry.version ? ` version "${entry.version}"` : ''} not found in ${cfg.modelDir} (MODELS / MODEL_NAME)`);
        if (err instanceof ModelInvalidError) throw new ModelLoadError(err.message);
        throw err;
      });
      entry.version = r.version;
      entry.cost.memoryBytes = estimateMemory(r.files.graphBytes, workers);
    }
    const token = { overlapped: active.size > 0 };
    for (const t of active) t.overlapped = true;
    active.add(token);
    const rss0 = process.memoryUsage().rss;
    try {
      const runtime = await loadModel(r.folder, { ...settings, inferenceWorkers: workers, intraOpThreads }, {
        log: app.log.child({ model: r.model, version: r.version }),
        observer: versionMetrics.observer(r.model, r.version),
        onLoaded: (rt) => { if (isServiceDefault(entry)) showModelInfo(rt); },
      }, r.files);
      const grown = process.memoryUsage().rss - rss0;
      if (!token.overlapped && grown > 0) {
        entry.cost.memoryBytes = grown;
        entry.cost.measured = true;
      }
      return runtime;
    } finally {
      active.delete(token);
    }
  };

  const cost = (workers: number, threads: number, memoryBytes = 0) => ({ threads: workers * threads, memoryBytes, measured: false });
  const service = new ModelService({
    registry, budget, modelDir: cfg.modelDir,
    defaults: { workers: cfg.inferenceWorkers, intraOpThreads: cfg.intraOpThreads },
    // app.jobs is decorated after this plugin: looked up when a canary runs or a version is unloaded
    canary: (args) => runCanary({ jobs: app.jobs }, args),
    activeJobs: async (names, version) => {
      const ids: string[] = [];
      for (const modelName of names) {
        for (const status of ['queued', 'running'] as const) {
          const page = await app.jobs.store.listHistory({ modelName, modelVersion: version, status, limit: 10 });
          ids.push(...page.rows.map((r) => r.id));
        }
      }
      return ids;
    },
    start: (resolved, workers, threads) => {
      const entry = registry.add(resolved.model, resolved.version, loadFn(resolved, workers, threads),
        cost(workers, threads, estimateMemory(resolved.files.graphBytes, workers)));
      entry.loaded.catch((err: Error) => app.log.error({ model: resolved.model, version: resolved.version, reason: err.message }, 'model version failed to load'));
      return entry;
    },
  });

  for (const ref of cfg.models) {
    registry.add(ref.name, ref.version ?? null, loadFn(null, cfg.inferenceWorkers, cfg.intraOpThreads),
      cost(cfg.inferenceWorkers, cfg.intraOpThreads), { startup: true });
  }
  app.decorate('models', registry);
  app.decorate('modelService', service);
  app.addHook('onClose', async () => registry.close());
  if (opts.waitForModel !== false) {
    // a start-up version that cannot load fails the app: the others' sessions must not outlive it
    await registry.loaded.catch(async (err: unknown) => {
      await registry.close();
      throw err;
    });
  }
}

export default fp(modelsPlugin, { name: 'models', dependencies: ['metrics'], fastify: '5.x' });
