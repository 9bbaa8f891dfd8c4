/**
 * @file The drift plugin (docs/drift.md): builds the drift use case (src/drift/service.ts) on the
 * job store, decorates `app.drift`, and exposes what it sees as Prometheus series on the app's
 * registry — histograms and counters of every counted /predict answer, and the PSI gauges, computed
 * at scrape time (prom-client `collect()`): no timer.
 *
 * Cardinality: `model` and `version` come from the loaded model's manifest, `class` from its class
 * list, `feature` from the fixed list of src/drift/stats.ts; nothing from a request.
 *
 * Recording is one call from the predict path: `app.drift.observe(runtime, scoreThreshold, prediction)`.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Prediction } from '../pipeline/predict.js';
import { DriftService } from '../drift/service.js';
import { BUCKETS, FEATURES, SCORE_FLOOR, countedInstances } from '../drift/stats.js';

/** What the predict path hands over: the runtime that answered (its manifest names the model). */
export interface PredictingModel {
  files: { manifest: { name: string; version: string; classes: readonly string[] } };
}

/** `app.drift`. */
export interface DriftHub {
  readonly service: DriftService;
  /** Counts one /predict answer (the request's score_threshold decides whether it can be counted). */
  observe(model: PredictingModel, scoreThreshold: number, prediction: Pick<Prediction, 'image' | 'instances'>): void;
}

declare module 'fastify' {
  interface FastifyInstance {
    drift: DriftHub;
  }
}

export interface DriftPluginOptions {
  /** Images per model version in the current window (default: config DRIFT_WINDOW). */
  window?: number;
  /** Images the window needs before PSI is computed (default: config DRIFT_MIN_IMAGES). */
  minImages?: number;
  clock?: () => number;
}

async function driftPlugin(app: FastifyInstance, opts: DriftPluginOptions): Promise<void> {
  const cfg = app.config.drift;
  const service = new DriftService(app.jobStore.store, {
    window: opts.window ?? cfg.window,
    minImages: opts.minImages ?? cfg.minImages,
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  const registers = [app.metrics.registry];
  const mv = ['model', 'version'] as const;
  const images = new Counter({ name: 'mrcnn_drift_images_total', help: `/predict answers counted for drift (requests with score_threshold <= ${SCORE_FLOOR}).`, labelNames: mv, registers });
  const detections = new Counter({ name: 'mrcnn_drift_detections_total', help: `Detections with score >= ${SCORE_FLOOR} of counted /predict answers, by class (the class mix).`, labelNames: [...mv, 'class'] as const, registers });
  const score = new Histogram({ name: 'mrcnn_drift_detection_score', help: `Score of each detection (>= ${SCORE_FLOOR}) of counted /predict answers.`, labelNames: mv, buckets: [...BUCKETS.score], registers });
  const perImage = new Histogram({ name: 'mrcnn_drift_detections_per_image', help: `Detections (score >= ${SCORE_FLOOR}) per counted /predict answer.`, labelNames: mv, buckets: [...BUCKETS.detections_per_image], registers });
  const maskArea = new Histogram({ name: 'mrcnn_drift_mask_area_ratio', help: 'Mask area of each counted detection as a fraction of the image area.', labelNames: mv, buckets: [...BUCKETS.mask_area], registers });
  const imageSize = new Histogram({ name: 'mrcnn_drift_image_pixels', help: 'Pixels (width x height) of each counted /predict image.', labelNames: mv, buckets: [...BUCKETS.image_size], registers });
  new Gauge({
    name: 'mrcnn_drift_psi', help: 'Population stability index of the current window against the pinned reference, by feature (docs/drift.md); absent without a reference or before DRIFT_MIN_IMAGES images.',
    labelNames: [...mv, 'feature'] as const, registers,
    async collect() {
      this.reset();
      for (const s of await service.psiSnapshot()) {
        for (const f of FEATURES) {
          const v = s.psi[f];
          if (v !== null) this.set({ model: s.model, version: s.version, feature: f }, v);
        }
      }
    },
  });
  new Gauge({
    name: 'mrcnn_drift_window_images', help: 'Images in the current drift window, by model version.', labelNames: mv, registers,
    collect() {
      this.reset();
      for (const m of service.collector.models()) this.set({ model: m.name, version: m.version }, service.collector.window(m.name, m.version)?.images ?? 0);
    },
  });
  new Gauge({
    name: 'mrcnn_drift_reference_images', help: 'Images the pinned drift reference was made of, by model version (absent: no reference).', labelNames: mv, registers,
    async collect() {
      this.reset();
      for (const s of await service.psiSnapshot()) if (s.referenceImages !== null) this.set({ model: s.model, version: s.version }, s.referenceImages);
    },
  });

  const hub: DriftHub = {
    service,
    observe(model, scoreThreshold, prediction) {
      const m = model.files.manifest;
      const key = { name: m.name, version: m.version, classes: m.classes };
      try {
        if (!service.observe(key, { width: prediction.image.width, height: prediction.image.height, instances: prediction.instances }, scoreThreshold)) return;
      } catch (err) {
        app.log.warn({ err }, 'drift: prediction not counted');
        return;
      }
      const labels = { model: m.name, version: m.version };
      const counted = countedInstances(prediction.instances);
      const known = new Set(m.classes);
      const pixels = prediction.image.width * prediction.image.height;
      images.inc(labels);
      perImage.observe(labels, counted.length);
      imageSize.observe(labels, pixels);
      for (const i of counted) {
        score.observe(labels, i.score);
        if (known.has(i.label)) detections.inc({ ...labels, class: i.label });
        if (pixels > 0 && Number.isFinite(i.area)) maskArea.observe(labels, i.area / pixels);
      }
    },
  };
  app.decorate('drift', hub);
}

export default fp(driftPlugin, { name: 'drift', dependencies: ['metrics'], fastify: '5.x' });
