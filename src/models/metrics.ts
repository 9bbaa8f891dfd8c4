/**
 * @file Per-version metrics: the inference metrics with `model` and `version` labels, one series
 * set per loaded version, removed when the version is unloaded (so the label values are bounded by
 * what is loaded: repository folder names and version folder names, never request input).
 *
 * They sit beside the service-wide series of src/plugins/metrics.ts (mrcnn_stage_duration_seconds,
 * mrcnn_queue_depth, mrcnn_inflight_requests, mrcnn_rejected_requests_total, mrcnn_model_ready),
 * which keep their names and meaning (all versions together; ready = the default model's default
 * version), so the dashboard and alert rules keep working. docs/models.md lists them.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { DURATION_BUCKETS, type Metrics, type Stage } from '../plugins/metrics.js';
import type { ModelObserver } from './runtime.js';
import type { ModelState } from './registry.js';

const VERSION_STAGES: readonly Stage[] = ['decode', 'preprocess', 'inference', 'postprocess'];
const REASONS = ['queue_full', 'not_ready'] as const;
const STATES: readonly ModelState[] = ['loading', 'ready', 'failed', 'unloading'];

type VersionLabels = { model: string; version: string };

/** The per-version series of one app (see the file header). */
export class VersionMetrics {
  private readonly stage: Histogram<'model' | 'version' | 'stage'>;
  private readonly queue: Gauge<'model' | 'version'>;
  private readonly inflight: Gauge<'model' | 'version'>;
  private readonly requests: Counter<'model' | 'version'>;
  private readonly rejected: Counter<'model' | 'version' | 'reason'>;
  private readonly state: Gauge<'model' | 'version' | 'state'>;
  private readonly isDefault: Gauge<'model' | 'version'>;
  private readonly budgetThreads: Gauge<'kind'>;
  private readonly budgetMemory: Gauge<'kind'>;
  /** Queue depth per version, summed into the service-wide mrcnn_queue_depth. */
  private readonly depths = new Map<string, number>();

  constructor(registry: Registry, private readonly global: Metrics) {
    const registers = [registry];
    const labelNames = ['model', 'version'] as const;
    this.stage = new Histogram({
      name: 'mrcnn_model_stage_duration_seconds', help: 'Duration of one pipeline stage for one request, by model version.',
      labelNames: [...labelNames, 'stage'] as const, buckets: DURATION_BUCKETS, registers,
    });
    this.queue = new Gauge({ name: 'mrcnn_model_queue_depth', help: 'Jobs waiting for an inference worker of the model version.', labelNames, registers });
    this.inflight = new Gauge({ name: 'mrcnn_model_inflight_requests', help: 'Predictions currently being processed by the model version.', labelNames, registers });
    this.requests = new Counter({ name: 'mrcnn_model_requests_total', help: 'Predictions processed by the model version.', labelNames, registers });
    this.rejected = new Counter({
      name: 'mrcnn_model_rejected_requests_total', help: 'Requests to the model version refused before processing, by reason.',
      labelNames: [...labelNames, 'reason'] as const, registers,
    });
    this.state = new Gauge({
      name: 'mrcnn_model_version_state', help: '1 for the current state of each model version (loading, ready, failed, unloading).',
      labelNames: [...labelNames, 'state'] as const, registers,
    });
    this.isDefault = new Gauge({ name: 'mrcnn_model_version_default', help: '1 for the default version of each model, else 0.', labelNames, registers });
    this.budgetThreads = new Gauge({ name: 'mrcnn_model_budget_threads', help: 'Worker threads (workers x intra-op threads) of the loaded versions (kind=used) and MODEL_THREADS (kind=total).', labelNames: ['kind'] as const, registers });
    this.budgetMemory = new Gauge({ name: 'mrcnn_model_budget_memory_bytes', help: 'Estimated memory of the loaded versions (kind=used) and MODEL_MEMORY_MB (kind=total; 0 = not budgeted).', labelNames: ['kind'] as const, registers });
  }

  /** The observer of one version's runtime: its labelled series and the service-wide ones. */
  observer(model: string, version: string): ModelObserver {
    const labels: VersionLabels = { model, version };
    const key = `${model}\u0000${version}`;
    for (const stage of VERSION_STAGES) this.stage.zero({ ...labels, stage });
    for (const reason of REASONS) this.rejected.inc({ ...labels, reason }, 0);
    this.queue.set(labels, 0);
    this.inflight.set(labels, 0);
    this.requests.inc(labels, 0);
    return {
      observeStage: (stage, seconds) => {
        this.global.observeStage(stage, seconds);
        if (VERSION_STAGES.includes(stage) && Number.isFinite(seconds) && seconds >= 0) this.stage.observe({ ...labels, stage }, seconds);
      },
      inflight: (delta) => {
        this.global.inflight(delta);
        if (!Number.isFinite(delta)) return;
        this.inflight.inc(labels, delta);
        if (delta > 0) this.requests.inc(labels, delta);
      },
      rejected: (reason) => {
        this.global.rejected(reason);
        this.rejected.inc({ ...labels, reason });
      },
      queueDepth: (n) => {
        if (!Number.isFinite(n)) return;
        this.queue.set(labels, Math.max(0, n));
        this.depths.set(key, Math.max(0, n));
        this.global.queueDepth([...this.depths.values()].reduce((a, b) => a + b, 0));
      },
    };
  }

  /** A refusal of a version that is not ready (it has no runtime observer yet). */
  notReady(model: string, version: string | null): void {
    if (version !== null) this.rejected.inc({ model, version, reason: 'not_ready' });
  }

  setState(model: string, version: string, state: ModelState): void {
    for (const s of STATES) this.state.set({ model, version, state: s }, s === state ? 1 : 0);
  }

  setDefault(model: string, version: string, isDefault: boolean): void {
    this.isDefault.set({ model, version }, isDefault ? 1 : 0);
  }

  setBudget(threads: { used: number; total: number }, memoryBytes: { used: number; total: number }): void {
    this.budgetThreads.set({ kind: 'used' }, threads.used);
    this.budgetThreads.set({ kind: 'total' }, threads.total);
    this.budgetMemory.set({ kind: 'used' }, memoryBytes.used);
    this.budgetMemory.set({ kind: 'total' }, memoryBytes.total);
  }

  /** Drops every series of an unloaded version. */
  remove(model: string, version: string): void {
    const labels = { model, version };
    for (const stage of VERSION_STAGES) this.stage.remove({ ...labels, stage });
    for (const reason of REASONS) this.rejected.remove({ ...labels, reason });
    for (const state of STATES) this.state.remove({ ...labels, state });
    this.queue.remove(labels);
    this.inflight.remove(labels);
    this.requests.remove(labels);
    this.isDefault.remove(labels);
    if (this.depths.delete(`${model}\u0000${version}`)) {
      this.global.queueDepth([...this.depths.values()].reduce((a, b) => a + b, 0));
    }
  }
}
