/**
 * @file The models plugin: builds the model registry (src/models/registry.ts) from the
 * configuration (one model today: MODEL_NAME under MODEL_DIR), wires its loads, readiness and
 * refusals to the metrics, decorates `app.models`, and closes it with the app.
 *
 * Loading either happens during registration (default: `app.ready()` resolves with a warm model, or
 * rejects with a ModelLoadError naming what is wrong), or, with `waitForModel: false` (server.ts),
 * in the background after start-up, so /health/live answers while /health/ready says 503 until the
 * warm-up is done; `app.models.loaded` then rejects on failure and server.ts exits with the message.
 * On close the pool lets running inferences finish and releases every session.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { loadModel } from '../models/loader.js';
import { ModelRegistry } from '../models/registry.js';

/** Options of the plugin. */
export interface ModelsPluginOptions {
  /** Await load + warm-up during registration (default true). */
  waitForModel?: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The models this process serves (src/models/registry.ts). */
    models: ModelRegistry;
  }
}

async function modelsPlugin(app: FastifyInstance, opts: ModelsPluginOptions): Promise<void> {
  const cfg = app.config;
  const { metrics } = app;
  const settings = {
    modelDir: cfg.modelDir, executionProvider: cfg.executionProvider, intraOpThreads: cfg.intraOpThreads,
    inferenceWorkers: cfg.inferenceWorkers, queueSize: cfg.queueSize, maxImagePixels: cfg.maxImagePixels, warmup: cfg.warmup,
  };
  const registry: ModelRegistry = new ModelRegistry([{ folder: cfg.modelName }], (spec) => loadModel(spec.folder, settings, {
    log: app.log,
    observer: metrics,
    onLoaded: (rt) => metrics.setModelInfo({
      name: rt.name, version: rt.version, provider: rt.session.provider, ortVersion: rt.session.ortVersion, classes: rt.files.manifest.classes,
    }),
  }), cfg.shutdownTimeoutMs, {
    stateChanged: (entry) => { if (entry === registry.default) metrics.setModelReady(entry.ready); },
    notReady: () => metrics.rejected('not_ready'),
  });
  app.decorate('models', registry);
  app.addHook('onClose', async () => registry.close());
  if (opts.waitForModel !== false) await registry.loaded;
}

export default fp(modelsPlugin, { name: 'models', dependencies: ['metrics'], fastify: '5.x' });
