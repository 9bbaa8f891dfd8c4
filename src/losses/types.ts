/**
 * Types of the loss core (src/losses): the ONNX graph outputs it consumes, the manifest's
 * `loss_constants`, the ground truth of one image and the per-image result.
 *
 * Everything here is plain data over typed arrays; see docs/architecture.md for the graph
 * contract and /src/losses/README.md for the semantics (torchvision 0.14).
 */

/** One named graph output as onnxruntime returns it: flat row-major data plus its dims. */
export interface GraphTensor {
  data: Float32Array | BigInt64Array | Int32Array;
  dims: readonly number[];
}

/** Names of the loss-contract outputs this module reads. */
export const LOSS_OUTPUT_NAMES = [
  'image_size', 'padded_size', 'anchors', 'rpn_objectness', 'rpn_box_deltas', 'proposals', 'rois',
  'roi_class_logits', 'roi_box_deltas', 'mask_roi_inds', 'mask_logits',
] as const;

/**
 * The loss-capable graph's outputs (batch 1). Extra outputs (det_*) may be present and are ignored.
 * `anchors` is optional: when absent they are regenerated from the constants and `padded_size`.
 */
export interface LossGraphOutputs {
  /** i64 [2] resized (h', w'). */
  image_size: GraphTensor;
  /** i64 [2] padded (Hp, Wp), multiples of `size_divisible`. */
  padded_size: GraphTensor;
  /** f32 [A,4] resized frame, level-major / y / x / ratio order. */
  anchors?: GraphTensor;
  /** f32 [A] logits. */
  rpn_objectness: GraphTensor;
  /** f32 [A,4] (dx,dy,dw,dh), RPN weights. */
  rpn_box_deltas: GraphTensor;
  /** f32 [P,4] post-NMS proposals. */
  proposals: GraphTensor;
  /** f32 [P+G,4] proposals followed by the graph's scaled GT. */
  rois: GraphTensor;
  /** f32 [R,C] class logits (C includes background 0). */
  roi_class_logits: GraphTensor;
  /** f32 [R,4C] class-major box deltas. */
  roi_box_deltas: GraphTensor;
  /** i64 [M] ascending indices of RoIs with max IoU >= fg threshold. */
  mask_roi_inds: GraphTensor;
  /** f32 [M,C,S,S] mask logits, S = mask_size. */
  mask_logits: GraphTensor;
  [name: string]: GraphTensor | undefined;
}

/** The manifest's `loss_constants` block (models/<name>/manifest.json). */
export interface LossConstants {
  loss_contract_version: number;
  /** C, including background. */
  num_classes: number;
  min_size: number;
  max_size: number;
  size_divisible: number;
  /** One anchor size per pyramid level (P2..P6). */
  anchor_sizes: readonly number[];
  /** Aspect ratios h/w, e.g. [0.5, 1, 2]. */
  aspect_ratios: readonly number[];
  rpn_fg_iou: number;
  rpn_bg_iou: number;
  rpn_batch_size_per_image: number;
  rpn_positive_fraction: number;
  box_fg_iou: number;
  box_bg_iou: number;
  box_batch_size_per_image: number;
  box_positive_fraction: number;
  rpn_reg_weights: readonly number[];
  bbox_reg_weights: readonly number[];
  smooth_l1_beta: number;
  mask_size: number;
  roialign_aligned: boolean;
  [key: string]: unknown;
}

/** Ground truth of one image, at original resolution. */
export interface LossGroundTruth {
  /** f32 [G*4] xyxy in original pixels. */
  boxes: Float32Array;
  /** [G] class index 1..C-1. */
  labels: Int32Array;
  /** G masks, each H*W row-major 0/1. */
  masks: Uint8Array[];
  height: number;
  width: number;
}

/** `expected`: exact expectation of torchvision's stock random sampler; `all`: every labelled element. */
export type SamplingMode = 'expected' | 'all';

/** Labelled-element counts (before any sampling). */
export interface LossCounts {
  anchors_pos: number;
  anchors_neg: number;
  rois_fg: number;
  rois_bg: number;
}

/** The five torchvision losses of one image, their sum, and two mask diagnostics. */
export interface ImageLosses {
  loss_objectness: number;
  loss_rpn_box_reg: number;
  loss_classifier: number;
  loss_box_reg: number;
  loss_mask: number;
  /** Sum of the five. */
  loss: number;
  /** Soft Dice loss of sigmoid(mask logits) vs the soft targets (DETR form, smooth 1), mean over fg RoIs. */
  mask_dice: number;
  /** BCE-with-logits against label-smoothed targets t(1-0.05)+0.025, mean over fg RoIs x S x S. */
  mask_bce_smooth: number;
  counts: LossCounts;
}

/** The five loss keys, in torchvision's order. */
export const LOSS_KEYS = [
  'loss_objectness', 'loss_rpn_box_reg', 'loss_classifier', 'loss_box_reg', 'loss_mask',
] as const;
export type LossKey = (typeof LOSS_KEYS)[number];
