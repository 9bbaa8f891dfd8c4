/**
 * @file The answer of an evaluation (POST /evaluate, and a job's result over a whole set): its type
 * ({@link EvaluationResponse}), the losses block with the diagnosis computed once (the report and
 * the CLI read it from here), and the timings block.
 */
import type { EvaluateDetectionsResult, WarningCollector } from '../eval/index.js';
import { diagnose, LOSS_ALIASES, LOSS_KEYS, meanLosses, type ImageLosses, type SamplingMode } from '../losses/index.js';
import type { Timings } from '../pipeline/predict.js';

/** Evaluation options (query string / JSON fields). */
export interface EvaluateOptions {
  iouTypes?: Array<'bbox' | 'segm'>;
  vocMode?: 'area' | '11points';
  vocIouThr?: number;
  lossSampling: SamplingMode;
}

/** The options of the evaluation core (src/eval Evaluation) among `opts`. */
export function evalCoreOptions(opts: EvaluateOptions): Pick<EvaluateOptions, 'iouTypes' | 'vocMode' | 'vocIouThr'> {
  return {
    ...(opts.iouTypes ? { iouTypes: opts.iouTypes } : {}),
    ...(opts.vocMode ? { vocMode: opts.vocMode } : {}),
    ...(opts.vocIouThr !== undefined ? { vocIouThr: opts.vocIouThr } : {}),
  };
}

/** The five losses and their total. */
export type LossValues = Record<(typeof LOSS_KEYS)[number] | 'loss', number>;

/** One image's losses, with what names the image (the per-image records of a model evaluation). */
export type NamedImageLosses = ImageLosses & { file_name: string; image_id: number };

/** The diagnosis block of the answer (src/losses `diagnose`, plus each loss's normalisation). */
export interface DiagnosisBlock {
  definition: string;
  sampling: SamplingMode;
  total: number;
  shares: Record<string, number>;
  flags: Array<{ id: string; loss: string; value: number; threshold: number; message: string }>;
  explanations: Record<string, string>;
  thresholds: Record<string, number>;
  normalisation: Record<string, Record<string, string>>;
}

/** The losses block of the answer. */
export interface LossesBlock {
  sampling: SamplingMode;
  mean: LossValues;
  per_image: Array<{ file_name: string; image_id: number } & LossValues & Record<string, unknown>>;
  aliases: Record<string, { detectron2: string; mmdetection: string; matterport: string }>;
  diagnosis: DiagnosisBlock;
}

/** The /evaluate answer body (model mode and detections mode; timings in ms). */
export interface EvaluationResponse {
  images: number;
  losses: LossesBlock | null;
  losses_unavailable?: string;
  coco: EvaluateDetectionsResult['coco'];
  voc: EvaluateDetectionsResult['voc'];
  warnings: EvaluateDetectionsResult['warnings'];
  counts: { images: number; gt_instances: number; detections: number };
  timings_ms: Record<string, number>;
}

/** Timings summed over the images of one evaluation (ms). */
export type EvaluationTimings = Timings & { losses: number };

/** Fresh {@link EvaluationTimings}. */
export const emptyEvaluationTimings = (): EvaluationTimings => ({ decode: 0, preprocess: 0, inference: 0, postprocess: 0, queue: 0, losses: 0 });

/** The five losses and their total of one image (what the mean and the metrics hold). */
const pickLosses = (l: ImageLosses): LossValues => Object.fromEntries([...LOSS_KEYS, 'loss'].map((key) => [key, l[key as keyof ImageLosses] as number])) as LossValues;

/**
 * The losses block of the answer (mean, per image, aliases, diagnosis), or null when the model gives
 * no losses or no image was evaluated. `maskAp` (COCO segm AP of the same images, when computed)
 * feeds the diagnosis's "high loss_mask with low mask AP" flag.
 */
export function lossesBlock(perImage: readonly NamedImageLosses[], lossReason: string | null, sampling: SamplingMode, maskAp?: number | null): LossesBlock | null {
  if (lossReason !== null || perImage.length === 0) return null;
  const fullMean = meanLosses(perImage);
  const d = diagnose(fullMean, { sampling, ...(typeof maskAp === 'number' ? { maskAp } : {}) });
  return {
    sampling,
    mean: pickLosses(fullMean),
    per_image: perImage.map((l) => ({ file_name: l.file_name, image_id: l.image_id, ...pickLosses(l), mask_dice: l.mask_dice, mask_bce_smooth: l.mask_bce_smooth, counts: l.counts })),
    aliases: Object.fromEntries(LOSS_KEYS.map((key) => [key, { detectron2: LOSS_ALIASES[key].detectron2, mmdetection: LOSS_ALIASES[key].mmdetection, matterport: LOSS_ALIASES[key].matterport }])),
    diagnosis: {
      definition: d.definition, sampling: d.sampling, total: d.total,
      shares: d.shares, flags: d.flags, explanations: d.explanations,
      thresholds: d.thresholds,
      normalisation: Object.fromEntries(LOSS_KEYS.map((key) => [key, LOSS_ALIASES[key].normalisation])),
    },
  };
}

/**
 * The answer body: `warnings` are those found before the evaluation (model mode: images not
 * uploaded), followed by the evaluation's own.
 */
export function evaluationResponse(args: {
  images: number;
  losses: LossesBlock | null;
  lossesUnavailable?: string | null;
  result: EvaluateDetectionsResult;
  warnings?: WarningCollector;
  timings: Record<string, number>;
}): EvaluationResponse {
  const { result } = args;
  return {
    images: args.images,
    losses: args.losses,
    ...(args.lossesUnavailable !== undefined && args.lossesUnavailable !== null ? { losses_unavailable: args.lossesUnavailable } : {}),
    coco: result.coco,
    voc: result.voc,
    warnings: args.warnings ? [...args.warnings.list(), ...result.warnings] : result.warnings,
    counts: { images: result.counts.images, gt_instances: result.counts.gtInstances, detections: result.counts.detections },
    timings_ms: args.timings,
  };
}

/** Timings (ms) with `total` added, each rounded to 0.01 ms: the `timings_ms` block as answered. */
export function roundedTimings(timings: Record<string, number>, totalMs: number): Record<string, number> {
  return Object.fromEntries(Object.entries({ ...timings, total: totalMs }).map(([k, v]) => [k, Math.round(v * 100) / 100]));
}

/** The model-mode timings block (ms): the per-stage sums and the evaluation. */
export function modelTimings(timings: EvaluationTimings, evalMs: number): Record<string, number> {
  return {
    decode: timings.decode, preprocess: timings.preprocess, inference: timings.inference, queue: timings.queue,
    postprocess: timings.postprocess, losses: timings.losses, evaluation: evalMs,
  };
}
