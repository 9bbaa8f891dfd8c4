/**
 * @file TypeBox schemas of the drift routes (src/routes/drift.ts, docs/drift.md): the histograms
 * per feature, a pinned reference and the comparison GET /drift answers.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Time = Type.String({ format: 'date-time' });

const Histogram = Type.Object({
  bins: Type.Array(Type.String(), { description: 'Class names (class_mix), or the upper edges of the bins (`le`, as in Prometheus; the last is `+Inf`)' }),
  counts: Type.Array(Type.Integer({ minimum: 0 })),
});

export const HistogramsSchema = Type.Object({
  class_mix: Histogram,
  score: Histogram,
  detections_per_image: Histogram,
  mask_area: Histogram,
  image_size: Histogram,
}, { description: 'Per feature: class of each detection, its score, detections per image, mask area / image area, image pixels. Detections count with score ≥ the score floor.' });

const PerFeature = <T extends TSchema>(t: T, description: string) => Type.Object({
  class_mix: t, score: t, detections_per_image: t, mask_area: t, image_size: t,
}, { description });

export const ReferenceSourceSchema = Type.Union([
  Type.Object({
    kind: Type.Literal('live'),
    last: Type.Union([Type.Integer(), Type.Null()], { description: 'Pinned the last N predictions (null: not limited by count)' }),
    window_seconds: Type.Union([Type.Integer(), Type.Null()], { description: 'Pinned the predictions of the last T seconds (null: not limited by time)' }),
    from: Nullable(Time), to: Nullable(Time),
  }),
  Type.Object({
    kind: Type.Literal('evaluation'),
    evaluation_id: Type.String(),
    dataset_id: Nullable(Type.String()),
    mode: Type.String({ description: '`model`: the model\'s predictions on the set; `detections`: uploaded detections' }),
    finished_at: Nullable(Time),
  }),
]);

/** Example histograms (OpenAPI examples). */
const EXAMPLE_HISTOGRAMS = {
  class_mix: { bins: ['square', 'circle', 'triangle'], counts: [412, 398, 377] },
  score: { bins: ['0.6', '0.7', '0.8', '0.9', '0.95', '+Inf'], counts: [21, 35, 60, 140, 301, 630] },
  detections_per_image: { bins: ['0', '1', '2', '4', '8', '16', '+Inf'], counts: [3, 40, 101, 150, 6, 0, 0] },
  mask_area: { bins: ['0.01', '0.05', '0.1', '0.25', '+Inf'], counts: [80, 610, 402, 95, 0] },
  image_size: { bins: ['16384', '65536', '262144', '409600', '1048576', '2073600', '4194304', '16777216', '+Inf'], counts: [0, 300, 0, 0, 0, 0, 0, 0, 0] },
};

export const DriftReferenceSchema = Type.Object({
  model: Type.String(), version: Type.String(),
  source: ReferenceSourceSchema,
  images: Type.Integer({ minimum: 0 }),
  created_at: Time,
  histograms: HistogramsSchema,
}, {
  title: 'DriftReference',
  description: 'The pinned reference of a model version: where it came from and its histograms',
  examples: [{
    model: 'shapes-maskrcnn', version: '1.1.0',
    source: { kind: 'live', last: null, window_seconds: 3600, from: '2026-11-30T01:00:00.000Z', to: '2026-11-30T02:00:00.000Z' },
    images: 300, created_at: '2026-11-30T02:00:01.000Z', histograms: EXAMPLE_HISTOGRAMS,
  }],
});

const Level = Type.Union([Type.Literal('none'), Type.Literal('warning'), Type.Literal('critical'), Type.Null()]);

export const DriftReportSchema = Type.Object({
  model: Type.String({ description: 'Manifest name of the model' }),
  version: Type.String(),
  classes: Type.Array(Type.String()),
  score_floor: Type.Number({ description: 'Detections below this score are not counted; requests with a higher score_threshold are not counted' }),
  min_images: Type.Integer({ description: 'PSI is computed once the window holds this many images (DRIFT_MIN_IMAGES)' }),
  current: Type.Object({
    images: Type.Integer({ minimum: 0, description: 'Images in the window' }),
    capacity: Type.Integer({ description: 'DRIFT_WINDOW: the newest images kept' }),
    observed: Type.Integer({ minimum: 0, description: 'Predictions counted since the process started' }),
    from: Nullable(Time), to: Nullable(Time),
    histograms: HistogramsSchema,
  }, { description: 'The newest predictions of this process' }),
  reference: Type.Union([DriftReferenceSchema, Type.Null()]),
  psi: PerFeature(Type.Union([Type.Number(), Type.Null()]), 'PSI of the current window against the reference (null: no reference, an empty side, or fewer than min_images images)'),
  level: PerFeature(Level, '`none` below 0.1, `warning` from 0.1, `critical` above 0.25'),
}, {
  title: 'DriftReport',
  description: 'The current window of /predict answers against the pinned reference: histograms, PSI and level per feature',
  examples: [{
    model: 'shapes-maskrcnn', version: '1.1.0', classes: ['square', 'circle', 'triangle'], score_floor: 0.5, min_images: 50,
    current: { images: 300, capacity: 1000, observed: 1200, from: '2026-11-30T02:00:00.000Z', to: '2026-11-30T03:00:00.000Z', histograms: EXAMPLE_HISTOGRAMS },
    reference: null,
    psi: { class_mix: null, score: null, detections_per_image: null, mask_area: null, image_size: null },
    level: { class_mix: null, score: null, detections_per_image: null, mask_area: null, image_size: null },
  }],
});

export const DriftQuerySchema = Type.Object({
  model: Type.Optional(Type.String({ maxLength: 200, description: 'Model (manifest or repository name; default: the default model)' })),
  version: Type.Optional(Type.String({ maxLength: 200, description: 'Version (default: the model\'s default version)' })),
});
export type DriftQuery = Static<typeof DriftQuerySchema>;

export const PinBodySchema = Type.Object({
  model: Type.Optional(Type.String({ maxLength: 200 })),
  version: Type.Optional(Type.String({ maxLength: 200 })),
  last: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Live: pin the last N predictions of the window' })),
  window: Type.Optional(Type.String({ pattern: '^[0-9]{1,7}(s|m|h|d)$', description: 'Live: pin the predictions of the last `30m`, `2h`, `1d`…', examples: ['1h'] })),
  evaluation_id: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F-]{36}$', description: 'Golden set: pin the detections of this finished evaluation' })),
  dataset_id: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F-]{36}$', description: 'Golden set: pin the detections of the newest finished evaluation of this dataset by the model version' })),
}, {
  title: 'DriftReferenceRequest', additionalProperties: false,
  description: 'Neither `evaluation_id` nor `dataset_id`: the reference is the live window (all of it, or `last` and/or `window`).',
  examples: [{ model: 'shapes-maskrcnn', window: '1h' }, { evaluation_id: '3f2b8c1e-7d4a-4e8b-9a51-0c6f2d9e1b7a' }],
});
export type PinBody = Static<typeof PinBodySchema>;
