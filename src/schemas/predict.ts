/**
 * @file POST /predict schemas: query options, the JSON answer (the stable names of
 * docs/service.md#stable-names plus `label` per instance and `timings_ms.preprocess/queue/total`), and
 * the PNG alternative.
 */
import { Type, type Static } from '@sinclair/typebox';

/** Query string of POST /predict. */
export const PredictQuerySchema = Type.Object({
  score_threshold: Type.Optional(Type.Number({ minimum: 0, maximum: 1, default: 0.5, description: 'Keep detections with score >= this (0..1)' })),
  max_detections: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100, description: 'At most this many instances, best first (1..1000)' })),
  mask_format: Type.Optional(Type.Union([Type.Literal('rle'), Type.Literal('polygon'), Type.Literal('none')], {
    default: 'rle',
    description: '`rle`: pycocotools compressed RLE; `polygon`: COCO polygons (outer boundaries, pixel-corner coordinates, holes filled); `none`: no masks',
  })),
});
/** The query after validation: Ajv has applied the defaults. */
export type PredictQuery = Required<Static<typeof PredictQuerySchema>>;

/**
 * Request bodies, for the documentation: the handler streams multipart parts itself and receives raw
 * images as Buffers, so these schemas never reject a body (no `required`, no string type on raw bodies).
 */
export const PredictBodyContent = {
  'multipart/form-data': {
    schema: Type.Object({
      image: Type.Optional(Type.String({ contentMediaType: 'application/octet-stream', description: 'Required. The image file (JPEG, PNG or WebP); exactly one part named `image`' })),
    }, { description: 'One file part `image`' }),
  },
  'image/jpeg': { schema: { description: 'The JPEG bytes', contentMediaType: 'image/jpeg' } },
  'image/png': { schema: { description: 'The PNG bytes', contentMediaType: 'image/png' } },
  'image/webp': { schema: { description: 'The WebP bytes', contentMediaType: 'image/webp' } },
};

/** pycocotools compressed RLE: `pycocotools.mask.decode` reads it. */
export const RleSchema = Type.Object({
  size: Type.Tuple([Type.Integer(), Type.Integer()], { description: '[height, width]' }),
  counts: Type.String({ description: 'Compressed RLE string, byte-identical to pycocotools mask.encode' }),
}, { title: 'CocoRle' });

export const InstanceSchema = Type.Object({
  category_id: Type.Integer({ minimum: 1, description: 'Category id (1-based index into the model classes)' }),
  label: Type.String({ description: 'Class name' }),
  score: Type.Number(),
  bbox: Type.Tuple([Type.Number(), Type.Number(), Type.Number(), Type.Number()], { description: 'COCO [x, y, width, height] in image pixels (EXIF orientation applied)' }),
  area: Type.Number({ description: 'Mask pixel count (box area when the model has no masks)' }),
  segmentation: Type.Optional(Type.Union([
    RleSchema,
    Type.Array(Type.Array(Type.Number()), { description: 'COCO polygons [[x0, y0, x1, y1, ...], ...]' }),
  ])),
}, { title: 'Instance' });

export const PredictResponseSchema = Type.Object({
  model: Type.Object({ name: Type.String(), version: Type.String() }),
  image: Type.Object({ width: Type.Integer(), height: Type.Integer(), format: Type.String() }),
  instances: Type.Array(InstanceSchema),
  timings_ms: Type.Object({
    decode: Type.Number(),
    preprocess: Type.Number(),
    inference: Type.Number({ description: 'session.run() in the inference worker' }),
    postprocess: Type.Number({ description: 'threshold, mask pasting, RLE/polygons (and PNG rendering)' }),
    queue: Type.Number({ description: 'Waiting for a free inference worker' }),
    total: Type.Number({ description: 'Whole request handler' }),
  }),
}, {
  title: 'PredictResponse',
  description: 'Detected instances (JSON), or the annotated image with `Accept: image/png`',
  examples: [{
    model: { name: 'shapes-maskrcnn', version: '1.0.0' },
    image: { width: 320, height: 240, format: 'png' },
    instances: [{
      category_id: 1, label: 'square', score: 0.98, bbox: [60.2, 59.8, 80.1, 60.3], area: 4800,
      segmentation: { size: [240, 320], counts: 'Wa`0h1X5000000000000000000000000000000000O1N2M3L4K5J6I7H8Gkaa1' },
    }],
    timings_ms: { decode: 1.2, preprocess: 0.4, inference: 95.3, postprocess: 2.1, queue: 0, total: 99.8 },
  }],
});
export type PredictResponse = Static<typeof PredictResponseSchema>;
