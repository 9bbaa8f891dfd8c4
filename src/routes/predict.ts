/**
 * @file ① POST /predict: one image in (multipart field `image`, or a raw image/jpeg|png|webp body),
 * instances out (JSON), or the annotated image with `Accept: image/png`.
 * Thin: parse the upload → the default model's runtime (`app.models.get()`: decode → session →
 * postprocess) → reply.
 * Timings are also sent as a `Server-Timing` header.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Errors, withField } from '../errors.js';
import { IMAGE_MIME_TYPES } from '../pipeline/decode.js';
import { errorResponses } from '../schemas/common.js';
import { modelRoute, type ModelParams, type ModelRouteOptions } from './model-target.js';
import { PredictBodyContent, PredictQuerySchema, PredictResponseSchema, type PredictQuery, type PredictResponse } from '../schemas/predict.js';

/** The upload and the input path errors should name. */
interface Upload {
  bytes: Buffer;
  field: string;
}

/** Reads exactly one multipart file field `image`; anything else is a 400 naming the field. */
async function readMultipart(request: FastifyRequest, limit: number): Promise<Upload> {
  let bytes: Buffer | null = null;
  const parts = request.parts({ limits: { fileSize: limit, files: 2, fields: 8, parts: 16 } });
  for await (const part of parts) {
    if (part.fieldname !== 'image') {
      throw withField(new Errors.MULTIPART(`unexpected multipart field "${part.fieldname}": send the image as the one file field "image"`), part.fieldname);
    }
    if (part.type !== 'file') throw withField(new Errors.MULTIPART('field "image" must be a file, not a text value'), 'image');
    if (bytes) throw withField(new Errors.MULTIPART('field "image" is repeated: send exactly one image'), 'image');
    bytes = await part.toBuffer();
  }
  if (!bytes) throw withField(new Errors.MULTIPART('missing file field "image"'), 'image');
  return { bytes, field: 'image' };
}

/** Registers POST /predict and the raw image body parsers it needs (scoped to this plugin). */
export default async function predictRoutes(app: FastifyInstance, opts: ModelRouteOptions = {}): Promise<void> {
  const at = modelRoute(opts); // /predict, /models/:name/predict, /models/:name/versions/:version/predict
  const limit = app.config.bodyLimit;
  app.addContentTypeParser(Object.keys(IMAGE_MIME_TYPES), { parseAs: 'buffer', bodyLimit: limit }, (_req, body, done) => {
    done(null, body);
  });

  app.post<{ Querystring: PredictQuery; Body: unknown; Params: ModelParams }>('/predict', {
    config: { scope: 'inference' },
    bodyLimit: limit,
    schema: {
      tags: ['inference'],
      summary: 'Detect and segment instances in one image',
      description: 'Send `multipart/form-data` with one file field `image`, or the image itself as the body with '
        + '`Content-Type: image/jpeg | image/png | image/webp`. EXIF orientation is applied; coordinates are in the '
        + 'pixels of the image as displayed. `Accept: image/png` returns the image with masks, boxes, labels and scores drawn.',
      operationId: at.operationId('predict'),
      ...at.schema,
      querystring: PredictQuerySchema,
      body: { content: PredictBodyContent },
      response: {
        200: {
          description: PredictResponseSchema.description,
          content: {
            'application/json': { schema: PredictResponseSchema },
            'image/png': { schema: { type: 'string', contentMediaType: 'image/png', description: 'The image with masks, boxes, labels and scores drawn (`Accept: image/png`)' } },
          },
        },
        ...errorResponses(400, 404, 413, 415, 422, 500, 503),
      },
    },
    // Multipart parts are streamed by the handler; an empty object lets the documentation-only body schema pass.
    preValidation: async (request) => {
      if (request.isMultipart()) request.body = {};
    },
  }, async (request, reply) => {
    const t0 = performance.now();
    const upload = await getUpload(request, limit);
    const wantsPng = /\bimage\/png\b/i.test(request.headers.accept ?? '');
    const q = request.query;
    // Admission before decoding: when the pool is full the request is refused (503 + Retry-After)
    // without spending CPU on an image that could not be run. The upload is read first so a slow
    // client never holds a place.
    const lease = at.acquire(app.models, request.params); // held until answered: unloading the version waits for it
    const model = lease.runtime;
    let reservation;
    let result;
    try {
      reservation = model.reserve();
      result = await model.predict(upload.bytes, {
        scoreThreshold: q.score_threshold,
        maxDetections: q.max_detections,
        maskFormat: wantsPng ? 'none' : q.mask_format,
        render: wantsPng,
        field: upload.field,
        reservation,
      });
    } finally {
      reservation?.release();
      lease.release();
    }
    app.drift.observe(model, q.score_threshold, result); // drift without labels (docs/drift.md)
    const t = result.timings;
    reply.header('server-timing', (['decode', 'preprocess', 'inference', 'postprocess'] as const)
      .map((k) => `${k};dur=${t[k].toFixed(1)}`).join(', '));
    if (wantsPng && result.png) {
      reply.header('x-instances', String(result.instances.length));
      return reply.type('image/png').send(result.png);
    }
    const m = model.files.manifest;
    const body: PredictResponse = {
      model: { name: m.name, version: m.version },
      image: result.image,
      instances: result.instances,
      timings_ms: {
        decode: round(t.decode), preprocess: round(t.preprocess), inference: round(t.inference),
        postprocess: round(t.postprocess), queue: round(t.queue), total: round(performance.now() - t0),
      },
    };
    return body;
  });
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/** The image bytes from a multipart upload or a raw body. */
async function getUpload(request: FastifyRequest, limit: number): Promise<Upload> {
  if (request.isMultipart()) return readMultipart(request, limit);
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === '' && (request.body === undefined || request.body === null)) {
    throw withField(new Errors.EMPTY_BODY('send an image as multipart field "image" or as the raw body'), 'body');
  }
  if (!(type in IMAGE_MIME_TYPES) || !Buffer.isBuffer(request.body)) {
    throw withField(new Errors.UNSUPPORTED_MEDIA_TYPE(`${type || '(none)'}: use multipart/form-data or image/jpeg, image/png, image/webp`), 'headers.content-type');
  }
  return { bytes: request.body, field: 'body' };
}
