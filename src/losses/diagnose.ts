/**
 * Averaging of per-image losses, a diagnosis of the loss mix (shares and flags users read training
 * logs for) and the name mapping torchvision -> detectron2 / mmdetection / Matterport with how each
 * framework normalises differently (docs/losses.md#names). The numbers are always torchvision's definition.
 */
import { InputError } from '../eval/errors.js';
import { LOSS_KEYS, type ImageLosses, type LossKey, type SamplingMode } from './types.js';

/** Mean of per-image losses; `counts` are totals over the images. */
export interface MeanLosses extends ImageLosses {
  images: number;
}

/** Average the per-image values (what the service reports); zeros with images = 0 for an empty list. */
export function meanLosses(perImage: readonly ImageLosses[]): MeanLosses {
  const n = perImage.length;
  const keys = [...LOSS_KEYS, 'loss', 'mask_dice', 'mask_bce_smooth'] as const;
  const m: MeanLosses = {
    loss_objectness: 0, loss_rpn_box_reg: 0, loss_classifier: 0, loss_box_reg: 0, loss_mask: 0, loss: 0,
    mask_dice: 0, mask_bce_smooth: 0, counts: { anchors_pos: 0, anchors_neg: 0, rois_fg: 0, rois_bg: 0 }, images: n,
  };
  for (const l of perImage) {
    for (const k of keys) m[k] += l[k] / n;
    m.counts.anchors_pos += l.counts.anchors_pos;
    m.counts.anchors_neg += l.counts.anchors_neg;
    m.counts.rois_fg += l.counts.rois_fg;
    m.counts.rois_bg += l.counts.rois_bg;
  }
  return m;
}

/** Framework names of one loss and how each normalises it. */
export interface LossAlias {
  torchvision: string;
  detectron2: string;
  mmdetection: string;
  matterport: string;
  /** What the loss measures. */
  measures: string;
  /** One line per framework: how the value is normalised. */
  normalisation: { torchvision: string; detectron2: string; mmdetection: string; matterport: string };
}

/** torchvision loss names -> other frameworks' names and normalisations. */
export const LOSS_ALIASES: Readonly<Record<LossKey, LossAlias>> = {
  loss_objectness: {
    torchvision: 'loss_objectness', detectron2: 'loss_rpn_cls', mmdetection: 'loss_rpn_cls', matterport: 'rpn_class_loss',
    measures: 'RPN: how well each anchor is scored object vs background (sigmoid BCE).',
    normalisation: {
      torchvision: 'sigmoid BCE, mean over the <=256 sampled anchors per image',
      detectron2: 'sigmoid BCE summed / (256 x images), a fixed normaliser',
      mmdetection: 'sigmoid BCE summed / #sampled anchors (avg_factor), as torchvision',
      matterport: '2-way softmax CE, mean over the non-neutral anchors of the 256-anchor target set',
    },
  },
  loss_rpn_box_reg: {
    torchvision: 'loss_rpn_box_reg', detectron2: 'loss_rpn_loc', mmdetection: 'loss_rpn_bbox', matterport: 'rpn_bbox_loss',
    measures: 'RPN: how far the positive anchors\' box deltas are from the deltas that reach their GT box.',
    normalisation: {
      torchvision: 'smooth L1 (beta 1/9) summed over positives / #sampled anchors (positives + negatives)',
      detectron2: 'pure L1 (SMOOTH_L1_BETA 0) summed / (256 x images)',
      mmdetection: 'L1 summed over positives / #sampled anchors',
      matterport: 'smooth L1 (beta 1) on targets / (0.1,0.1,0.2,0.2), mean over positives x 4',
    },
  },
  loss_classifier: {
    torchvision: 'loss_classifier', detectron2: 'loss_cls', mmdetection: 'loss_cls', matterport: 'mrcnn_class_loss',
    measures: 'Box head: softmax cross-entropy of each sampled RoI\'s class (background included).',
    normalisation: {
      torchvision: 'softmax CE, mean over the <=512 sampled RoIs per image',
      detectron2: 'softmax CE, mean over the sampled RoIs (as torchvision)',
      mmdetection: 'softmax CE, mean over the sampled RoIs (as torchvision)',
      matterport: 'mean over all TRAIN_ROIS_PER_IMAGE slots incl. zero padding, weighted by active-class flags',
    },
  },
  loss_box_reg: {
    torchvision: 'loss_box_reg', detectron2: 'loss_box_reg', mmdetection: 'loss_bbox', matterport: 'mrcnn_bbox_loss',
    measures: 'Box head: how far the GT-class box deltas of fg RoIs are from their GT box (weights 10,10,5,5).',
    normalisation: {
      torchvision: 'smooth L1 (beta 1/9) on GT-class deltas summed over fg / #sampled RoIs',
      detectron2: 'L1 (beta 0), same weights, / max(#sampled, 1)',
      mmdetection: 'L1 with target_stds (0.1,0.1,0.2,0.2) summed over fg / #sampled RoIs',
      matterport: 'smooth L1 (beta 1) on (dy,dx,log dh,log dw)/BBOX_STD_DEV, mean over fg x 4',
    },
  },
  loss_mask: {
    torchvision: 'loss_mask', detectron2: 'loss_mask', mmdetection: 'loss_mask', matterport: 'mrcnn_mask_loss',
    measures: 'Mask head: per-pixel BCE of the GT-class 28x28 mask logits of fg RoIs against the GT mask cropped to the RoI.',
    normalisation: {
      torchvision: 'mean over fg RoIs x 28 x 28; targets RoIAlign(aligned=False, adaptive) kept soft (not binarised)',
      detectron2: 'mean over fg RoIs x 28 x 28; targets RoIAlign(aligned=True) binarised >= 0.5',
      mmdetection: 'mean over fg RoIs x 28 x 28; targets RoIAlign(aligned=True) binarised >= 0.5',
      matterport: 'mean over fg RoIs x 28 x 28; crop_and_resize + round targets, BCE on eps-clipped probabilities',
    },
  },
};

/**
 * Documented thresholds (stock `expected` definition = the values training logs print).
 * Shares are of the five-loss total. Mask AP is COCO mask AP@[.5:.95] in [0,1].
 */
export const DIAGNOSIS_THRESHOLDS = {
  maskShareLow: 0.2,
  maskShareHigh: 0.5,
  /** loss_mask this high with mask AP below maskApLow: the mask head is not learning usable masks. */
  maskLossHigh: 0.35,
  maskApLow: 0.25,
  /** ln 2 = 0.693 is what an all-zero-logit (untrained) mask head scores. */
  maskLossChance: 0.6,
  objectnessHigh: 0.1,
  rpnBoxRegHigh: 0.15,
} as const;

/** One diagnosis flag. */
export interface DiagnosisFlag {
  id: 'mask_share_low' | 'mask_share_high' | 'mask_loss_high_low_ap' | 'mask_loss_near_chance'
    | 'rpn_objectness_high' | 'rpn_box_reg_high' | 'thresholds_not_applicable';
  loss: LossKey | 'loss';
  value: number;
  threshold: number;
  /** What the loss measures and what the flag means, one line. */
  message: string;
}

/** Options of diagnose. */
export interface DiagnoseOptions {
  /** COCO mask AP in [0,1] of the same images. */
  maskAp?: number;
  /** How the losses were computed (default `expected`); thresholds are calibrated for `expected`. */
  sampling?: SamplingMode;
}

/** Result of diagnose. */
export interface Diagnosis {
  definition: 'torchvision 0.14';
  sampling: SamplingMode;
  total: number;
  /** Each loss / total (0 when total is 0). */
  shares: Record<LossKey, number>;
  explanations: Record<LossKey, string>;
  flags: DiagnosisFlag[];
  thresholds: typeof DIAGNOSIS_THRESHOLDS;
  aliases: typeof LOSS_ALIASES;
}

/** Shares of the total and the flags (see DIAGNOSIS_THRESHOLDS; src/losses/README.md). */
export function diagnose(mean: ImageLosses, opts: DiagnoseOptions = {}): Diagnosis {
  const T = DIAGNOSIS_THRESHOLDS;
  const sampling = opts.sampling ?? 'expected';
  if (opts.maskAp !== undefined && !(opts.maskAp >= 0 && opts.maskAp <= 1)) {
    throw new InputError('mask_ap', `mask AP must be in [0, 1], got ${opts.maskAp}`);
  }
  const total = LOSS_KEYS.reduce((s, k) => s + mean[k], 0);
  const shares = {} as Record<LossKey, number>;
  const explanations = {} as Record<LossKey, string>;
  for (const k of LOSS_KEYS) {
    shares[k] = total > 0 ? mean[k] / total : 0;
    explanations[k] = LOSS_ALIASES[k].measures;
  }
  const flags: DiagnosisFlag[] = [];
  const add = (f: DiagnosisFlag): void => void flags.push(f);
  if (sampling === 'all') {
    add({ id: 'thresholds_not_applicable', loss: 'loss', value: total, threshold: 0,
      message: 'sampling "all" divides by every labelled anchor/RoI, so values are far below training-log values; flags are calibrated for "expected" and were skipped.' });
  } else if (total > 0) {
    const ms = shares.loss_mask;
    if (ms < T.maskShareLow) {
      add({ id: 'mask_share_low', loss: 'loss_mask', value: ms, threshold: T.maskShareLow,
        message: 'loss_mask is < 20% of the total: the detection losses (RPN/box) dominate, so box quality, not mask quality, is the bottleneck (or the mask head converged early).' });
    }
    if (ms > T.maskShareHigh) {
      add({ id: 'mask_share_high', loss: 'loss_mask', value: ms, threshold: T.maskShareHigh,
        message: 'loss_mask is > 50% of the total: the mask head lags the detector (too few fg RoIs, too coarse masks, or too low mask-head learning rate).' });
    }
    if (mean.loss_mask >= T.maskLossChance) {
      add({ id: 'mask_loss_near_chance', loss: 'loss_mask', value: mean.loss_mask, threshold: T.maskLossChance,
        message: 'loss_mask is near ln 2 = 0.693, what an untrained mask head scores: the mask head has barely learned anything.' });
    }
    if (opts.maskAp !== undefined && mean.loss_mask >= T.maskLossHigh && opts.maskAp < T.maskApLow) {
      add({ id: 'mask_loss_high_low_ap', loss: 'loss_mask', value: mean.loss_mask, threshold: T.maskLossHigh,
        message: `high loss_mask with mask AP ${opts.maskAp.toFixed(3)} < ${T.maskApLow}: per-pixel mask BCE is poor and it shows in AP; check mask annotations (alignment, polygon vs RLE) and mask-head training.` });
    }
    if (mean.loss_objectness > T.objectnessHigh) {
      add({ id: 'rpn_objectness_high', loss: 'loss_objectness', value: mean.loss_objectness, threshold: T.objectnessHigh,
        message: 'loss_objectness > 0.1: the RPN still confuses objects and background; proposals will miss objects (check anchor sizes vs object sizes).' });
    }
    if (mean.loss_rpn_box_reg > T.rpnBoxRegHigh) {
      add({ id: 'rpn_box_reg_high', loss: 'loss_rpn_box_reg', value: mean.loss_rpn_box_reg, threshold: T.rpnBoxRegHigh,
        message: 'loss_rpn_box_reg > 0.15: anchors are poorly refined towards their GT; anchor sizes/ratios may not fit the objects.' });
    }
  }
  return { definition: 'torchvision 0.14', sampling, total, shares, explanations, flags, thresholds: T, aliases: LOSS_ALIASES };
}
