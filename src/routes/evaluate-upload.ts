/**
 * @file Multipart reading for the model mode of POST /evaluate: one or more `image` files and
 * exactly one `annotations` (COCO instances JSON) given as a text field or a file. Enforces
 * EVAL_MAX_IMAGES, BODY_LIMIT per image and EVAL_BODY_LIMIT for all parts together; every problem
 * is a 4xx naming the part (`image[2]`, `annotations`, the unexpected field name).
 * Used by src/routes/evaluate.ts; the evaluation itself is src/pipeline/evaluate-model.ts.
 */
import type { FastifyRequest } from 'fastify';
import { Errors, withField } from '../errors.js';
import type { EvaluateUpload } from '../pipeline/evaluate-model.js';

/** Limits of one model-mode upload. */
export interface UploadLimits {
  /** All parts together (EVAL_BODY_LIMIT). */
  totalLimit: number;
  /** One image (BODY_LIMIT). */
  fileLimit: number;
  /** Images per request (EVAL_MAX_IMAGES). */
  maxImages: number;
}

/**
 * Reads the parts of a model-mode request.
 * @throws MRC_ERR_MULTIPART (400) for missing/repeated/unexpected parts or invalid JSON,
 *   MRC_ERR_PAYLOAD_TOO_LARGE (413) beyond the limits.
 */
export async function readEvaluateMultipart(request: FastifyRequest, limits: UploadLimits): Promise<EvaluateUpload> {
  const images: EvaluateUpload['images'] = [];
  let annotationsText: string | null = null;
  let total = 0;
  const parts = request.parts({
    limits: {
      fileSize: limits.totalLimit,
      fieldSize: limits.totalLimit,
      files: limits.maxImages + 1,
      fields: 4,
      parts: limits.maxImages + 5,
    },
  });
  const add = (n: number, field: string): void => {
    total += n;
    if (total > limits.totalLimit) {
      throw withField(new Errors.PAYLOAD_TOO_LARGE(`all parts together exceed ${limits.totalLimit} bytes (EVAL_BODY_LIMIT)`), field);
    }
  };
  for await (const part of parts) {
    if (part.fieldname === 'image') {
      const field = `image[${images.length}]`;
      if (part.type !== 'file') throw withField(new Errors.MULTIPART('"image" parts must be files'), field);
      if (images.length >= limits.maxImages) {
        throw withField(new Errors.PAYLOAD_TOO_LARGE(`more than ${limits.maxImages} images (EVAL_MAX_IMAGES)`), field);
      }
      const bytes = await part.toBuffer();
      if (bytes.length > limits.fileLimit) {
        throw withField(new Errors.PAYLOAD_TOO_LARGE(`image "${part.filename}" has more than ${limits.fileLimit} bytes (BODY_LIMIT)`), field);
      }
      add(bytes.length, field);
      images.push({ fileName: part.filename, bytes, field });
    } else if (part.fieldname === 'annotations') {
      if (annotationsText !== null) throw withField(new Errors.MULTIPART('"annotations" is repeated: send one COCO JSON'), 'annotations');
      if (part.type === 'file') {
        const buf = await part.toBuffer();
        add(buf.length, 'annotations');
        annotationsText = buf.toString('utf8');
      } else {
        if (part.valueTruncated) {
          throw withField(new Errors.PAYLOAD_TOO_LARGE(`"annotations" exceeds ${limits.totalLimit} bytes (EVAL_BODY_LIMIT)`), 'annotations');
        }
        annotationsText = typeof part.value === 'string' ? part.value : JSON.stringify(part.value);
        add(Buffer.byteLength(annotationsText), 'annotations');
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
