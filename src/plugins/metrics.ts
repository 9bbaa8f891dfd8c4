/**
 * Prometheus metrics: the last room of the data flow (route → decode → session → postprocess →
 * losses | eval → metrics). Routes and the model plugin record through `app.metrics`; GET /metrics
 * serves the text exposition format. One prom-client Registry per app instance
 * (`registers: [registry]`), so tests can build many apps side by side.
 *
 * Cardinality rule: every label value comes from a fixed set in this file or from the model's own
 * class list (set at model load). Nothing from a request (URL, file name, category name) ever
 * becomes a label value; unknown values are dropped. The metric list is in docs/observability.md.
 * @see https://github.com/siimon/prom-client
 */
import type { EvaluationSummary as Summary } from '../evaluation/summary.js';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type {} from '@fastify/swagger'; // its FastifySchema augmentation declares `hide`
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type Stage = 'decode' | 'preprocess' | 'inference' | 'postprocess' | 'losses' | 'evaluation';
export type RejectReason = 'queue_full' | 'shutting_down' | 'not_ready';

export const STAGES: readonly Stage[] = ['decode', 'preprocess', 'inference', 'postprocess', 'losses', 'evaluation'];
export const REJECT_REASONS: readonly RejectReason[] = ['queue_full', 'shutting_down', 'not_ready'];
/** torchvision loss names (docs/losses.md#names); `loss` is their sum. The only values of the `loss` label. */
export const LOSS_NAMES = ['loss_objectness', 'loss_rpn_box_reg', 'loss_classifier', 'loss_box_reg', 'loss_mask', 'loss'] as const;
/** pycocotools stats indices → `iou` label of mrcnn_eval_ap. */
const AP_STATS = [{ index: 0, iou: '0.50:0.95' }, { index: 1, iou: '0.50' }, { index: 2, iou: '0.75' }] as const;
const IOU_TYPES = ['bbox', 'segm'] as const;
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** Values of the `status` label of the evaluation-job metrics. */
const JOB_STATUSES = ['queued', 'running', 'done', 'failed', 'cancelled'] as const;
const JOB_END_STATUSES: readonly string[] = ['done', 'failed', 'cancelled'];
/** Route label for requests that matched no route (404 handler): never the raw URL. */
export const UNMATCHED_ROUTE = 'unmatched';

/** Seconds; from a 1 ms decode to a 5 min evaluation (a 50 ms predict and a 60 s eval both resolve). */
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
/** Dimensionless loss values; Mask R-CNN losses live between ~1e-3 and a few units. */
export const LOSS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What an evaluation records: the part of src/evaluation/summary.ts's summary the metrics read. */
export type EvaluationSummary = Pick<Summary, 'losses' | 'perImageLosses' | 'cocoStats' | 'vocClasses' | 'images' | 'gtInstances' | 'detections'>;

export interface ModelInfo {
  name: string;
  version: string;
  provider: string;
  ortVersion: string;
  /** The model's class list (without background); same effect as `setClasses`. */
  classes?: readonly string[];
}

export interface Metrics {
  observeStage(stage: Stage, seconds: number): void;
  queueDepth(n: number): void;
  inflight(delta: number): void;
  rejected(reason: RejectReason): void;
  setModelInfo(info: ModelInfo): void;
  setModelReady(ready: boolean): void;
  /** The only values the `class` label may take (the model's class names, background excluded). */
  setClasses(names: readonly string[]): void;
  recordEvaluation(summary: EvaluationSummary): void;
  // --- evaluation jobs (src/jobs, src/routes/evaluations.ts) ---
  /** Jobs currently stored, by status (queued|running|done|failed|cancelled; other keys dropped). */
  setJobCounts(counts: Readonly<Record<string, number>>): void;
  /** A job ended with `status` (done|failed|cancelled) after `seconds` from start (or creation). */
  jobFinished(status: string, seconds: number): void;
  // --- end evaluation jobs ---
  // --- dataset history (src/plugins/history.ts) ---
  /**
   * The latest done evaluation of each (registered dataset, model, version): box/mask AP and the
   * loss means. Replaces every dataset series: one left out (a deleted dataset) is removed. Label
   * values are registered dataset names (at most DATASETS_MAX), token names and model names.
   */
  setDatasetLatest(rows: ReadonlyArray<DatasetLatest>): void;
  // --- end dataset history ---
  /** This app's registry (read-only use: tests, custom collectors). */
  readonly registry: Registry;
}

/** One series group of {@link Metrics.setDatasetLatest}. */
export interface DatasetLatest {
  dataset: string;
  /** The dataset's owner (token name; '' when access control is off). */
  owner: string;
  model: string;
  version: string;
  boxAp: number | null;
  maskAp: number | null;
  /** The five losses and `loss` (null values: not finite or not computed). */
  losses: Readonly<Record<string, number | null>> | null;
}

/** What the plugin itself uses on top of `Metrics`: `route` must already be a bounded pattern. */
export interface MetricsRecorder extends Metrics {
  observeHttp(method: string, route: string, statusCode: number, seconds: number): void;
}

export interface MetricsPluginOptions {
  /** Serve the exposition at this path (default `/metrics`); `false` to not register a route. */
  path?: string | false;
  /** Register prom-client's process/runtime metrics (default true). */
  defaultMetrics?: boolean;
  /** Labels of mrcnn_build_info; `version` defaults to package.json's. */
  buildInfo?: { version?: string; revision?: string };
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics;
  }
}

/** package.json `version`, found by walking up from this file (works from src/ and dist/src/). */
function packageVersion(): string {
  let dir = import.meta.dirname;
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: string };
      if (typeof pkg.version === 'string') return pkg.version;
    } catch { /* not here: go up */ }
    dir = dirname(dir);
  }
  return 'unknown';
}

const statusClass = (code: number): string => `${Math.min(5, Math.max(1, Math.floor(code / 100)))}xx`;
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Creates every metric on `registry`. Exported for tests and for scripts that list the names. */
export function createMetrics(registry: Registry, buildInfo: { version: string; revision: string }): MetricsRecorder {
  const registers = [registry];
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Counter<L>({ name, help, labelNames, registers });
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Gauge<L>({ name, help, labelNames, registers });

  gauge('mrcnn_build_info', 'Build metadata of the service; always 1.', ['version', 'revision', 'node_version'])
    .set({ version: buildInfo.version, revision: buildInfo.revision, node_version: process.version }, 1);

  // HTTP (filled by the onResponse hook in the plugin below).
  const httpLabels = ['method', 'route', 'status_class'] as const;
  const httpRequests = counter('mrcnn_http_requests_total', 'HTTP requests by route pattern and status class.', httpLabels);
  const httpDuration = new Histogram({
    name: 'mrcnn_http_request_duration_seconds', help: 'HTTP request duration (arrival to response sent) by route pattern and status class.',
    labelNames: httpLabels, buckets: DURATION_BUCKETS, registers,
  });

  // Pipeline.
  const stageDuration = new Histogram({
    name: 'mrcnn_stage_duration_seconds', help: 'Duration of one pipeline stage for one request.',
    labelNames: ['stage'] as const, buckets: DURATION_BUCKETS, registers,
  });
  for (const stage of STAGES) stageDuration.zero({ stage });
  const queueDepth = gauge('mrcnn_queue_depth', 'Jobs waiting for the inference worker.');
  const inflight = gauge('mrcnn_inflight_requests', 'Requests currently being processed (predict and evaluate).');
  const rejected = counter('mrcnn_rejected_requests_total', 'Requests refused before processing, by reason.', ['reason']);
  for (const reason of REJECT_REASONS) rejected.inc({ reason }, 0);

  // Model.
  const modelInfo = gauge('mrcnn_model_info', 'Loaded model metadata; always 1.', ['name', 'version', 'execution_provider', 'onnxruntime_version']);
  const modelReady = gauge('mrcnn_model_ready', '1 once the model is loaded and warmed up, else 0.');
  modelReady.set(0);
  const modelClasses = gauge('mrcnn_model_classes', 'Number of object classes of the loaded model (background excluded).');

  // Quality: the latest evaluation.
  const lossGauge = gauge('mrcnn_eval_loss', 'Mean loss over the images of the latest evaluation that computed losses.', ['loss']);
  const lossHist = new Histogram({
    name: 'mrcnn_eval_image_loss', help: 'Per-image losses over all evaluated images.',
    labelNames: ['loss'] as const, buckets: LOSS_BUCKETS, registers,
  });
  const ap = gauge('mrcnn_eval_ap', 'COCO AP (maxDets 100, all areas) of the latest evaluation, by IoU type and IoU threshold.', ['iou_type', 'iou']);
  const classAp = gauge('mrcnn_eval_class_ap', 'Per-class VOC AP of the latest evaluation (classes of the model only).', ['class']);
  const classRecall = gauge('mrcnn_eval_class_recall', 'Per-class VOC recall of the latest evaluation (classes of the model only).', ['class']);
  const evaluations = counter('mrcnn_evaluations_total', 'Completed evaluations.');
  const images = counter('mrcnn_eval_images_total', 'Images evaluated.');
  const gtInstances = counter('mrcnn_eval_gt_instances_total', 'Ground-truth instances seen by evaluations.');
  const detections = counter('mrcnn_eval_detections_total', 'Detections scored by evaluations.');
  const lastEval = gauge('mrcnn_eval_last_timestamp_seconds', 'Unix time of the latest completed evaluation.');
  for (const loss of LOSS_NAMES) lossHist.zero({ loss });

  // --- evaluation jobs: labels from JOB_STATUSES only ---
  const datasetLabels = ['dataset', 'owner', 'model', 'version'] as const;
  const datasetAp = gauge('mrcnn_dataset_ap', 'COCO AP@[.5:.95] of the latest done evaluation of a registered dataset by a model version.', [...datasetLabels, 'iou_type']);
  const datasetLoss = gauge('mrcnn_dataset_loss', 'Mean loss of the latest done evaluation of a registered dataset by a model version.', [...datasetLabels, 'loss']);
  const jobsGauge = gauge('mrcnn_eval_jobs', 'Evaluation jobs currently stored, by status.', ['status']);
  for (const status of JOB_STATUSES) jobsGauge.set({ status }, 0);
  const jobsFinished = counter('mrcnn_eval_jobs_finished_total', 'Evaluation jobs that ended, by final status.', ['status']);
  const jobDuration = new Histogram({
    name: 'mrcnn_eval_job_duration_seconds', help: 'Duration of an evaluation job from start to end, by final status.',
    labelNames: ['status'] as const, buckets: [...DURATION_BUCKETS, 600, 1800, 3600, 7200], registers,
  });
  for (const status of JOB_END_STATUSES) {
    jobsFinished.inc({ status }, 0);
    jobDuration.zero({ status });
  }
  // --- end evaluation jobs ---

  let classes = new Set<string>();
  const setClasses = (names: readonly string[]): void => {
    classes = new Set(names.filter((n) => typeof n === 'string' && n.length > 0 && n !== '__background__'));
    modelClasses.set(classes.size);
    classAp.reset();
    classRecall.reset();
  };

  return {
    registry,
    observeStage(stage, seconds) {
      if (STAGES.includes(stage) && isFiniteNumber(seconds) && seconds >= 0) stageDuration.observe({ stage }, seconds);
    },
    queueDepth(n) {
      if (isFiniteNumber(n)) queueDepth.set(Math.max(0, n));
    },
    inflight(delta) {
      if (isFiniteNumber(delta)) inflight.inc(delta);
    },
    rejected(reason) {
      if (REJECT_REASONS.includes(reason)) rejected.inc({ reason });
    },
    setModelInfo(info) {
      modelInfo.reset();
      modelInfo.set({
        name: info.name, version: info.version, execution_provider: info.provider, onnxruntime_version: info.ortVersion,
      }, 1);
      if (info.classes) setClasses(info.classes);
    },
    setModelReady(ready) {
      modelReady.set(ready ? 1 : 0);
    },
    setClasses,
    recordEvaluation(summary) {
      if (summary.losses) {
        for (const loss of LOSS_NAMES) {
          const v = summary.losses[loss];
          if (isFiniteNumber(v)) lossGauge.set({ loss }, v);
          else lossGauge.remove({ loss });
        }
      }
      for (const row of summary.perImageLosses) {
        for (const loss of LOSS_NAMES) {
          const v = row[loss];
          if (isFiniteNumber(v)) lossHist.observe({ loss }, v);
        }
      }
      for (const iouType of IOU_TYPES) {
        const stats = summary.cocoStats[iouType];
        if (!stats) continue; // not computed this time: keep the previous value of that IoU type
        for (const { index, iou } of AP_STATS) {
          const v = stats[index];
          // pycocotools' -1 (no ground truth) arrives as null: no value rather than a fake 0.
          if (isFiniteNumber(v) && v >= 0) ap.set({ iou_type: iouType, iou }, v);
          else ap.remove({ iou_type: iouType, iou });
        }
      }
      classAp.reset();
      classRecall.reset();
      for (const row of summary.vocClasses) {
        if (!classes.has(row.class)) continue; // user-supplied category name: never a label
        if (isFiniteNumber(row.ap)) classAp.set({ class: row.class }, row.ap);
        if (isFiniteNumber(row.recall)) classRecall.set({ class: row.class }, row.recall);
      }
      evaluations.inc();
      if (isFiniteNumber(summary.images) && summary.images > 0) images.inc(summary.images);
      if (isFiniteNumber(summary.gtInstances) && summary.gtInstances > 0) gtInstances.inc(summary.gtInstances);
      if (isFiniteNumber(summary.detections) && summary.detections > 0) detections.inc(summary.detections);
      lastEval.set(Date.now() / 1000);
    },
    setJobCounts(counts) {
      for (const status of JOB_STATUSES) {
        const v = counts[status];
        jobsGauge.set({ status }, isFiniteNumber(v) && v >= 0 ? v : 0);
      }
    },
    jobFinished(status, seconds) {
      if (!JOB_END_STATUSES.includes(status)) return;
      jobsFinished.inc({ status });
      if (isFiniteNumber(seconds) && seconds >= 0) jobDuration.observe({ status }, seconds);
    },
    setDatasetLatest(rows) {
      datasetAp.reset();
      datasetLoss.reset();
      for (const r of rows) {
        const labels = { dataset: r.dataset, owner: r.owner, model: r.model, version: r.version };
        if (isFiniteNumber(r.boxAp)) datasetAp.set({ ...labels, iou_type: 'bbox' }, r.boxAp);
        if (isFiniteNumber(r.maskAp)) datasetAp.set({ ...labels, iou_type: 'segm' }, r.maskAp);
        for (const loss of LOSS_NAMES) {
          const v = r.losses?.[loss];
          if (isFiniteNumber(v)) datasetLoss.set({ ...labels, loss }, v);
          // losses computed but this one not finite (kept as null, src/store/rows.ts): NaN, so the
          // MrcnnDatasetLossNaN alert (`x != x`) sees it
          else if (r.losses && v === null) datasetLoss.set({ ...labels, loss }, NaN);
        }
      }
    },
    observeHttp(method, route, code, seconds) {
      const labels = { method: METHODS.has(method) ? method : 'OTHER', route, status_class: statusClass(code) };
      httpRequests.inc(labels);
      if (isFiniteNumber(seconds) && seconds >= 0) httpDuration.observe(labels, seconds);
    },
  };
}

async function metricsPlugin(app: FastifyInstance, opts: MetricsPluginOptions): Promise<void> {
  const registry = new Registry();
  const metrics = createMetrics(registry, {
    version: opts.buildInfo?.version ?? packageVersion(),
    revision: opts.buildInfo?.revision ?? 'unknown',
  });
  if (opts.defaultMetrics !== false) {
    collectDefaultMetrics({ register: registry });
    // prom-client exposes these sums as gauges named *_total, which `promtool check metrics` flags
    // (the suffix is reserved for counters); sum(nodejs_active_handles) etc. give the same number.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      registry.removeSingleMetric(name);
    }
  }
  app.decorate('metrics', metrics);
  const liveHeap = watchLiveHeap(registry);

  app.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
    // The route *pattern* (e.g. /models/:name), never request.url; 404s share one value.
    const route = request.is404 ? UNMATCHED_ROUTE : (request.routeOptions.url ?? UNMATCHED_ROUTE);
    metrics.observeHttp(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
  });

  const path = opts.path ?? '/metrics';
  if (path !== false) {
    // /metrics needs the scope `metrics` only with METRICS_AUTH=on (src/plugins/auth.ts)
    app.get(path, { config: { scope: app.config?.auth?.metricsAuth ? 'metrics' : 'public' }, schema: { hide: true } }, async (_request, reply) => {
      const body = await registry.metrics();
      return reply.type(registry.contentType).send(body);
    });
  }
  app.addHook('onClose', async () => {
    liveHeap.disconnect();
    registry.clear();
  });
}

/**
 * `mrcnn_heap_live_bytes`: V8 heap used right after the latest major (mark-compact) GC, i.e. the
 * live heap. `nodejs_heap_size_used_bytes` also counts garbage not yet collected, so it saw-tooths
 * by 15-20% between major GCs with no leak at all; the post-GC value is the one whose steady rise
 * means a leak (the soak test and the alert rules use it). 0 until the first major GC.
 */
function watchLiveHeap(registry: Registry): { disconnect(): void } {
  const gauge = new Gauge({
    name: 'mrcnn_heap_live_bytes',
    help: 'V8 heap used right after the latest major (mark-compact) garbage collection: the live heap. A steady rise means a leak.',
    registers: [registry],
  });
  gauge.set(0);
  const obs = new PerformanceObserver((list) => {
    if (list.getEntries().some((e) => (e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)) {
      gauge.set(getHeapStatistics().used_heap_size);
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  return { disconnect: () => obs.disconnect() };
}

export default fp(metricsPlugin, { name: 'metrics', fastify: '5.x' });
