/**
 * @file The model registry: the model versions this process serves, each a {@link ModelEntry}
 * (loading → ready | failed; ready → unloading → closed) around a {@link ModelRuntime}; which
 * version of each model is its default; which model is the default model (the first of MODELS).
 *
 * `get(name?, version?)` is how every caller finds a version: no name = the default model; a name
 * is the repository folder (`models/<name>/`) or, when no other model has it, the manifest `name`;
 * no version = that model's default version. `acquire()` does the same and holds the version
 * while a request uses it: `unload()` stops new requests at once (404) and waits for the held ones
 * before closing the version's inference pool, so no accepted request fails.
 *
 * Events for other parts of the service (`subscribe(listener)`, {@link RegistryListener}):
 * `stateChanged`, `versionReady` (a version finished loading and warming up), `defaultChanged` (a
 * model's default version was set), `versionRemoved` (unloaded). Listeners are called
 * synchronously; an exception in one is logged by the caller's `onListenerError` and never
 * disturbs the registry or the other listeners.
 *
 * Nothing here reads files or knows HTTP: what a load does is the `load` function given to `add`
 * (src/plugins/models.ts: repository → loader → runtime).
 */
import { ModelConflictError, ModelNotFoundError, ModelNotReadyError, ShuttingDownError } from './errors.js';
import type { ModelRuntime } from './runtime.js';

export type ModelState = 'loading' | 'ready' | 'failed' | 'unloading' | 'closed';

/** What a version costs in the budget (src/models/budget.ts). */
export interface VersionCost {
  /** Worker threads x intra-op threads. */
  threads: number;
  /** Estimated bytes before the load; the measured RSS growth once loaded (when it could be measured). */
  memoryBytes: number;
  /** True once `memoryBytes` is a measurement. */
  measured: boolean;
}

/** Events of the registry; every method is optional. */
export interface RegistryListener {
  /** An entry changed state (loading, ready, failed, unloading, closed). */
  stateChanged?(entry: ModelEntry): void;
  /** A caller asked for a version that is not ready. */
  notReady?(entry: ModelEntry): void;
  /** A version finished loading and warming up: it serves requests from now on. */
  versionReady?(entry: ModelEntry): void;
  /**
   * `model`'s default version is now `version` (was `previous`), a ready version (PUT
   * /models/{name}/default). The first version of a model is its default from the start: that is
   * told by `versionReady` (`registry.isDefault(entry)`), not here.
   */
  defaultChanged?(model: string, version: string, previous: string): void;
  /** A version was unloaded (or a failed one forgotten): its labels and caches may go. */
  versionRemoved?(entry: ModelEntry): void;
}

/** A version held by a request: release it in a `finally` (idempotent). */
export interface Lease {
  readonly entry: ModelEntry;
  readonly runtime: ModelRuntime;
  release(): void;
}

/** Loads one version; `entry.version` may be set by it when the version was not named. */
export type LoadFn = (entry: ModelEntry) => Promise<ModelRuntime>;

/** One model version: its state and, once ready, its runtime. */
export class ModelEntry {
  state: ModelState = 'loading';
  /** Why the load failed. */
  error: Error | null = null;
  runtime: ModelRuntime | null = null;
  /** Resolves when ready; rejects with the load error. */
  readonly loaded: Promise<void>;
  /** Requests holding this version (see {@link ModelRegistry.acquire}). */
  private leases = 0;
  private drained: (() => void) | null = null;
  /** When the load started and ended (ms since epoch). */
  readonly loadStartedAt = Date.now();
  loadEndedAt: number | null = null;

  /**
   * @param model repository folder name
   * @param version the version; null until the load found it (MODELS item without `:version`)
   */
  constructor(
    readonly model: string,
    public version: string | null,
    load: LoadFn,
    readonly cost: VersionCost,
    private readonly emit: (fn: (l: RegistryListener) => void) => void,
  ) {
    this.loaded = Promise.resolve().then(() => load(this)).then(async (runtime) => {
      this.loadEndedAt = Date.now();
      if (this.state !== 'loading') { // unloaded or closed while loading
        await runtime.close(0);
        return;
      }
      this.runtime = runtime;
      this.version = runtime.version;
      this.setState('ready');
      this.emit((l) => l.versionReady?.(this));
    }, (err: unknown) => {
      this.loadEndedAt = Date.now();
      this.error = err as Error;
      if (this.state === 'loading') this.setState('failed');
      throw err;
    });
    this.loaded.catch(() => { /* observed through `loaded` by whoever waits for it */ });
  }

  /** @internal */
  setState(state: ModelState): void {
    this.state = state;
    this.emit((l) => l.stateChanged?.(this));
  }

  /** True once loaded and warmed up (and not unloading or closed). */
  get ready(): boolean {
    return this.state === 'ready';
  }

  /** Served (or being loaded): found by `get`. False once unloading. */
  get visible(): boolean {
    return this.state === 'loading' || this.state === 'ready' || this.state === 'failed';
  }

  /** The manifest name once loaded, else the repository folder name. */
  get name(): string {
    return this.runtime?.name ?? this.model;
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

  /** Requests currently holding this version. */
  get inUse(): number {
    return this.leases;
  }

  /** True when `name` is this model's folder or manifest name (and `version`, when given, its version). */
  matches(name: string, version?: string): boolean {
    if (name !== this.model && name !== this.runtime?.name) return false;
    return version === undefined || version === this.version;
  }

  /**
   * The runtime of a ready model.
   * @throws ModelNotReadyError while loading or after a failed load, ShuttingDownError once closed
   */
  require(): ModelRuntime {
    if (this.state !== 'ready' || !this.runtime) {
      this.emit((l) => l.notReady?.(this));
      throw this.state === 'closed' ? new ShuttingDownError() : new ModelNotReadyError(this.state === 'loading' ? 5 : undefined);
    }
    return this.runtime;
  }

  /** Holds the ready runtime until `release()`. @throws as {@link require} */
  acquire(): Lease {
    const runtime = this.require();
    this.leases++;
    let held = true;
    return {
      entry: this,
      runtime,
      release: () => {
        if (!held) return;
        held = false;
        this.leases--;
        if (this.leases === 0 && this.drained) this.drained();
      },
    };
  }

  /** Resolves once no request holds this version. */
  private whenIdle(): Promise<void> {
    if (this.leases === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.drained = () => { this.drained = null; resolve(); };
    });
  }

  /**
   * Unloads: no new request finds it (state `unloading`), requests holding it finish, then the
   * pool lets its queued and running inferences end (up to `timeoutMs`) and releases the sessions.
   */
  async unload(timeoutMs: number): Promise<void> {
    const wasLoading = this.state === 'loading';
    this.setState('unloading');
    if (wasLoading) await this.loaded.catch(() => undefined);
    await this.whenIdle();
    await this.runtime?.close(timeoutMs);
    this.setState('closed');
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

/** Options of {@link ModelRegistry}. */
export interface RegistryOptions {
  /** How long an unload or close lets queued and running inferences finish. */
  closeTimeoutMs: number;
  /** Called when a listener throws (default: ignored). */
  onListenerError?: (err: unknown) => void;
}

/** The models of this process (see the file header). */
export class ModelRegistry {
  /** Every entry, in the order added (a failed one replaced by a new load keeps no place). */
  private entries: ModelEntry[] = [];
  /** Model → its default version's entry. */
  private readonly defaults = new Map<string, ModelEntry>();
  private readonly listeners = new Set<RegistryListener>();
  private readonly startup: ModelEntry[] = [];
  private defaultModelName: string | null = null;
  private closing = false;

  constructor(private readonly opts: RegistryOptions, listener?: RegistryListener) {
    if (listener) this.listeners.add(listener);
  }

  /**
   * Adds a listener (see {@link RegistryListener}); returns the function that removes it.
   * `replay`: call its `versionReady` at once for the versions already ready (a plugin registered
   * after the start-up versions were loaded sees them too).
   */
  subscribe(listener: RegistryListener, opts: { replay?: boolean } = {}): () => void {
    this.listeners.add(listener);
    if (opts.replay) {
      for (const e of this.list().filter((x) => x.ready)) {
        try {
          listener.versionReady?.(e);
        } catch (err) {
          this.opts.onListenerError?.(err);
        }
      }
    }
    return () => { this.listeners.delete(listener); };
  }

  private readonly emit = (fn: (l: RegistryListener) => void): void => {
    for (const l of [...this.listeners]) {
      try {
        fn(l);
      } catch (err) {
        this.opts.onListenerError?.(err);
      }
    }
  };

  /**
   * Starts loading a version. The first version of a model becomes its default version; the first
   * model added is the default model. `startup` versions make up `loaded`.
   * @throws ModelConflictError when that version is already loading, served or unloading
   */
  add(model: string, version: string | null, load: LoadFn, cost: VersionCost, opts: { startup?: boolean } = {}): ModelEntry {
    if (this.closing) throw new ShuttingDownError();
    if (version !== null) {
      const existing = this.entries.find((e) => e.model === model && e.version === version);
      if (existing && existing.state !== 'failed') {
        throw new ModelConflictError(`version "${version}" of model "${model}" is already ${existing.state === 'ready' ? 'loaded' : existing.state}`, 'body.version');
      }
      if (existing) this.forget(existing);
    }
    const entry = new ModelEntry(model, version, load, cost, this.emit);
    this.entries.push(entry);
    if (opts.startup) this.startup.push(entry);
    this.defaultModelName ??= model;
    if (!this.defaults.has(model)) this.defaults.set(model, entry);
    return entry;
  }

  /** Removes a failed entry at once (nothing to drain). */
  private forget(entry: ModelEntry): void {
    this.entries = this.entries.filter((e) => e !== entry);
    if (this.defaults.get(entry.model) === entry) {
      const next = this.entries.find((e) => e.model === entry.model && e.visible);
      if (next) this.defaults.set(entry.model, next);
      else if (entry.model !== this.defaultModelName) this.defaults.delete(entry.model);
    }
    if (entry.state !== 'closed') entry.setState('closed');
    this.emit((l) => l.versionRemoved?.(entry));
  }

  /** The default model's name (repository folder). */
  get defaultModel(): string {
    if (this.defaultModelName === null) throw new RangeError('the registry has no model');
    return this.defaultModelName;
  }

  /** The default version of the default model. */
  get default(): ModelEntry {
    return this.defaults.get(this.defaultModel)!;
  }

  /** True when `entry` is its model's default version. */
  isDefault(entry: ModelEntry): boolean {
    return this.defaults.get(entry.model) === entry;
  }

  /** The default version's entry of `model` (repository name), or undefined. */
  defaultOf(model: string): ModelEntry | undefined {
    return this.defaults.get(model);
  }

  /** The repository name of the model `name` designates (folder, or a manifest name only one model has). */
  private modelOf(name: string): string | undefined {
    const visible = this.entries.filter((e) => e.visible);
    if (visible.some((e) => e.model === name)) return name;
    const byManifest = new Set(visible.filter((e) => e.runtime?.name === name).map((e) => e.model));
    return byManifest.size === 1 ? [...byManifest][0] : undefined;
  }

  /**
   * The version `version` (default: the default version) of model `name` (default: the default model).
   * @throws ModelNotFoundError naming `fields.name` / `fields.version` when nothing served matches
   */
  get(name?: string, version?: string, field: string | null = null, versionField: string | null = field): ModelEntry {
    const model = name === undefined ? this.defaultModel : this.modelOf(name);
    if (model === undefined) throw new ModelNotFoundError(name!, undefined, field);
    if (version === undefined) {
      const d = this.defaults.get(model);
      if (d && d.state !== 'closed') return d;
      throw new ModelNotFoundError(model, undefined, field);
    }
    const entry = this.entries.find((e) => e.model === model && e.version === version && e.visible);
    if (!entry) throw new ModelNotFoundError(name ?? model, version, versionField);
    return entry;
  }

  /**
   * Holds a ready version for the length of a request (see {@link ModelEntry.acquire}).
   * @throws ModelNotFoundError, ModelNotReadyError
   */
  acquire(name?: string, version?: string, field: string | null = null, versionField: string | null = field): Lease {
    return this.get(name, version, field, versionField).acquire();
  }

  /** Every entry (unloading ones included), the default model's first. */
  list(): readonly ModelEntry[] {
    const d = this.defaultModelName;
    return [...this.entries.filter((e) => e.model === d), ...this.entries.filter((e) => e.model !== d)];
  }

  /** The entries of one model (repository name or unique manifest name), or [] when not served. */
  versionsOf(name: string): ModelEntry[] {
    const model = this.modelOf(name) ?? (this.entries.some((e) => e.model === name) ? name : undefined);
    return model === undefined ? [] : this.entries.filter((e) => e.model === model);
  }

  /** The served model names, the default model first. */
  modelNames(): string[] {
    return [...new Set(this.list().map((e) => e.model))];
  }

  /**
   * Makes `version` the default version of model `name`.
   * @throws ModelNotFoundError; ModelConflictError when that version is not ready
   */
  setDefault(name: string, version: string): ModelEntry {
    const entry = this.get(name, version, 'params.name', 'body.version');
    if (!entry.ready) throw new ModelConflictError(`version "${version}" of model "${entry.model}" is ${entry.state}: only a ready version can be the default`, 'body.version');
    const previous = this.defaults.get(entry.model);
    if (previous === entry) return entry;
    this.defaults.set(entry.model, entry);
    this.emit((l) => l.defaultChanged?.(entry.model, version, previous?.version ?? ''));
    return entry;
  }

  /**
   * Unloads a version (see {@link ModelEntry.unload}); resolves when it is gone. Refused (409) for
   * the default version of a model that has other versions (set another default first) and for the
   * last version of the default model. A failed version is forgotten at once.
   * @throws ModelNotFoundError, ModelConflictError
   */
  unload(name: string, version: string): { entry: ModelEntry; done: Promise<void> } {
    const entry = this.get(name, version, 'params.name', 'params.version');
    if (entry.state === 'failed') {
      this.forget(entry);
      return { entry, done: Promise.resolve() };
    }
    const others = this.entries.filter((e) => e.model === entry.model && e !== entry && e.visible);
    if (this.defaults.get(entry.model) === entry) {
      if (others.length > 0) {
        throw new ModelConflictError(`version "${version}" is the default version of model "${entry.model}": make another version the default first (PUT /models/${entry.model}/default)`, 'params.version');
      }
      if (entry.model === this.defaultModelName) {
        throw new ModelConflictError(`model "${entry.model}" is the default model and "${version}" its only version: the service always serves its default model`, 'params.version');
      }
    }
    const done = entry.unload(this.opts.closeTimeoutMs).finally(() => {
      this.entries = this.entries.filter((e) => e !== entry);
      if (this.defaults.get(entry.model) === entry) this.defaults.delete(entry.model);
      this.emit((l) => l.versionRemoved?.(entry));
    });
    done.catch(() => undefined);
    return { entry, done };
  }

  /** Resolves when every start-up version is ready; rejects with the first load error. */
  get loaded(): Promise<void> {
    return Promise.all(this.startup.map((e) => e.loaded)).then(() => undefined);
  }

  /** Closes every version (running inferences finish first, up to the shutdown timeout). */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.entries.map((e) => e.close(this.opts.closeTimeoutMs)));
  }

  /** Forced shutdown of every version; true when no inference was left running. */
  async abandon(runGraceMs?: number): Promise<boolean> {
    this.closing = true;
    const r = await Promise.all(this.entries.map((e) => e.abandon(runGraceMs)));
    return r.every(Boolean);
  }
}
