/**
 * @file Model management use cases (docs/models.md): load a version from the repository (files
 * checked and the budget applied before anything starts; the sessions load and warm up in the
 * background), unload one after its in-flight work, set a model's default version, and the views
 * GET /models shows. No HTTP here: src/routes/models.ts calls it; src/plugins/models.ts builds it.
 */
import { ModelBudget, type BudgetUsage, estimateMemory } from './budget.js';
import { ModelConflictError, ModelNotFoundError } from './errors.js';
import type { ModelEntry, ModelRegistry } from './registry.js';
import { resolveVersion, type ResolvedVersion } from './repository.js';
import type { ModelMetadata } from './runtime.js';
import type { CanaryResult } from './canary.js';

/** POST /models body. */
export interface LoadRequest {
  name: string;
  version?: string;
  /** Inference workers of this version (default INFERENCE_WORKERS). */
  workers?: number;
  /** Intra-op threads of each worker (default INTRA_OP_THREADS). */
  intraOpThreads?: number;
}

/** How to start a version's sessions once its files are verified (src/plugins/models.ts). */
export type StartVersion = (resolved: ResolvedVersion, workers: number, intraOpThreads: number) => ModelEntry;

/** One version as GET /models lists it: state and, once loaded, the metadata. */
export type VersionView = Omit<Partial<ModelMetadata>, 'name' | 'version'> & {
  model: string;
  name: string;
  version: string | null;
  state: ModelEntry['state'];
  default: boolean;
  default_model: boolean;
  error: string | null;
  in_use: number;
  threads: number;
  memory_mb: number;
  memory_measured: boolean;
};

export interface ModelServiceDeps {
  registry: ModelRegistry;
  budget: ModelBudget;
  modelDir: string;
  defaults: { workers: number; intraOpThreads: number };
  start: StartVersion;
  /** Ids of the evaluation jobs queued or running on a version (any of `names`), to refuse unloading it under them. */
  activeJobs?: (names: readonly string[], version: string) => Promise<string[]>;
  /** The canary check (src/models/canary.ts), when the service has a job store. */
  canary?: (args: { datasetId: string; owner: string | null; base: ModelEntry; candidate: ModelEntry; confidence?: number }) => Promise<CanaryResult>;
}

/** PUT /models/{name}/default options. */
export interface SetDefaultOptions {
  /** Evaluate both versions on this dataset first; refuse when the candidate is worse on a class. */
  canary?: { datasetId: string; owner: string | null; confidence?: number };
}

export class ModelService {
  constructor(private readonly deps: ModelServiceDeps) {}

  get registry(): ModelRegistry {
    return this.deps.registry;
  }

  /**
   * Starts loading `name`@`version` (default: the repository's latest). Resolves once the files
   * are verified and the load is accepted; the entry is `loading` until warm.
   * @throws ModelNotFoundError (not in the repository), ModelInvalidError (broken files),
   *   ModelConflictError (already loading, loaded or unloading), ModelBudgetError
   */
  async load(req: LoadRequest): Promise<ModelEntry> {
    const { registry } = this.deps;
    if (req.version !== undefined) this.checkFree(req.name, req.version);
    const resolved = await resolveVersion(this.deps.modelDir, req.name, req.version, { name: 'body.name', version: 'body.version' });
    this.checkFree(resolved.model, resolved.version);
    const workers = req.workers ?? this.deps.defaults.workers;
    const threads = req.intraOpThreads ?? this.deps.defaults.intraOpThreads;
    const need = { threads: workers * threads, memoryBytes: estimateMemory(resolved.files.graphBytes, workers), measured: false };
    // No await between the check and add(): two loads at once cannot both pass on the same room.
    this.deps.budget.check(need, registry.list(), `version "${resolved.version}" of model "${resolved.model}"`);
    return this.deps.start(resolved, workers, threads);
  }

  private checkFree(model: string, version: string): void {
    const existing = this.deps.registry.list().find((e) => e.model === model && e.version === version);
    if (existing && existing.state !== 'failed') {
      throw new ModelConflictError(`version "${version}" of model "${model}" is already ${existing.state === 'ready' ? 'loaded' : existing.state}`, 'body.version');
    }
  }

  /**
   * Unloads after in-flight work (see ModelRegistry.unload). Refused while evaluation jobs are
   * queued or running on the version: they are accepted work that would fail at their next image.
   * @throws ModelNotFoundError, ModelConflictError
   */
  async unload(name: string, version: string): Promise<{ entry: ModelEntry; done: Promise<void> }> {
    const entry = this.deps.registry.get(name, version, 'params.name', 'params.version');
    if (entry.state !== 'failed' && this.deps.activeJobs) {
      const jobs = await this.deps.activeJobs([...new Set([entry.name, entry.model])], version);
      if (jobs.length > 0) {
        throw new ModelConflictError(`${jobs.length} evaluation job(s) queued or running on version "${version}" of model "${entry.model}" (${jobs.slice(0, 5).join(', ')}): unload it once they are done, or cancel them (DELETE /evaluations/{id})`, 'params.version');
      }
    }
    return this.deps.registry.unload(name, version);
  }

  /**
   * Makes `version` the default of `name`, after the canary check when asked for (the current
   * default version against the candidate on a dataset).
   * @throws ModelNotFoundError, ModelConflictError (not ready), CanaryRefusedError, CanaryEvaluationError
   */
  async setDefault(name: string, version: string, opts: SetDefaultOptions = {}): Promise<{ entry: ModelEntry; canary: CanaryResult | null }> {
    const { registry } = this.deps;
    const candidate = registry.get(name, version, 'params.name', 'body.version');
    if (!candidate.ready) throw new ModelConflictError(`version "${version}" of model "${candidate.model}" is ${candidate.state}: only a ready version can be the default`, 'body.version');
    const base = registry.defaultOf(candidate.model);
    let canary: CanaryResult | null = null;
    if (opts.canary && base && base !== candidate) {
      if (!this.deps.canary) throw new ModelConflictError('the canary check needs the job store', 'body.canary');
      if (!base.ready) throw new ModelConflictError(`the current default version "${base.version}" is ${base.state}: the canary cannot compare with it`, 'body.canary');
      canary = await this.deps.canary({ ...opts.canary, base, candidate });
    }
    return { entry: registry.setDefault(candidate.model, version), canary };
  }

  usage(): BudgetUsage {
    return this.deps.budget.usage(this.deps.registry.list());
  }

  /** One version for GET /models. */
  view(e: ModelEntry): VersionView {
    const { registry } = this.deps;
    const isDefaultModel = e.model === registry.defaultModel;
    return {
      ...(e.runtime ? e.runtime.metadata() : {}),
      model: e.model,
      name: e.name,
      version: e.version,
      state: e.state,
      default: registry.isDefault(e),
      default_model: isDefaultModel && registry.isDefault(e),
      error: e.error ? e.error.message : null,
      in_use: e.inUse,
      threads: e.cost.threads,
      memory_mb: Math.round(e.cost.memoryBytes / 1024 ** 2),
      memory_measured: e.cost.measured,
    };
  }

  /** Every version (default model first). */
  list(): VersionView[] {
    return this.deps.registry.list().filter((e) => e.state !== 'closed').map((e) => this.view(e));
  }

  /**
   * One model: its default version's metadata at the top level (as before several versions) plus
   * every version. @throws ModelNotFoundError naming `params.name`
   */
  model(name: string): VersionView & { default_version: string | null; versions: VersionView[] } {
    const { registry } = this.deps;
    const versions = registry.versionsOf(name).filter((e) => e.state !== 'closed');
    if (versions.length === 0) throw new ModelNotFoundError(name, undefined, 'params.name');
    const model = versions[0]!.model;
    const d = registry.defaultOf(model) ?? versions[0]!;
    return { ...this.view(d), default_version: d.version, versions: versions.map((e) => this.view(e)) };
  }
}
