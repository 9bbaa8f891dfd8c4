/**
 * @file The summary of one evaluation (an /evaluate answer or a job's result): the counts, box and
 * mask AP, VOC mAP, the mean and per-image losses. One definition, read by the metrics
 * (`recordEvaluation`), the HTML report's key figures and the CLI's header line.
 */
import { LOSS_KEYS } from '../losses/index.js';
import type { EvaluationResponse } from './response.js';

const LOSS_NAMES = [...LOSS_KEYS, 'loss'] as const;

export interface EvaluationSummary {
  images: number;
  gtInstances: number;
  detections: number;
  /** COCO AP@[.5:.95] of boxes / masks; null when not evaluated or without GT. */
  boxAp: number | null;
  maskAp: number | null;
  /** VOC mAP at `vocIouThr`. */
  vocMap: number;
  vocIouThr: number;
  /** Mean of the five losses + `loss` (LossValues), or null when unavailable. */
  losses: Record<string, number> | null;
  /** Per-image losses (for histograms). */
  perImageLosses: Array<Record<string, number>>;
  /** coco.bbox.stats / coco.segm.stats (12 numbers, null for -1) when computed. */
  cocoStats: { bbox?: Array<number | null>; segm?: Array<number | null> };
  /** VOC per-class rows. */
  vocClasses: Array<{ class: string; ap: number; recall: number }>;
}

/** The summary of an evaluation answer. */
export function summarizeEvaluation(r: EvaluationResponse): EvaluationSummary {
  return {
    images: r.counts.images,
    gtInstances: r.counts.gt_instances,
    detections: r.counts.detections,
    boxAp: r.coco.bbox?.stats[0] ?? null,
    maskAp: r.coco.segm?.stats[0] ?? null,
    vocMap: r.voc.mAP,
    vocIouThr: r.voc.iou_thr,
    losses: r.losses?.mean ?? null,
    perImageLosses: (r.losses?.per_image ?? []).map((row) => Object.fromEntries(LOSS_NAMES.map((k) => [k, row[k]]))),
    cocoStats: { ...(r.coco.bbox ? { bbox: r.coco.bbox.stats } : {}), ...(r.coco.segm ? { segm: r.coco.segm.stats } : {}) },
    vocClasses: r.voc.classes.map((c) => ({ class: c.class, ap: c.ap, recall: c.recall })),
  };
}
