/**
 * @file Loading one model version: `<MODEL_DIR>/<folder>` (manifest, path and sha256 checks,
 * src/pipeline/manifest.ts), the inference workers (CUDA or CPU, EXECUTION_PROVIDER), the graph's
 * inputs and outputs checked against the manifest, one warm-up run per worker. Gives a
 * {@link ModelRuntime}, or rejects with a ModelLoadError naming what is wrong. Used by the registry.
 */
import { loadModelFiles, ModelLoadError, type ModelFiles, type ModelFormat } from '../pipeline/manifest.js';
import { detectionOutputNames } from '../pipeline/postprocess.js';
import { buildFeeds, warmupImage } from '../pipeline/preprocess.js';
import { InferencePool } from '../pipeline/session.js';
import { checkAnchors, generateAnchors } from '../losses/index.js';
import { ModelRuntime, type ModelObserver } from './runtime.js';

/** How models are loaded (from the configuration). */
export interface LoaderSettings {
  /** Absolute models directory; nothing outside it is read. */
  modelDir: string;
  executionProvider: 'auto' | 'cuda' | 'cpu';
  intraOpThreads: number;
  inferenceWorkers: number;
  queueSize: number;
  maxImagePixels: number;
  /** One inference per worker before the model is ready. */
  warmup: boolean;
}

/** Where a loader logs (pino-compatible). */
export interface LoaderLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: unknown, msg?: string): void;
}

/** Something to tell when the model's identity is known (metrics: model info, class labels). */
export interface LoaderDeps {
  log: LoaderLog;
  observer: ModelObserver;
  /** Called once the graph is loaded and checked, before the warm-up. */
  onLoaded?(runtime: ModelRuntime): void;
}

/** The graph's resize constants, when the manifest states them (loss_constants.min_size/max_size). */
function resizeOf(lc: Record<string, unknown> | null): { resize?: { minSize: number; maxSize: number } } {
  const minSize = Number(lc?.min_size), maxSize = Number(lc?.max_size);
  return minSize > 0 && maxSize > 0 ? { resize: { minSize, maxSize } } : {};
}

/**
 * Loads the model in `folder` under `settings.modelDir` (files already verified by the repository:
 * `verified`) and warms it up.
 * @throws ModelLoadError naming the missing file, bad sha256, bad manifest, graph or EP.
 */
export async function loadModel(folder: string, settings: LoaderSettings, deps: LoaderDeps, verified?: ModelFiles): Promise<ModelRuntime> {
  const { log, observer } = deps;
  const files = verified ?? await loadModelFiles(settings.modelDir, folder);
  const m = files.manifest;
  const pool = await InferencePool.create({
    graphPath: files.graphPath,
    executionProvider: settings.executionProvider,
    intraOpThreads: settings.intraOpThreads,
    workers: settings.inferenceWorkers,
    queueSize: settings.queueSize,
    onQueueDepth: (n) => observer.queueDepth(n),
    log,
  }).catch((err: Error) => { throw new ModelLoadError(`model "${folder}" (${files.graphPath}): ${err.message}`); });
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
    const runtime = new ModelRuntime(files, info, {
      pool, format, detections, classes: m.classes, maxImagePixels: settings.maxImagePixels,
      ...resizeOf(m.lossConstants),
      inputs: hasGt ? { image: m.inputName, gtBoxes: m.gtInputName } : { image: m.inputName },
    }, { intraOpThreads: settings.intraOpThreads, queueSize: settings.queueSize }, observer);
    deps.onLoaded?.(runtime);
    if (settings.warmup) {
      const size = Number(m.lossConstants?.min_size ?? 256) || 256;
      const t0 = Date.now();
      await pool.warmup(() => buildFeeds(warmupImage(size, size), runtime.pipeline.inputs));
      log.info({ ms: Date.now() - t0 }, 'model warmed up');
      if (runtime.lossConstants) await checkAnchorsOnce(runtime, size);
    }
    return runtime;
  } catch (err) {
    await pool.close(1000);
    throw err;
  }
}

/**
 * Model-mode evaluation does not fetch the graph's anchors (the loss core regenerates them from
 * loss_constants); they are compared once here instead, on the warm-up image, so a manifest whose
 * anchor sizes, ratios or size_divisible do not describe the graph fails the load, not every
 * evaluation. @throws ModelLoadError naming the first difference.
 */
async function checkAnchorsOnce(runtime: ModelRuntime, size: number): Promise<void> {
  const m = runtime.files.manifest;
  const c = runtime.lossConstants!;
  const anchorsName = m.outputs.anchors ?? 'anchors';
  const paddedName = m.outputs.padded_size ?? 'padded_size';
  const { outputs } = await runtime.pipeline.pool.run(
    buildFeeds(warmupImage(size, size), runtime.pipeline.inputs), { fetches: [anchorsName, paddedName] });
  const padded = outputs[paddedName]?.data;
  const graph = outputs[anchorsName]?.data;
  if (!padded || !(graph instanceof Float32Array)) throw new ModelLoadError(`graph outputs "${anchorsName}" / "${paddedName}" missing or not float32`);
  const expected = generateAnchors(Number(padded[0]), Number(padded[1]), c.anchor_sizes, c.aspect_ratios);
  const chk = checkAnchors(graph, expected);
  if (!chk.equal) {
    throw new ModelLoadError(`manifest loss_constants do not describe the graph: its anchors differ from the regenerated ones (graph ${chk.graphCount}, expected ${chk.expectedCount}, first mismatch ${chk.firstMismatch}, max |diff| ${chk.maxAbsDiff})`);
  }
}
