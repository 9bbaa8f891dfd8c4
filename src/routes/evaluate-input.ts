/**
 * @file Inputs of POST /evaluate and POST /evaluations (which takes what /evaluate takes):
 * - {@link evaluateOptions}: the options from the query string, overridden by JSON fields;
 * - {@link detectionsModeBody}: the content-type and empty-body checks of detections mode;
 * - {@link readEvaluateMultipart}: the parts of a model-mode POST /evaluate, images in memory
 *   (src/evaluation/upload.ts reads the parts; src/jobs/upload.ts is the jobs' reader, to temp files).
 * The evaluation itself is src/evaluation/evaluate.ts.
 */
import type { FastifyRequest } from 'fastify';
import { Errors, withField } from '../errors.js';
import type { ModelUpload } from '../evaluation/evaluate.js';
import type { EvaluateOptions } from '../evaluation/response.js';
import { readModelParts, tooLarge, type UploadPart } from '../evaluation/upload.js';
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
export async function readEvaluateMultipart(request: FastifyRequest, limits: UploadLimits): Promise<ModelUpload> {
  const maxImages = limits.maxImages;
  const parts = request.parts({
    limits: { fileSize: limits.totalLimit, fieldSize: limits.totalLimit, files: maxImages + 1, fields: 4, parts: maxImages + 5 },
  }) as AsyncIterable<UploadPart>;
  return readModelParts(parts, {
    maxImages,
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
