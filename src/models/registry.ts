/**
 * @file The model registry: the model versions this process serves, each an {@link ModelEntry}
 * (loading → ready | failed → closed) around a {@link ModelRuntime}, and which one is the default.
 * `get(name?, version?)` is how every caller finds a model: no name = the default model; a name is
 * the manifest `name` or the folder name under MODEL_DIR; no version = that model's default
 * version. One model today (MODEL_NAME); the registry is where several models and versions
 * (`models/<name>/<version>/`) will be added, loaded and unloaded.
 *
 * Loading starts at construction, in the background; `loaded` resolves when every model is ready
 * (or rejects with the first load error). Closing lets running inferences finish.
 */
import { ModelNotFoundError, ModelNotReadyError, ShuttingDownError } from './errors.js';
import type { ModelRuntime } from './runtime.js';

export type ModelState = 'loading' | 'ready' | 'failed' | 'closed';

/** One model version to serve. */
export interface ModelSpec {
  /** Folder under MODEL_DIR. */
  folder: string;
}

/** What the registry tells about its models (metrics: readiness, refusals). */
export interface RegistryListener {
  /** An entry changed state. */
  stateChanged?(entry: ModelEntry): void;
  /** A caller asked for a model that is not ready. */
  notReady?(entry: ModelEntry): void;
}

/** One model version: its state and, once ready, its runtime. */
export class ModelEntry {
  state: ModelState = 'loading';
  /** Why the load failed. */
  error: Error | null = null;
  runtime: ModelRuntime | null = null;
  /** Resolves when ready; rejects with the load error. */
  readonly loaded: Promise<void>;

  constructor(readonly spec: ModelSpec, load: (spec: ModelSpec) => Promise<ModelRuntime>, private readonly listener: RegistryListener) {
    this.loaded = load(spec).then(async (runtime) => {
      if (this.state !== 'loading') { // closed while loading
        await runtime.close(0);
        return;
      }
      this.runtime = runtime;
      this.setState('ready');
    }, (err: unknown) => {
      this.error = err as Error;
      if (this.state === 'loading') this.setState('failed');
      throw err;
    });
    this.loaded.catch(() => { /* observed through `loaded` by whoever waits for it */ });
  }

  private setState(state: ModelState): void {
    this.state = state;
    this.listener.stateChanged?.(this);
  }

  /** True once loaded and warmed up (and not closed). */
  get ready(): boolean {
    return this.state === 'ready';
  }

  /** The manifest name once loaded, else the folder name. */
  get name(): string {
    return this.runtime?.name ?? this.spec.folder;
  }

  /** The verified files, the session info and the pipeline view of a loaded model (null before). */
  get files(): ModelRuntime['files'] | null {
    return this.runtime?.files ?? null;
  }

  get session(): ModelRuntime['session'] | null {
    return this.runtime?.session ?? null;
  }

  get pipeline(): ModelRuntime['pipeline'] | null {
    return this.runtime?.pipeline ?? null;
  }

  /** The manifest version once loaded. */
  get version(): string | null {
    return this.runtime?.version ?? null;
  }

  /** True when `name` is this model's manifest name or folder (and `version`, when given, its version). */
  matches(name: string, version?: string): boolean {
    if (name !== this.spec.folder && name !== this.runtime?.name) return false;
    return version === undefined || version === this.runtime?.version;
  }

  /**
   * The runtime of a ready model.
   * @throws ModelNotReadyError while loading or after a failed load, ShuttingDownError once closed
   */
  require(): ModelRuntime {
    if (this.state !== 'ready' || !this.runtime) {
      this.listener.notReady?.(this);
      throw this.state === 'closed' ? new ShuttingDownError() : new ModelNotReadyError();
    }
    return this.runtime;
  }

  /** Stops taking work, lets running inferences finish (up to `timeoutMs`), releases the sessions. */
  async close(timeoutMs: number): Promise<void> {
    const wasLoading = this.state === 'loading';
    if (this.state !== 'closed') this.setState('closed');
    if (wasLoading) await this.loaded.catch(() => undefined);
    await this.runtime?.close(timeoutMs);
  }

  /** Forced shutdown: queued work answered at once; resolves when no inference is in progress. */
  async abandon(runGraceMs?: number): Promise<boolean> {
    if (this.state !== 'closed') this.setState('closed');
    return this.runtime ? this.runtime.abandon(runGraceMs) : true;
  }
}

/** The models of this process (see the file header). */
export class ModelRegistry {
  private readonly entries: ModelEntry[];

  /**
   * Starts loading every spec; the first is the default model.
   * @param load loads one version (src/models/loader.ts `loadModel`)
   */
  constructor(specs: readonly ModelSpec[], load: (spec: ModelSpec) => Promise<ModelRuntime>, private readonly closeTimeoutMs: number, listener: RegistryListener = {}) {
    if (specs.length === 0) throw new RangeError('the registry needs at least one model');
    this.entries = specs.map((s) => new ModelEntry(s, load, listener));
  }

  /** The default model (the first configured). */
  get default(): ModelEntry {
    return this.entries[0]!;
  }

  /**
   * The model named `name` (manifest name or folder; default: the default model), at `version`
   * (default: its default version).
   * @throws ModelNotFoundError naming `field` when no served model matches
   */
  get(name?: string, version?: string, field: string | null = null): ModelEntry {
    if (name === undefined) {
      if (version === undefined || this.default.version === version) return this.default;
      throw new ModelNotFoundError(this.default.name, version, field);
    }
    const entry = this.entries.find((e) => e.matches(name, version));
    if (!entry) throw new ModelNotFoundError(name, this.entries.some((e) => e.matches(name)) ? version : undefined, field);
    return entry;
  }

  /** Every entry, the default first. */
  list(): readonly ModelEntry[] {
    return this.entries;
  }

  /** Resolves when every model is ready; rejects with the first load error. */
  get loaded(): Promise<void> {
    return Promise.all(this.entries.map((e) => e.loaded)).then(() => undefined);
  }

  /** Closes every model (running inferences finish first, up to the shutdown timeout). */
  async close(): Promise<void> {
    await Promise.all(this.entries.map((e) => e.close(this.closeTimeoutMs)));
  }

  /** Forced shutdown of every model; true when no inference was left running. */
  async abandon(runGraceMs?: number): Promise<boolean> {
    const r = await Promise.all(this.entries.map((e) => e.abandon(runGraceMs)));
    return r.every(Boolean);
  }
}
