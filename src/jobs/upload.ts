/**
 * @file Multipart intake of a model-mode job: `image` files are streamed to a fresh temp dir under
 * os.tmpdir() (never held in memory), `annotations` (COCO JSON, text field or file) is parsed.
 * Limits: BODY_LIMIT per image, EVAL_BODY_LIMIT for the annotations, JOBS_MAX_UPLOAD for all parts,
 * JOBS_MAX_IMAGES images. Any failure removes the temp dir and is a 4xx naming the part.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import { Errors, withField } from '../errors.js';
import type { JobsConfig } from './config.js';
import type { JobImage } from './types.js';

export interface JobUpload {
  tmpDir: string;
  images: JobImage[];
  annotations: unknown;
}

const tooLarge = (msg: string, field: string): Error => withField(new Errors.PAYLOAD_TOO_LARGE(msg), field);

/** Reads the parts of a model-mode job request into a new temp dir (removed on failure). */
export async function readJobMultipart(request: FastifyRequest, limits: JobsConfig): Promise<JobUpload> {
  const tmpDir = await mkdtemp(join(limits.tmpRoot, 'mrcnn-job-'));
  try {
    return await readParts(request, limits, tmpDir);
  } catch (err) {
    await rm(tmpDir, { recursive: true, force: true });
    throw err;
  }
}

async function readParts(request: FastifyRequest, limits: JobsConfig, tmpDir: string): Promise<JobUpload> {
  const images: JobImage[] = [];
  let annotationsText: string | null = null;
  let total = 0;
  const add = (n: number, field: string): void => {
    total += n;
    if (total > limits.maxUploadBytes) throw tooLarge(`all parts together exceed ${limits.maxUploadBytes} bytes (JOBS_MAX_UPLOAD)`, field);
  };
  const parts = request.parts({
    limits: {
      fileSize: Math.max(limits.fileLimit, limits.jsonLimit),
      fieldSize: limits.jsonLimit,
      files: limits.maxImages + 1,
      fields: 4,
      parts: limits.maxImages + 5,
    },
  });
  for await (const part of parts) {
    if (part.fieldname === 'image') {
      const field = `image[${images.length}]`;
      if (part.type !== 'file') throw withField(new Errors.MULTIPART('"image" parts must be files'), field);
      if (images.length >= limits.maxImages) throw tooLarge(`more than ${limits.maxImages} images (JOBS_MAX_IMAGES)`, field);
      const path = join(tmpDir, `${images.length}.img`);
      let size = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          size += chunk.length;
          if (size > limits.fileLimit) cb(tooLarge(`image "${part.filename}" has more than ${limits.fileLimit} bytes (BODY_LIMIT)`, field));
          else {
            try {
              add(chunk.length, field);
              cb(null, chunk);
            } catch (err) { cb(err as Error); }
          }
        },
      });
      await pipeline(part.file, counter, createWriteStream(path));
      if (part.file.truncated) throw tooLarge(`image "${part.filename}" has more than ${limits.fileLimit} bytes (BODY_LIMIT)`, field);
      images.push({ fileName: part.filename, path, field });
    } else if (part.fieldname === 'annotations') {
      if (annotationsText !== null) throw withField(new Errors.MULTIPART('"annotations" is repeated: send one COCO JSON'), 'annotations');
      if (part.type === 'file') {
        const buf = await part.toBuffer();
        if (buf.length > limits.jsonLimit) throw tooLarge(`"annotations" exceeds ${limits.jsonLimit} bytes (EVAL_BODY_LIMIT)`, 'annotations');
        add(buf.length, 'annotations');
        annotationsText = buf.toString('utf8');
      } else {
        if (part.valueTruncated) throw tooLarge(`"annotations" exceeds ${limits.jsonLimit} bytes (EVAL_BODY_LIMIT)`, 'annotations');
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
  return { tmpDir, images, annotations };
}
