/**
 * @file The model plugin: loads `<MODEL_DIR>/<MODEL_NAME>` (manifest, path and sha256 checks), starts
 * the inference workers (CUDA or CPU, see EXECUTION_PROVIDER), validates the graph's inputs and
 * outputs against the manifest, warms every worker up, and decorates `app.model`.
 *
 * Loading either happens during registration (default: `app.ready()` resolves with a warm model, or
 * rejects with a ModelLoadError naming what is wrong), or, with `waitForModel: false` (server.ts),
 * in the background after start-up, so /health/live answers while /health/ready says 503 until the
 * warm-up is done; `app.model.loaded` then rejects on failure and server.ts exits with the message.
 * On close the pool lets running inferences finish and releases every session.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Errors } from '../errors.js';
import { loadModelFiles, ModelLoadError, type ModelFiles, type ModelFormat } from '../pipeline/manifest.js';
import { detectionOutputNames } from '../pipeline/postprocess.js';
import { inferDecoded, mapRunError, predictImage, runGraph, type PipelineModel, type Prediction, type PredictOptions, type Timings } from '../pipeline/predict.js';
import { buildFeeds, warmupImage } from '../pipeline/preprocess.js';
import { InferencePool, type Reservation, type RunResult, type SessionInfo } from '../pipeline/session.js';
import type { TensorMap, ValueInfo } from '../pipeline/session-types.js';
import type { DecodedImage } from '../pipeline/decode.js';
import { LOSS_OUTPUT_NAMES } from '../losses/types.js';

/** GET /models body (one model). */
export interface ModelMetadata {
  name: string;
  version: string;
  format: ModelFormat;
  classes: Array<{ id: number; name: string }>;
  execution_provider: string;
  execution_provider_fallback_reason: string | null;
  onnxruntime_version: string;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  file: string;
  sha256: string;
  graph_bytes: number;
  workers: number;
  intra_op_threads: number;
  queue_size: number;
  losses_available: boolean;
  losses_unavailable_reason: string | null;
}

/** The graph's resize constants, when the manifest states them (loss_constants.min_size/max_size). */
function resizeOf(lc: Record<string, unknown> | null): { resize?: { minSize: number; maxSize: number } } {
  const minSize = Number(lc?.min_size), maxSize = Number(lc?.max_size);
  return minSize > 0 && maxSize > 0 ? { resize: { minSize, maxSize } } : {};
}

/** Options of the plugin. */
export interface ModelPluginOptions {
  /** Await load + warm-up during registration (default true). */
  waitForModel?: boolean;
}

type State = 'loading' | 'ready' | 'failed' | 'closed';

/** `app.model`: the loaded model and the pipeline entry points routes use. */
export class ModelHandle {
  state: State = 'loading';
  /** Set when the load failed. */
  error: Error | null = null;
  files: ModelFiles | null = null;
  session: SessionInfo | null = null;
  pipeline: PipelineModel | null = null;
  /** Resolves when ready; rejects with the load error. */
  loaded: Promise<void>;

  constructor(private readonly app: FastifyInstance) {
    this.loaded = this.load().catch((err: unknown) => {
      if (this.state === 'loading') this.state = 'failed';
      this.error = err as Error;
      throw err;
    });
    this.loaded.catch(() => { /* observed by the plugin (waitForModel) or server.ts */ });
  }

  /** True once loaded and warmed up (and not closed). */
  get ready(): boolean {
    return this.state === 'ready';
  }

  private async load(): Promise<void> {
    const { config: cfg, log, metrics } = this.app;
    const files = await loadModelFiles(cfg.modelDir, cfg.modelName);
    const m = files.manifest;
    const pool = await InferencePool.create({
      graphPath: files.graphPath,
      executionProvider: cfg.executionProvider,
      intraOpThreads: cfg.intraOpThreads,
      workers: cfg.inferenceWorkers,
      queueSize: cfg.queueSize,
      onQueueDepth: (n) => metrics.queueDepth(n),
      log,
    }).catch((err: Error) => { throw new ModelLoadError(`model "${cfg.modelName}" (${files.graphPath}): ${err.message}`); });
    try {
      const info = pool.info;
      const inputNames = info.inputs.map((i) => i.name);
      const outputNames = new Set(info.outputs.map((o) => o.name));
      if (!inputNames.includes(m.inputName)) {
        throw new ModelLoadError(`graph has no input "${m.inputName}" (manifest input.name); inputs: ${inputNames.join(', ')}`);
      }
      const format: ModelFormat = m.format ?? (outputNames.has(m.outputs.det_boxes ?? 'det_boxes') ? 'loss-capable' : 'stock');
      const detections = detectionOutputNames(format, m.outputs);
      for (const k of ['boxes', 'labels', 'scores'] as const) {
        if (!outputNames.has(detections[k])) {
          throw new ModelLoadError(`graph has no output "${detections[k]}" required by format "${format}"; outputs: ${[...outputNames].join(', ')}`);
        }
      }
      const hasGt = inputNames.includes(m.gtInputName);
      if (format === 'loss-capable' && !hasGt) throw new ModelLoadError(`loss-capable graph has no "${m.gtInputName}" input`);
      if (info.fallbackReason) log.warn({ reason: info.fallbackReason }, 'CUDA execution provider unavailable, using CPU');
      log.info({ model: m.name, version: m.version, format, provider: info.provider, workers: pool.size }, 'model loaded');
      this.files = files;
      this.session = info;
      this.pipeline = {
        pool, format, detections, classes: m.classes, maxImagePixels: cfg.maxImagePixels,
        ...resizeOf(m.lossConstants),
        inputs: hasGt ? { image: m.inputName, gtBoxes: m.gtInputName } : { image: m.inputName },
      };
      metrics.setModelInfo({ name: m.name, version: m.version, provider: info.provider, ortVersion: info.ortVersion, classes: m.classes });
      if (cfg.warmup) {
        const size = Number(m.lossConstants?.min_size ?? 256) || 256;
        const t0 = Date.now();
        await pool.warmup(() => buildFeeds(warmupImage(size, size), this.pipeline!.inputs));
        log.info({ ms: Date.now() - t0 }, 'model warmed up');
      }
      if (this.state === 'loading') {
        this.state = 'ready';
        metrics.setModelReady(true);
      }
    } catch (err) {
      await pool.close(1000);
      throw err;
    }
  }

  /** Why losses cannot be computed with this model, or null when they can. */
  lossesUnavailableReason(): string | null {
    const m = this.files?.manifest;
    if (!m || !this.session || !this.pipeline) return 'model not loaded';
    if (this.pipeline.format !== 'loss-capable') return `the model is a ${this.pipeline.format} export: its graph has no loss outputs`;
    if (!m.lossConstants) return 'manifest.json has no loss_constants';
    const have = new Set(this.session.outputs.map((o) => o.name));
    const missing = LOSS_OUTPUT_NAMES.filter((n) => !have.has(m.outputs[n] ?? n));
    return missing.length > 0 ? `graph outputs missing for losses: ${missing.join(', ')}` : null;
  }

  /** Graph outputs keyed by the contract's logical names (manifest `outputs` map inverted). */
  logicalOutputs(outputs: TensorMap): TensorMap {
    const map = this.files?.manifest.outputs ?? {};
    const out: TensorMap = { ...outputs };
    for (const [logical, graphName] of Object.entries(map)) {
      const t = outputs[graphName];
      if (t) out[logical] = t;
    }
    return out;
  }

  /** The pipeline model, or 503 MODEL_NOT_READY. */
  require(): PipelineModel {
    if (this.state !== 'ready' || !this.pipeline) {
      this.app.metrics.rejected('not_ready');
      throw this.state === 'closed' ? new Errors.SHUTTING_DOWN() : new Errors.MODEL_NOT_READY();
    }
    return this.pipeline;
  }

  /** Records one pipeline stage duration (milliseconds) in app.metrics. */
  readonly observe = (stage: 'decode' | 'preprocess' | 'inference' | 'postprocess', ms: number): void => {
    this.app.metrics.observeStage(stage, ms / 1000);
  };

  /** Counts queue-full rejections; `request` also counts the call as one in-flight request. */
  private async tracked<T>(fn: () => Promise<T>, request = false): Promise<T> {
    if (request) this.app.metrics.inflight(1);
    try {
      return await fn();
    } catch (err) {
      if ((err as { code?: string }).code === 'MRC_ERR_QUEUE_FULL') this.app.metrics.rejected('queue_full');
      throw err;
    } finally {
      if (request) this.app.metrics.inflight(-1);
    }
  }

  /**
   * Takes a place in the inference pool before a request spends CPU on decoding, so an overloaded
   * service refuses it at once (503 MRC_ERR_QUEUE_FULL + Retry-After). Pass it to predict() as
   * `reservation`; release it in a `finally` (a no-op once the run used it).
   */
  reserve(): Reservation {
    const model = this.require();
    try {
      return model.pool.reserve();
    } catch (err) {
      const mapped = mapRunError(err);
      if ((mapped as { code?: string }).code === 'MRC_ERR_QUEUE_FULL') this.app.metrics.rejected('queue_full');
      throw mapped;
    }
  }

  /**
   * Forced shutdown: answers every accepted inference with 503 now and resolves when no
   * session.run() is in progress (bounded), so the process can exit without an abort.
   */
  async abandon(runGraceMs?: number): Promise<boolean> {
    this.state = 'closed';
    return this.pipeline ? this.pipeline.pool.abandon(runGraceMs) : true;
  }

  /** POST /predict: bytes → instances (+ PNG). */
  predict(bytes: Buffer, opts: PredictOptions): Promise<Prediction> {
    const model = this.require();
    return this.tracked(() => predictImage(model, bytes, opts, this.observe), true);
  }

  /**
   * Decoded image (+ GT boxes for loss-capable graphs) → every graph output; timings accumulate.
   * `image.data` stays usable; `gtBoxes` is transferred to the worker (pass a copy to keep it).
   */
  infer(image: DecodedImage, timings: Timings, gtBoxes?: Float32Array): Promise<RunResult> {
    const model = this.require();
    return this.tracked(() => inferDecoded(model, image, timings, this.observe, gtBoxes));
  }

  /** Generic run: feeds by graph input name → every output by graph output name. */
  run(feeds: TensorMap): Promise<RunResult> {
    const model = this.require();
    return this.tracked(() => runGraph(model.pool, feeds));
  }

  /** GET /models body. */
  metadata(): ModelMetadata {
    this.require();
    const f = this.files!, s = this.session!, p = this.pipeline!, cfg = this.app.config;
    const reason = this.lossesUnavailableReason();
    return {
      name: f.manifest.name,
      version: f.manifest.version,
      format: p.format,
      classes: f.manifest.classes.map((name, i) => ({ id: i + 1, name })),
      execution_provider: s.provider,
      execution_provider_fallback_reason: s.fallbackReason ?? null,
      onnxruntime_version: s.ortVersion,
      inputs: s.inputs,
      outputs: s.outputs,
      file: f.manifest.file,
      sha256: f.manifest.sha256,
      graph_bytes: f.graphBytes,
      workers: p.pool.size,
      intra_op_threads: cfg.intraOpThreads,
      queue_size: cfg.queueSize,
      losses_available: reason === null,
      losses_unavailable_reason: reason,
    };
  }

  /** Stops accepting work, lets running inferences finish, releases the sessions. */
  async close(): Promise<void> {
    const wasLoading = this.state === 'loading';
    this.state = 'closed';
    this.app.metrics.setModelReady(false);
    if (wasLoading) await this.loaded.catch(() => undefined);
    await this.pipeline?.pool.close(this.app.config.shutdownTimeoutMs);
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The loaded model (see src/plugins/model.ts). */
    model: ModelHandle;
  }
}

async function modelPlugin(app: FastifyInstance, opts: ModelPluginOptions): Promise<void> {
  const handle = new ModelHandle(app);
  app.decorate('model', handle);
  app.addHook('onClose', async () => handle.close());
  if (opts.waitForModel !== false) {
    await handle.loaded;
  }
}

export default fp(modelPlugin, { name: 'model', dependencies: ['metrics'], fastify: '5.x' });
