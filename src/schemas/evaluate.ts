/**
 * @file POST /evaluate schemas: options (query string, or JSON fields in detections mode), the
 * detections-mode JSON body, and the answer's stable names (docs/service.md#stable-names). The COCO and
 * VOC blocks are described here but produced by src/eval; losses by src/losses (model mode).
 */
import { Type, type Static } from '@sinclair/typebox';

const IouTypes = Type.Union([
  Type.String({ pattern: '^\\s*(bbox|segm)\\s*(,\\s*(bbox|segm)\\s*)?$', description: 'Comma-separated: `bbox,segm`' }),
  Type.Array(Type.Union([Type.Literal('bbox'), Type.Literal('segm')]), { minItems: 1, maxItems: 2 }),
]);
const VocMode = Type.Union([Type.Literal('area'), Type.Literal('11points')]);
const LossSampling = Type.Union([Type.Literal('expected'), Type.Literal('all')]);

/** Query string of POST /evaluate (both modes). */
export const EvaluateQuerySchema = Type.Object({
  iou_types: Type.Optional(Type.String({ pattern: '^\\s*(bbox|segm)\\s*(,\\s*(bbox|segm)\\s*)?$', description: '`bbox`, `segm` or `bbox,segm` (default: both when every annotation and detection has a mask, else bbox)' })),
  voc_mode: Type.Optional(Type.Union([Type.Literal('area'), Type.Literal('11points')], { description: 'VOC AP: `area` under the interpolated PR curve (default) or the 11-point average' })),
  voc_iou_thr: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'IoU threshold of the VOC table (default 0.5)' })),
  loss_sampling: Type.Optional(Type.Union([Type.Literal('expected'), Type.Literal('all')], { description: 'Model mode: `expected` = exact expectation of torchvision\'s random sampler (default); `all` = every labelled anchor/RoI' })),
});
export type EvaluateQuery = Static<typeof EvaluateQuerySchema>;

/** Detections mode body. */
export const EvaluateBodySchema = Type.Object({
  ground_truth: Type.Object({}, { additionalProperties: true, description: 'COCO instances JSON: images, annotations, categories' }),
  detections: Type.Array(Type.Object({}, { additionalProperties: true }), { description: 'COCO results array: image_id, category_id, score, bbox and/or segmentation' }),
  iou_types: Type.Optional(IouTypes),
  voc_mode: Type.Optional(VocMode),
  voc_iou_thr: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
}, { title: 'EvaluateDetectionsRequest' });
export type EvaluateBody = Static<typeof EvaluateBodySchema>;

/** Model-mode request (documentation only: the handler streams the parts; nothing here rejects a body). */
export const EvaluateMultipartSchema = Type.Object({
  image: Type.Optional(Type.Array(Type.String({ contentMediaType: 'application/octet-stream' }), {
    description: 'Required. One or more image files (JPEG, PNG, WebP), matched to `images[].file_name` by file name',
  })),
  annotations: Type.Optional(Type.String({
    contentMediaType: 'application/json',
    description: 'Required. COCO instances JSON (`images`, `annotations`, `categories`), as a text field or a file',
  })),
}, { description: 'Model mode: images + their COCO annotations' });

const Nullable = (t: ReturnType<typeof Type.Number>) => Type.Union([t, Type.Null()]);

const CocoBlockSchema = Type.Object({
  stats: Type.Array(Nullable(Type.Number()), { description: 'pycocotools order: AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl (null where pycocotools gives -1)' }),
  per_category: Type.Array(Type.Object({
    category_id: Type.Integer(), name: Type.String(),
    ap: Nullable(Type.Number()), ap50: Nullable(Type.Number()), ap75: Nullable(Type.Number()),
    aps: Nullable(Type.Number()), apm: Nullable(Type.Number()), apl: Nullable(Type.Number()), ar100: Nullable(Type.Number()),
  })),
});

const VocBlockSchema = Type.Object({
  iou_thr: Type.Number(),
  mode: VocMode,
  classes: Type.Array(Type.Object({
    class: Type.String(), category_id: Type.Integer(), gts: Type.Integer(), dets: Type.Integer(), recall: Type.Number(), ap: Type.Number(),
  })),
  mAP: Type.Number(),
});

const LossValues = Type.Object({
  loss_objectness: Type.Number(), loss_rpn_box_reg: Type.Number(), loss_classifier: Type.Number(),
  loss_box_reg: Type.Number(), loss_mask: Type.Number(), loss: Type.Number({ description: 'Sum of the five' }),
}, { additionalProperties: true });

export const EvaluateResponseSchema = Type.Object({
  images: Type.Integer({ description: 'Images evaluated' }),
  losses: Type.Union([Type.Object({
    sampling: LossSampling,
    mean: LossValues,
    per_image: Type.Array(Type.Object({
      file_name: Type.String(), image_id: Type.Integer(),
      loss_objectness: Type.Number(), loss_rpn_box_reg: Type.Number(), loss_classifier: Type.Number(),
      loss_box_reg: Type.Number(), loss_mask: Type.Number(), loss: Type.Number(),
    }, { additionalProperties: true, description: 'Per image: the five losses, their sum, mask diagnostics and sample counts' })),
    aliases: Type.Record(Type.String(), Type.Record(Type.String(), Type.String())),
    diagnosis: Type.Object({
      definition: Type.String({ description: 'The loss definitions used (torchvision 0.14)' }),
      sampling: LossSampling,
      total: Type.Number({ description: 'Sum of the five mean losses' }),
      shares: Type.Record(Type.String(), Type.Number(), { description: "Each loss's share of the total" }),
      flags: Type.Array(Type.Object({
        id: Type.String(), loss: Type.String(), value: Type.Number(), threshold: Type.Number(),
        message: Type.String({ description: 'What the loss measures and what the flag means' }),
      }), { description: 'What users look for in training logs: mask share < 20% or > 50%, high loss_mask with low mask AP, high RPN losses' }),
      explanations: Type.Record(Type.String(), Type.String(), { description: 'One line per loss: what it measures' }),
      thresholds: Type.Record(Type.String(), Type.Number()),
      normalisation: Type.Record(Type.String(), Type.Record(Type.String(), Type.String()), { description: 'How torchvision, detectron2, mmdetection and Matterport normalise each loss' }),
    }, { description: 'Shares of the total and flags, each with a one-line explanation' }),
  }, { additionalProperties: true }), Type.Null()], { description: 'null in detections mode, or when the model has no loss outputs' }),
  losses_unavailable: Type.Optional(Type.String()),
  coco: Type.Object({ bbox: Type.Optional(CocoBlockSchema), segm: Type.Optional(CocoBlockSchema) }),
  voc: VocBlockSchema,
  warnings: Type.Array(Type.Object({ path: Type.String(), message: Type.String() }, { additionalProperties: true })),
  counts: Type.Object({ images: Type.Integer(), gt_instances: Type.Integer(), detections: Type.Integer() }),
  timings_ms: Type.Record(Type.String(), Type.Number()),
}, {
  title: 'EvaluateResponse',
  description: 'COCO and VOC metrics (and, in model mode, the losses)',
  examples: [{
    images: 1,
    losses: null,
    coco: { bbox: { stats: [0.45, 0.5, 0.5, 0.45, null, null, 0.45, 0.45, 0.45, 0.45, null, null], per_category: [{ category_id: 1, name: 'square', ap: 0.9, ap50: 1, ap75: 1, aps: 0.9, apm: null, apl: null, ar100: 0.9 }] } },
    voc: { iou_thr: 0.5, mode: 'area', classes: [{ class: 'square', category_id: 1, gts: 1, dets: 1, recall: 1, ap: 1 }], mAP: 1 },
    warnings: [],
    counts: { images: 1, gt_instances: 1, detections: 1 },
    timings_ms: { evaluation: 3.2, total: 3.5 },
  }],
});
