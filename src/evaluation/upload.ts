/**
 * @file Reading a model-mode upload (POST /evaluate, POST /evaluations): one or more `image` files
 * and exactly one `annotations` (COCO instances JSON) as a text field or a file, from the parts of
 * a multipart body (the route passes `request.parts()`; anything yielding {@link UploadPart}s
 * works). The caller says where an image goes (`readImage`: in memory for /evaluate, a temp file for
 * jobs, src/jobs/upload.ts) and its limits. Every problem is a typed error naming the part
 * (`image[2]`, `annotations`, the unexpected field name): MultipartError, UploadTooLargeError,
 * InvalidJsonError (src/evaluation/errors.ts).
 */
import type { Readable } from 'node:stream';
import { InvalidJsonError, MultipartError, UploadTooLargeError } from './errors.js';

/** A file part of a multipart body (structurally @fastify/multipart's MultipartFile). */
export interface UploadFilePart {
  type: 'file';
  fieldname: string;
  filename: string;
  file: Readable & { truncated: boolean };
  toBuffer(): Promise<Buffer>;
}

/** A text part (structurally @fastify/multipart's MultipartValue). */
export interface UploadFieldPart {
  type: 'field';
  fieldname: string;
  value: unknown;
  valueTruncated: boolean;
}

export type UploadPart = UploadFilePart | UploadFieldPart;

/** How an endpoint reads the parts of a model-mode request. */
export interface ModelPartsSpec<I> {
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
  readImage(part: UploadFilePart, field: string, count: (n: number) => void): Promise<I>;
}

/** An UploadTooLargeError naming the part. */
export const tooLarge = (detail: string, field: string): UploadTooLargeError => new UploadTooLargeError(detail, field);

/**
 * Reads the parts of a model-mode request: the images (as `spec.readImage` returns them) and the
 * parsed `annotations`.
 * @throws MultipartError for missing/repeated/unexpected parts, InvalidJsonError, UploadTooLargeError
 */
export async function readModelParts<I>(parts: AsyncIterable<UploadPart>, spec: ModelPartsSpec<I>): Promise<{ images: I[]; annotations: unknown }> {
  const images: I[] = [];
  let annotationsText: string | null = null;
  let total = 0;
  const count = (n: number, field: string): void => {
    total += n;
    if (total > spec.totalLimit) throw tooLarge(`all parts together exceed ${spec.totalLimit} bytes (${spec.totalVar})`, field);
  };
  for await (const part of parts) {
    if (part.fieldname === 'image') {
      const field = `image[${images.length}]`;
      if (part.type !== 'file') throw new MultipartError('"image" parts must be files', field);
      if (images.length >= spec.maxImages) throw tooLarge(`more than ${spec.maxImages} images (${spec.maxImagesVar})`, field);
      images.push(await spec.readImage(part, field, (n) => count(n, field)));
    } else if (part.fieldname === 'annotations') {
      if (annotationsText !== null) throw new MultipartError('"annotations" is repeated: send one COCO JSON', 'annotations');
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
      throw new MultipartError(`unexpected multipart field "${part.fieldname}": send "image" files and one "annotations"`, part.fieldname);
    }
  }
  if (annotationsText === null) throw new MultipartError('missing "annotations" (COCO instances JSON, as a field or a file)', 'annotations');
  if (images.length === 0) throw new MultipartError('missing "image" files: send at least one', 'image');
  let annotations: unknown;
  try {
    annotations = JSON.parse(annotationsText);
  } catch (err) {
    throw new InvalidJsonError(`"annotations": ${(err as Error).message}`, 'annotations');
  }
  return { images, annotations };
}
