/**
 * STUB (owned by the metrics work): the interface routes use to record metrics.
 * The real implementation creates one prom-client Registry per app and serves GET /metrics.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

export type Stage = 'decode' | 'preprocess' | 'inference' | 'postprocess' | 'losses' | 'evaluation';
export type RejectReason = 'queue_full' | 'shutting_down' | 'not_ready';

export interface EvaluationSummary {
  /** Mean of the five losses + `loss`, or null when unavailable. */
  losses: Record<string, number> | null;
  /** Per-image losses (for histograms). */
  perImageLosses: Array<Record<string, number>>;
  /** coco.bbox.stats / coco.segm.stats (12 numbers, null for -1) when computed. */
  cocoStats: { bbox?: Array<number | null>; segm?: Array<number | null> };
  /** VOC per-class rows. */
  vocClasses: Array<{ class: string; ap: number; recall: number }>;
  images: number;
  gtInstances: number;
  detections: number;
}

export interface Metrics {
  observeStage(stage: Stage, seconds: number): void;
  queueDepth(n: number): void;
  inflight(delta: number): void;
  rejected(reason: RejectReason): void;
  setModelInfo(info: { name: string; version: string; provider: string; ortVersion: string }): void;
  setModelReady(ready: boolean): void;
  recordEvaluation(summary: EvaluationSummary): void;
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics;
  }
}

async function metricsPlugin(app: FastifyInstance): Promise<void> {
  const noop = (): void => {};
  app.decorate('metrics', {
    observeStage: noop, queueDepth: noop, inflight: noop, rejected: noop,
    setModelInfo: noop, setModelReady: noop, recordEvaluation: noop,
  } satisfies Metrics);
}

export default fp(metricsPlugin, { name: 'metrics' });
