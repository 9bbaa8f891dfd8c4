/**
 * @file One loaded model version at run time (made by src/models/loader.ts, held by the registry):
 * its verified files, its inference pool, and the per-image entry points — `predict` (POST
 * /predict), `reserve` (admission before decoding), and the {@link ModelRunner} side the evaluation
 * use cases need (`decode`, `runImage`: detections + loss tensors). Stage timings, in-flight
 * requests and queue-full refusals are reported to an injected {@link ModelObserver} (the metrics);
 * nothing here knows Fastify.
 */
import { LOSS_OUTPUT_NAMES, type LossConstants, type LossGraphOutputs } from '../losses/types.js';
import { decodeImage, type DecodedImage } from '../pipeline/decode.js';
import { QueueFullError } from '../pipeline/errors.js';
import type { ModelFiles, ModelFormat } from '../pipeline/manifest.js';
import { postprocess, type Instance } from '../pipeline/postprocess.js';
import { checkImageFitsModel, inferDecoded, predictImage, type PipelineModel, type PipelineStage, type Prediction, type PredictOptions, type Timings } from '../pipeline/predict.js';
import type { Reservation, RunResult, SessionInfo } from '../pipeline/session.js';
import type { TensorMap, ValueInfo } from '../pipeline/session-types.js';

/** What a runtime reports (src/plugins/metrics.ts implements it). */
export interface ModelObserver {
  observeStage(stage: PipelineStage, seconds: number): void;
  inflight(delta: number): void;
  rejected(reason: 'queue_full' | 'not_ready'): void;
  queueDepth(n: number): void;
}

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

/** One image run for an evaluation: the detections and, for loss-capable graphs, the loss tensors. */
export interface ImageRun {
  /** COCO-style instances (RLE masks), every score, at most 100, as /evaluate scores them. */
  instances: Instance[];
  /** Graph outputs under the contract's logical names; null when losses are unavailable. */
  lossOutputs: LossGraphOutputs | null;
}

/**
 * The narrow interface model-mode evaluation needs (src/evaluation): decode an upload, run one
 * image (fed its GT boxes when the graph is loss-capable) to detections + loss tensors.
 */
export interface ModelRunner {
  /** Why losses cannot be computed with this model, or null when they can. */
  readonly lossesUnavailable: string | null;
  /** The manifest's loss constants (non-null when losses are available). */
  readonly lossConstants: LossConstants | null;
  /** Decodes an upload (EXIF applied) and checks the model can take it; adds to `timings.decode`. */
  decode(bytes: Buffer, field: string, timings: Timings): Promise<DecodedImage>;
  /**
   * Runs the graph on `image`; `gtBoxes` (xyxy, transferred) only when losses are available.
   * @throws QueueFullError when the pool is full (callers may wait and retry), the pool's errors
   */
  runImage(image: DecodedImage, gtBoxes: Float32Array | undefined, timings: Timings): Promise<ImageRun>;
}

/** Settings shown by `metadata()` (from the configuration). */
export interface RuntimeSettings {
  intraOpThreads: number;
  queueSize: number;
}

/** A loaded, warmed-up model version. */
export class ModelRuntime implements ModelRunner {
  readonly lossesUnavailable: string | null;
  readonly lossConstants: LossConstants | null;

  constructor(
    readonly files: ModelFiles,
    readonly session: SessionInfo,
    readonly pipeline: PipelineModel,
    private readonly settings: RuntimeSettings,
    private readonly observer: ModelObserver,
  ) {
    this.lossesUnavailable = this.lossesReason();
    this.lossConstants = this.lossesUnavailable === null ? files.manifest.lossConstants as unknown as LossConstants : null;
    // Model mode needs every output but `anchors`: the loss core regenerates them from the manifest
    // (docs/losses.md, Anchors). At 800x1333 they are ~200k x 4 floats, ~40% of the bytes a run
    // returns, copied out of the session and across threads for nothing.
    const anchors = files.manifest.outputs.anchors ?? 'anchors';
    this.evaluateFetches = session.outputs.map((o) => o.name).filter((n) => n !== anchors);
  }

  /** Graph outputs a model-mode evaluation reads (all but the anchors). */
  private readonly evaluateFetches: string[];

  get name(): string {
    return this.files.manifest.name;
  }

  get version(): string {
    return this.files.manifest.version;
  }

  private lossesReason(): string | null {
    const m = this.files.manifest;
    if (this.pipeline.format !== 'loss-capable') return `the model is a ${this.pipeline.format} export: its graph has no loss outputs`;
    if (!m.lossConstants) return 'manifest.json has no loss_constants';
    const have = new Set(this.session.outputs.map((o) => o.name));
    const missing = LOSS_OUTPUT_NAMES.filter((n) => !have.has(m.outputs[n] ?? n));
    return missing.length > 0 ? `graph outputs missing for losses: ${missing.join(', ')}` : null;
  }

  /** Graph outputs keyed by the contract's logical names (manifest `outputs` map inverted). */
  logicalOutputs(outputs: TensorMap): TensorMap {
    const out: TensorMap = { ...outputs };
    for (const [logical, graphName] of Object.entries(this.files.manifest.outputs)) {
      const t = outputs[graphName];
      if (t) out[logical] = t;
    }
    return out;
  }

  /** Records one pipeline stage duration (milliseconds). */
  readonly observe = (stage: PipelineStage, ms: number): void => {
    this.observer.observeStage(stage, ms / 1000);
  };

  /** Counts queue-full refusals; `request` also counts the call as one in-flight request. */
  private async tracked<T>(fn: () => Promise<T>, request = false): Promise<T> {
    if (request) this.observer.inflight(1);
    try {
      return await fn();
    } catch (err) {
      if (err instanceof QueueFullError) this.observer.rejected('queue_full');
      throw err;
    } finally {
      if (request) this.observer.inflight(-1);
    }
  }

  /**
   * Takes a place in the inference pool before a request spends CPU on decoding, so an overloaded
   * service refuses it at once (QueueFullError). Pass it to predict() as `reservation`; release it
   * in a `finally` (a no-op once the run used it).
   */
  reserve(): Reservation {
    try {
      return this.pipeline.pool.reserve();
    } catch (err) {
      if (err instanceof QueueFullError) this.observer.rejected('queue_full');
      throw err;
    }
  }

  /** POST /predict: bytes → instances (+ PNG). */
  predict(bytes: Buffer, opts: PredictOptions): Promise<Prediction> {
    return this.tracked(() => predictImage(this.pipeline, bytes, opts, this.observe), true);
  }

  /**
   * Decoded image (+ GT boxes for loss-capable graphs) → every graph output; timings accumulate.
   * `image.data` stays usable; `gtBoxes` is transferred to the worker (pass a copy to keep it).
   */
  infer(image: DecodedImage, timings: Timings, gtBoxes?: Float32Array): Promise<RunResult> {
    return this.tracked(() => inferDecoded(this.pipeline, image, timings, this.observe, gtBoxes, { fetches: this.evaluateFetches }));
  }

  async decode(bytes: Buffer, field: string, timings: Timings): Promise<DecodedImage> {
    const t0 = performance.now();
    const image = await decodeImage(bytes, { maxPixels: this.pipeline.maxImagePixels, field });
    const ms = performance.now() - t0;
    timings.decode += ms;
    this.observe('decode', ms);
    checkImageFitsModel(this.pipeline, image, field);
    return image;
  }

  async runImage(image: DecodedImage, gtBoxes: Float32Array | undefined, timings: Timings): Promise<ImageRun> {
    const run = await this.infer(image, timings, this.lossesUnavailable === null ? gtBoxes : undefined);
    const t1 = performance.now();
    const p = this.pipeline;
    const instances = postprocess(run.outputs, {
      format: p.format, names: p.detections, width: image.width, height: image.height, classes: p.classes,
      scoreThreshold: 0, maxDetections: 100, maskFormat: 'rle',
    });
    const ms = performance.now() - t1;
    timings.postprocess += ms;
    this.observe('postprocess', ms);
    return { instances, lossOutputs: this.lossesUnavailable === null ? this.logicalOutputs(run.outputs) as unknown as LossGraphOutputs : null };
  }

  /** GET /models body. */
  metadata(): ModelMetadata {
    const f = this.files, s = this.session, p = this.pipeline;
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
      intra_op_threads: this.settings.intraOpThreads,
      queue_size: this.settings.queueSize,
      losses_available: this.lossesUnavailable === null,
      losses_unavailable_reason: this.lossesUnavailable,
    };
  }

  /** Lets running inferences finish (up to `timeoutMs`), releases the sessions. */
  close(timeoutMs: number): Promise<void> {
    return this.pipeline.pool.close(timeoutMs);
  }

  /** Forced shutdown: answers queued inferences at once; resolves when no session.run() is in progress. */
  abandon(runGraceMs?: number): Promise<boolean> {
    return this.pipeline.pool.abandon(runGraceMs);
  }
}
