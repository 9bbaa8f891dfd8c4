/**
 * @file TypeBox schemas of the datasets, history and comparison routes (src/routes/datasets.ts,
 * src/routes/history.ts): registered datasets and their schedules, the history of evaluations with
 * their summaries, series over time for a (dataset, model), the paired-bootstrap comparison of two
 * evaluations and the diagnosis flags. Names are snake_case like the rest of the API; times are ISO
 * 8601 strings; every number that may be undefined (no GT, no losses) is `null`, never absent.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Time = Type.String({ format: 'date-time' });
const ID = '3f2b8c1e-7d4a-4e8b-9a51-0c6f2d9e1b7a';
const DS = '0b7f6d2a-1c3e-4f5a-8b9c-2d4e6f8a0b1c';
const ID2 = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const Uuid = (description: string) => Type.String({ pattern: '^[0-9a-fA-F-]{36}$', description, examples: [ID] });

/** The five losses and their sum, as means over the images. */
export const LOSS_NAMES = ['loss_objectness', 'loss_rpn_box_reg', 'loss_classifier', 'loss_box_reg', 'loss_mask', 'loss'] as const;
export type LossName = (typeof LOSS_NAMES)[number];

const N = () => Nullable(Type.Number());
const LossesSchema = Type.Object({
  loss_objectness: N(), loss_rpn_box_reg: N(), loss_classifier: N(), loss_box_reg: N(), loss_mask: N(), loss: N(),
}, {
  description: 'Means over the images of the five losses and their sum `loss` (null when the model gives no losses)',
});

const ApTriple = Type.Object({
  ap: Nullable(Type.Number({ description: 'COCO AP@[.5:.95]' })),
  ap50: Nullable(Type.Number({ description: 'AP at IoU 0.5' })),
  ap75: Nullable(Type.Number({ description: 'AP at IoU 0.75' })),
}, { description: 'COCO AP of one IoU type (null: not evaluated, or no GT)' });

const EXAMPLE_SUMMARY = {
  id: ID, status: 'done' as const, mode: 'model' as const,
  created_at: '2026-11-30T03:00:00.000Z', started_at: '2026-11-30T03:00:00.020Z', finished_at: '2026-11-30T03:00:21.400Z',
  model: { name: 'shapes-maskrcnn', version: '1.1.0', sha256: '5f1c0e9a2b7d4c3e8f6a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a' },
  dataset: { id: DS, name: 'shapes-golden' }, trigger: 'schedule', images: 17,
  losses: { loss_objectness: 0.0021, loss_rpn_box_reg: 0.0034, loss_classifier: 0.041, loss_box_reg: 0.052, loss_mask: 0.11, loss: 0.2085 },
  box: { ap: 0.91, ap50: 0.99, ap75: 0.97 }, mask: { ap: 0.88, ap50: 0.99, ap75: 0.95 },
  links: { self: `/evaluations/${ID}`, report: `/evaluations/${ID}/report` },
};
const EXAMPLE_DELTA = { base: 0.91, other: 0.87, delta: -0.04, ci_low: -0.071, ci_high: -0.012, resamples: 1000, verdict: 'worse' as const };
const EXAMPLE_DATASET = {
  id: DS, name: 'shapes-golden', images: 17, bytes: 61234, annotations: 29,
  categories: [{ id: 1, name: 'square' }, { id: 2, name: 'circle' }, { id: 3, name: 'triangle' }],
  created_at: '2026-11-29T12:00:00.000Z', evaluations: 12, baseline_evaluation_id: ID,
  schedule: {
    cron: '0 3 * * *', model: 'shapes-maskrcnn', version: null, auto: true, next_run_at: '2026-12-01T03:00:00.000Z', last_run_at: '2026-11-30T03:00:00.004Z',
    last_evaluation_id: ID, last_error: null,
  },
  links: { self: `/datasets/${DS}`, evaluations: `/evaluations?dataset_id=${DS}`, series: `/evaluations/series?dataset_id=${DS}` },
};

// ---------------------------------------------------------------- datasets

export const DatasetParamsSchema = Type.Object({ id: Uuid('Dataset id (UUID) returned by POST /datasets') });
export type DatasetParams = Static<typeof DatasetParamsSchema>;

/** Multipart body of POST /datasets (documentation only: the handler streams the parts). */
export const DatasetMultipartSchema = Type.Object({
  name: Type.Optional(Type.String({ description: 'Required. 1-64 characters `[A-Za-z0-9._-]`, unique per owner (it becomes a Prometheus label value)' })),
  image: Type.Optional(Type.Array(Type.String({ contentMediaType: 'application/octet-stream' }), { description: 'Required. The image files, matched to `annotations.images[].file_name`' })),
  annotations: Type.Optional(Type.String({ contentMediaType: 'application/json', description: 'Required. COCO instances JSON (text field or file)' })),
  cron: Type.Optional(Type.String({ description: 'Optional schedule (5 or 6 fields cron expression, UTC)' })),
  model: Type.Optional(Type.String({ description: 'Model of the scheduled / automatic evaluations (default: the default model)' })),
  version: Type.Optional(Type.String({ description: 'Version pinned for scheduled evaluations (default: the model\'s default version at each run)' })),
  auto: Type.Optional(Type.String({ enum: ['true', 'false'], description: 'Evaluate automatically when a version of `model` (any model when absent) is loaded or becomes the default' })),
}, { description: 'A golden dataset: name, images and their COCO annotations (checked like POST /evaluate model mode)' });

export const ScheduleSchema = Type.Object({
  cron: Nullable(Type.String({ description: 'Cron expression (UTC), or null: no timed runs', examples: ['0 3 * * *'] })),
  model: Nullable(Type.String({ description: 'Model evaluated (null: the default model at each run)' })),
  version: Nullable(Type.String({ description: 'Version evaluated (null: the model\'s default version at each run)' })),
  auto: Type.Boolean({ description: 'Evaluate when a version of `model` (any model when null) is loaded or becomes the default' }),
  next_run_at: Nullable(Time),
  last_run_at: Nullable(Time),
  last_evaluation_id: Nullable(Type.String()),
  last_error: Nullable(Type.String({ description: 'Why the last firing did not start an evaluation' })),
}, { title: 'DatasetSchedule' });
export type ScheduleView = Static<typeof ScheduleSchema>;

const DatasetLinks = Type.Object({
  self: Type.String(), evaluations: Type.String({ description: 'GET: this dataset\'s history' }), series: Type.String({ description: 'GET: losses and AP over time' }),
});

export const DatasetCreatedSchema = Type.Object({
  id: Type.String(), name: Type.String(), images: Type.Integer({ minimum: 1 }), links: DatasetLinks,
}, { title: 'DatasetCreated', description: 'The dataset is stored: evaluate it with POST /evaluations {"dataset_id"}', examples: [{ id: DS, name: 'shapes-golden', images: 17, links: { self: `/datasets/${DS}`, evaluations: `/evaluations?dataset_id=${DS}`, series: `/evaluations/series?dataset_id=${DS}` } }] });

export const DatasetSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  images: Type.Integer({ minimum: 0 }),
  bytes: Type.Integer({ minimum: 0, description: 'Total size of the image files' }),
  annotations: Type.Integer({ minimum: 0, description: 'Annotations (instances) of the images' }),
  categories: Type.Array(Type.Object({ id: Type.Integer(), name: Type.String() })),
  created_at: Time,
  evaluations: Type.Integer({ minimum: 0, description: 'Evaluations of this dataset kept in the history' }),
  baseline_evaluation_id: Nullable(Type.String({ description: 'Pinned baseline: AP drops are measured against it' })),
  schedule: ScheduleSchema,
  links: DatasetLinks,
}, { title: 'Dataset', description: 'A registered dataset: counts, categories, schedule, pinned baseline', examples: [EXAMPLE_DATASET] });
export type DatasetView = Static<typeof DatasetSchema>;

export const DatasetListQuerySchema = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50, description: 'Page size' })),
  cursor: Type.Optional(Type.String({ maxLength: 200, description: '`next_cursor` of the previous page' })),
});
export type DatasetListQuery = Static<typeof DatasetListQuerySchema>;

export const DatasetListSchema = Type.Object({
  datasets: Type.Array(DatasetSchema),
  next_cursor: Nullable(Type.String()),
}, { title: 'DatasetList', description: 'The caller\'s datasets, newest first', examples: [{ datasets: [EXAMPLE_DATASET], next_cursor: null }] });

export const ScheduleBodySchema = Type.Object({
  cron: Type.Optional(Nullable(Type.String({ maxLength: 120, description: 'Cron expression (UTC; 5 fields, or 6 with seconds); null removes the timed runs' }))),
  model: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
  version: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
  auto: Type.Optional(Type.Boolean()),
}, { title: 'DatasetScheduleRequest', additionalProperties: false, examples: [{ cron: '0 3 * * *', model: 'shapes-maskrcnn', auto: true }] });
export type ScheduleBody = Static<typeof ScheduleBodySchema>;

export const BaselineBodySchema = Type.Object({
  evaluation_id: Nullable(Uuid('A done evaluation of this dataset; null unpins')),
}, { title: 'DatasetBaselineRequest', additionalProperties: false });
export type BaselineBody = Static<typeof BaselineBodySchema>;

// ---------------------------------------------------------------- dataset evaluations (POST /evaluations JSON)

export const DatasetEvaluationBodySchema = Type.Object({
  dataset_id: Uuid('A dataset of the caller (POST /datasets)'),
  model: Type.Optional(Type.String({ maxLength: 200, description: 'Default: the default model (or the model of the route)' })),
  version: Type.Optional(Type.String({ maxLength: 200, description: 'Default: the model\'s default version' })),
}, { title: 'DatasetEvaluationRequest', examples: [{ dataset_id: DS, model: 'shapes-maskrcnn' }] });
export type DatasetEvaluationBody = Static<typeof DatasetEvaluationBodySchema>;

// ---------------------------------------------------------------- history

export const HistoryQuerySchema = Type.Object({
  model: Type.Optional(Type.String({ maxLength: 200, description: 'Only evaluations of this model (its manifest name, or the folder name of a served model)' })),
  version: Type.Optional(Type.String({ maxLength: 200, description: 'Only evaluations of this model version' })),
  dataset_id: Type.Optional(Uuid('Only evaluations of this dataset')),
  status: Type.Optional(Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('done'), Type.Literal('failed'), Type.Literal('cancelled')], { description: 'Only evaluations in this status' })),
  since: Type.Optional(Type.String({ format: 'date-time', description: 'Created at or after (ISO 8601)' })),
  until: Type.Optional(Type.String({ format: 'date-time', description: 'Created before (ISO 8601)' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50, description: 'Page size' })),
  cursor: Type.Optional(Type.String({ maxLength: 200, description: '`next_cursor` of the previous page' })),
});
export type HistoryQuery = Static<typeof HistoryQuerySchema>;

export const EvaluationSummarySchema = Type.Object({
  id: Type.String(),
  status: Type.Union(['queued', 'running', 'done', 'failed', 'cancelled'].map((s) => Type.Literal(s))),
  mode: Type.Union([Type.Literal('model'), Type.Literal('detections')]),
  created_at: Time,
  started_at: Nullable(Time),
  finished_at: Nullable(Time),
  model: Type.Object({ name: Nullable(Type.String()), version: Nullable(Type.String()), sha256: Nullable(Type.String()) }),
  dataset: Nullable(Type.Object({ id: Type.String(), name: Nullable(Type.String({ description: 'null once the dataset is deleted' })) })),
  trigger: Nullable(Type.String({ description: 'What started a dataset evaluation: `manual`, `schedule`, `model_loaded`, `default_changed`, `canary` (null: an uploaded job)' })),
  images: Type.Integer({ minimum: 0 }),
  losses: Nullable(LossesSchema),
  box: ApTriple,
  mask: ApTriple,
  links: Type.Object({ self: Type.String(), report: Type.String() }),
}, { title: 'EvaluationSummary', examples: [EXAMPLE_SUMMARY] });
export type EvaluationSummaryView = Static<typeof EvaluationSummarySchema>;

export const HistorySchema = Type.Object({
  evaluations: Type.Array(EvaluationSummarySchema, { description: 'Newest first' }),
  next_cursor: Nullable(Type.String()),
}, { title: 'EvaluationHistory', description: 'One page of evaluations, newest first, with their summaries', examples: [{ evaluations: [EXAMPLE_SUMMARY], next_cursor: null }] });

// ---------------------------------------------------------------- diagnosis over time

export const TrendFlagSchema = Type.Object({
  code: Type.Union(['loss_rising', 'loss_jump', 'loss_nan', 'mask_share', 'ap_drop', 'class_drop'].map((s) => Type.Literal(s))),
  severity: Type.Union([Type.Literal('warning'), Type.Literal('critical')]),
  evaluation_id: Type.String({ description: 'The evaluation where the flag is raised (the latest of a trend)' }),
  metric: Type.String({ description: 'What is flagged: a loss name, `box_ap`, `mask_ap`, or `box_ap:<class>`' }),
  class: Nullable(Type.String()),
  value: Nullable(Type.Number()),
  reference: Nullable(Type.Number({ description: 'What the value is compared with (previous value, baseline, bound)' })),
  message: Type.String({ description: 'One line: what is seen and what it usually means' }),
}, { title: 'TrendFlag' });
export type TrendFlagView = Static<typeof TrendFlagSchema>;

export const SeriesQuerySchema = Type.Object({
  dataset_id: Uuid('The dataset'),
  model: Type.Optional(Type.String({ maxLength: 200, description: 'Only this model (default: every model)' })),
  version: Type.Optional(Type.String({ maxLength: 200, description: 'Only this model version' })),
  since: Type.Optional(Type.String({ format: 'date-time', description: 'Created at or after (ISO 8601)' })),
  until: Type.Optional(Type.String({ format: 'date-time', description: 'Created before (ISO 8601)' })),
  limit: Type.Optional(Type.Integer({ minimum: 2, maximum: 1000, default: 100, description: 'The latest `limit` done evaluations' })),
});
export type SeriesQuery = Static<typeof SeriesQuerySchema>;

const ClassPoint = Type.Object({
  category_id: Type.Integer(), name: Type.String(), box_ap: Nullable(Type.Number()), mask_ap: Nullable(Type.Number()),
});

export const SeriesPointSchema = Type.Object({
  id: Type.String(),
  created_at: Time,
  finished_at: Nullable(Time),
  model: Type.Object({ name: Nullable(Type.String()), version: Nullable(Type.String()), sha256: Nullable(Type.String()) }),
  losses: Nullable(LossesSchema),
  box: ApTriple,
  mask: ApTriple,
  classes: Type.Array(ClassPoint),
}, { title: 'SeriesPoint' });
export type SeriesPointView = Static<typeof SeriesPointSchema>;

export const SeriesSchema = Type.Object({
  dataset: Type.Object({ id: Type.String(), name: Type.String() }),
  model: Nullable(Type.String()),
  baseline_evaluation_id: Nullable(Type.String()),
  points: Type.Array(SeriesPointSchema, { description: 'Done evaluations, oldest first' }),
  flags: Type.Array(TrendFlagSchema),
}, {
  title: 'EvaluationSeries',
  description: 'Done evaluations of a dataset oldest first, with per-class AP, and the diagnosis of the latest',
  examples: [{
    dataset: { id: DS, name: 'shapes-golden' }, model: 'shapes-maskrcnn', baseline_evaluation_id: ID,
    points: [{ id: ID, created_at: '2026-11-30T03:00:00.000Z', finished_at: '2026-11-30T03:00:21.400Z', model: EXAMPLE_SUMMARY.model,
      losses: EXAMPLE_SUMMARY.losses, box: EXAMPLE_SUMMARY.box, mask: EXAMPLE_SUMMARY.mask,
      classes: [{ category_id: 1, name: 'square', box_ap: 0.93, mask_ap: 0.9 }, { category_id: 2, name: 'circle', box_ap: 0.88, mask_ap: 0.86 }] }],
    flags: [{ code: 'mask_share', severity: 'warning', evaluation_id: ID, metric: 'loss_mask', class: null, value: 0.54, reference: 0.5,
      message: 'loss_mask is 54% of the total (> 50%): the mask head lags the detector.' }],
  }],
});

// ---------------------------------------------------------------- comparison

export const CompareParamsSchema = Type.Object({ id: Uuid('Base evaluation'), other_id: Uuid('Evaluation compared with the base') });
export type CompareParams = Static<typeof CompareParamsSchema>;

export const CompareQuerySchema = Type.Object({
  resamples: Type.Optional(Type.Integer({ minimum: 1000, maximum: 20000, default: 1000, description: 'Bootstrap resamples' })),
  seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 4294967295, default: 1, description: 'Seed of the resampling (same seed, same intervals)' })),
  confidence: Type.Optional(Type.Number({ minimum: 0.5, maximum: 0.999, default: 0.95, description: 'Level of the two-sided percentile intervals' })),
  curves: Type.Optional(Type.Boolean({ default: true, description: 'Include the PR curves' })),
});
export type CompareQuery = Static<typeof CompareQuerySchema>;

const Verdict = Type.Union([Type.Literal('better'), Type.Literal('worse'), Type.Literal('no_evidence')], {
  description: '`better`/`worse`: the interval excludes 0 on that side (for losses, lower is better); else `no_evidence`',
});

export const DeltaSchema = Type.Object({
  base: Nullable(Type.Number()),
  other: Nullable(Type.Number()),
  delta: Nullable(Type.Number({ description: 'other − base on all images' })),
  ci_low: Nullable(Type.Number()),
  ci_high: Nullable(Type.Number()),
  resamples: Type.Integer({ minimum: 0, description: 'Resamples where both values are defined (the class has GT in the resample)' }),
  verdict: Verdict,
}, { title: 'Delta' });
export type DeltaView = Static<typeof DeltaSchema>;

const IouBlock = Type.Object({
  overall: Type.Object({ ap: DeltaSchema, ap50: DeltaSchema }),
  classes: Type.Array(Type.Object({
    category_id: Type.Integer(), name: Type.String(), gts: Type.Integer({ minimum: 0 }), ap: DeltaSchema, ap50: DeltaSchema, verdict: Verdict,
  })),
});

const Curve = Type.Array(Nullable(Type.Number()), { description: 'Precision at the 101 recall thresholds 0, 0.01, …, 1 (null: no GT)' });
const CurvePair = Type.Object({ iou_mean: Curve, iou_50: Curve }, { description: '`iou_mean`: averaged over IoU 0.5:0.95; `iou_50`: at IoU 0.5' });
const CurvesOfOne = Type.Object({
  overall: CurvePair,
  classes: Type.Array(Type.Object({ category_id: Type.Integer(), name: Type.String(), curves: CurvePair })),
});

export const ComparisonSchema = Type.Object({
  base: EvaluationSummarySchema,
  other: EvaluationSummarySchema,
  dataset: Type.Object({ id: Type.String(), name: Nullable(Type.String()) }),
  bootstrap: Type.Object({
    method: Type.Literal('paired_percentile'),
    images: Type.Integer({ minimum: 0, description: 'Images resampled (those of both evaluations)' }),
    resamples: Type.Integer(),
    seed: Type.Integer(),
    confidence: Type.Number(),
  }),
  iou_types: Type.Object({ bbox: Type.Optional(IouBlock), segm: Type.Optional(IouBlock) }),
  losses: Nullable(Type.Object({
    loss_objectness: DeltaSchema, loss_rpn_box_reg: DeltaSchema, loss_classifier: DeltaSchema, loss_box_reg: DeltaSchema, loss_mask: DeltaSchema, loss: DeltaSchema,
  }, { description: 'Mean losses, other − base, with the same paired resampling (lower is better)' })),
  pr_curves: Nullable(Type.Object({
    recall: Type.Array(Type.Number(), { description: 'The 101 recall thresholds' }),
    bbox: Type.Optional(Type.Object({ base: CurvesOfOne, other: CurvesOfOne })),
    segm: Type.Optional(Type.Object({ base: CurvesOfOne, other: CurvesOfOne })),
  })),
  flags: Type.Array(TrendFlagSchema, { description: 'Diagnosis of `other` against `base` (as if base were the pinned baseline)' }),
}, {
  title: 'EvaluationComparison',
  description: 'Deltas other − base with paired-bootstrap intervals, verdicts, both PR curves, and the diagnosis',
  examples: [{
    base: EXAMPLE_SUMMARY, other: { ...EXAMPLE_SUMMARY, id: ID2 }, dataset: { id: DS, name: 'shapes-golden' },
    bootstrap: { method: 'paired_percentile', images: 17, resamples: 1000, seed: 1, confidence: 0.95 },
    iou_types: {
      bbox: {
        overall: { ap: EXAMPLE_DELTA, ap50: { ...EXAMPLE_DELTA, base: 0.99, other: 0.98, delta: -0.01, ci_low: -0.03, ci_high: 0 } },
        classes: [{ category_id: 1, name: 'square', gts: 12, ap: EXAMPLE_DELTA, ap50: EXAMPLE_DELTA, verdict: 'no_evidence' }],
      },
    },
    losses: null,
    pr_curves: null,
    flags: [],
  }],
});
export type ComparisonView = Static<typeof ComparisonSchema>;
