/**
 * @file Inputs of POST /evaluate and POST /evaluations (which takes what /evaluate takes):
 * - {@link evaluateOptions}: the options from the query string, overridden by JSON fields;
 * - {@link detectionsModeBody}: the content-type and empty-body checks of detections mode;
 * - {@link readModelParts}: the multipart reading of model mode, one or more `image` files and
 *   exactly one `annotations` (COCO instances JSON) as a text field or a file. Each endpoint says
 *   where an image goes ({@link readEvaluateMultipart}: in memory, for POST /evaluate;
 *   src/jobs/upload.ts: a temp file) and its limits. Every problem is a 4xx naming the part
 *   (`image[2]`, `annotations`, the unexpected field name).
 * The evaluation itself is src/pipeline/evaluate-model.ts.
 */
import type { MultipartFile } from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import { Errors, withField } from '../errors.js';
import type { EvaluateOptions, EvaluateUpload } from '../pipeline/evaluate-model.js';
import type { EvaluateBody, EvaluateQuery } from '../schemas/evaluate.js';

/** `bbox,segm` / ['bbox'] → ['bbox', 'segm'] (undefined = the eval core's default). */
function iouTypes(v: string | string[] | undefined): Array<'bbox' | 'segm'> | undefined {
  if (v === undefined) return undefined;
  const list = (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  return list as Array<'bbox' | 'segm'>;
}

/** Options of one evaluation from the query string, overridden by JSON fields (detections mode). */
export function evaluateOptions(q: EvaluateQuery, body?: Partial<EvaluateBody>): EvaluateOptions {
  const types = iouTypes(body?.iou_types ?? q.iou_types);
  const vocMode = body?.voc_mode ?? q.voc_mode;
  const vocIouThr = body?.voc_iou_thr ?? q.voc_iou_thr;
  return {
    ...(types ? { iouTypes: types } : {}),
    ...(vocMode ? { vocMode } : {}),
    ...(vocIouThr !== undefined ? { vocIouThr } : {}),
    lossSampling: q.loss_sampling ?? 'expected',
  };
}

/**
 * The JSON body of a detections-mode request.
 * @throws MRC_ERR_UNSUPPORTED_MEDIA_TYPE (415) for a content type other than JSON,
 *   MRC_ERR_EMPTY_BODY (400) without a body.
 */
export function detectionsModeBody(request: FastifyRequest<{ Body: EvaluateBody | undefined }>): EvaluateBody {
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== '' && type !== 'application/json') {
    throw withField(new Errors.UNSUPPORTED_MEDIA_TYPE(`${type}: use application/json (detections mode) or multipart/form-data (model mode)`), 'headers.content-type');
  }
  const body = request.body;
  if (body === undefined || body === null) {
    throw withField(new Errors.EMPTY_BODY('send COCO JSON {ground_truth, detections} or multipart images + annotations'), 'body');
  }
  return body;
}

/** A 413 naming the part. */
export const tooLarge = (message: string, field: string): Error => withField(new Errors.PAYLOAD_TOO_LARGE(message), field);

/** How an endpoint reads the parts of a model-mode request. */
export interface ModelPartsSpec<I> {
  /** Busboy limits: bytes of one file part, of one text field. */
  fileSize: number;
  fieldSize: number;
  /** Images per request, and the variable that sets it (named in the 413 message). */
  maxImages: number;
  maxImagesVar: string;
  /** All parts together, and its variable. */
  totalLimit: number;
  totalVar: string;
  /** Bytes of `annotations` (EVAL_BODY_LIMIT). */
  annotationsLimit: number;
  /**
   * Reads one `image` file part (`field` is `image[i]`); `count(n)` adds n bytes to the total of
   * all parts (and throws 413 beyond it).
   */
  readImage(part: MultipartFile, field: string, count: (n: number) => void): Promise<I>;
}

/**
 * Reads the parts of a model-mode request: the images (as `spec.readImage` returns them) and the
 * parsed `annotations`.
 * @throws MRC_ERR_MULTIPART (400) for missing/repeated/unexpected parts, MRC_ERR_INVALID_JSON (400),
 *   MRC_ERR_PAYLOAD_TOO_LARGE (413) beyond the limits.
 */
export async function readModelParts<I>(request: FastifyRequest, spec: ModelPartsSpec<I>): Promise<{ images: I[]; annotations: unknown }> {
  const images: I[] = [];
  let annotationsText: string | null = null;
  let total = 0;
  const count = (n: number, field: string): void => {
    total += n;
    if (total > spec.totalLimit) throw tooLarge(`all parts together exceed ${spec.totalLimit} bytes (${spec.totalVar})`, field);
  };
  const parts = request.parts({
    limits: {
      fileSize: spec.fileSize,
      fieldSize: spec.fieldSize,
      files: spec.maxImages + 1,
      fields: 4,
      parts: spec.maxImages + 5,
    },
  });
  for await (const part of parts) {
    if (part.fieldname === 'image') {
      const field = `image[${images.length}]`;
      if (part.type !== 'file') throw withField(new Errors.MULTIPART('"image" parts must be files'), field);
      if (images.length >= spec.maxImages) throw tooLarge(`more than ${spec.maxImages} images (${spec.maxImagesVar})`, field);
      images.push(await spec.readImage(part, field, (n) => count(n, field)));
    } else if (part.fieldname === 'annotations') {
      if (annotationsText !== null) throw withField(new Errors.MULTIPART('"annotations" is repeated: send one COCO JSON'), 'annotations');
      const exceeds = `"annotations" exceeds ${spec.annotationsLimit} bytes (EVAL_BODY_LIMIT)`;
      if (part.type === 'file') {
        const buf = await part.toBuffer();
        if (buf.length > spec.annotationsLimit) throw tooLarge(exceeds, 'annotations');
        count(buf.length, 'annotations');
        annotationsText = buf.toString('utf8');
      } else {
        if (part.valueTruncated) throw tooLarge(exceeds, 'annotations');
        annotationsText = typeof part.value === 'string' ? part.value : JSON.stringify(part.value);
        count(Buffer.byteLength(annotationsText), 'annotations');
      }
    } else {
      throw withField(new Errors.MULTIPART(`unexpected multipart field "${part.fieldname}": send "image" files and one "annotations"`), part.fieldname);
    }
  }
  if (annotationsText === null) throw withField(new Errors.MULTIPART('missing "annotations" (COCO instances JSON, as a field or a file)'), 'annotations');
  if (images.length === 0) throw withField(new Errors.MULTIPART('missing "image" files: send at least one'), 'image');
  let annotations: unknown;
  try {
    annotations = JSON.parse(annotationsText);
  } catch (err) {
    throw withField(new Errors.INVALID_JSON(`"annotations": ${(err as Error).message}`), 'annotations');
  }
  return { images, annotations };
}

/** Limits of one POST /evaluate model-mode upload. */
export interface UploadLimits {
  /** All parts together (EVAL_BODY_LIMIT). */
  totalLimit: number;
  /** One image (BODY_LIMIT). */
  fileLimit: number;
  /** Images per request (EVAL_MAX_IMAGES). */
  maxImages: number;
}

/**
 * Reads the parts of a POST /evaluate model-mode request, images in memory. EVAL_MAX_IMAGES,
 * BODY_LIMIT per image, EVAL_BODY_LIMIT for all parts together.
 */
export async function readEvaluateMultipart(request: FastifyRequest, limits: UploadLimits): Promise<EvaluateUpload> {
  return readModelParts(request, {
    fileSize: limits.totalLimit,
    fieldSize: limits.totalLimit,
    maxImages: limits.maxImages,
    maxImagesVar: 'EVAL_MAX_IMAGES',
    totalLimit: limits.totalLimit,
    totalVar: 'EVAL_BODY_LIMIT',
    // a file part cannot exceed it (fileSize), so only a truncated text field meets this check
    annotationsLimit: limits.totalLimit,
    readImage: async (part, field, count) => {
      const bytes = await part.toBuffer();
      if (bytes.length > limits.fileLimit) throw tooLarge(`image "${part.filename}" has more than ${limits.fileLimit} bytes (BODY_LIMIT)`, field);
      count(bytes.length);
      return { fileName: part.filename, bytes, field };
    },
  });
}
