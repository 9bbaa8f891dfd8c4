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
import { readModelParts, tooLarge } from '../routes/evaluate-input.js';
import type { JobsConfig } from './config.js';
import type { JobImage } from './types.js';

export interface JobUpload {
  tmpDir: string;
  images: JobImage[];
  annotations: unknown;
}

/** Reads the parts of a model-mode job request into a new temp dir (removed on failure). */
export async function readJobMultipart(request: FastifyRequest, limits: JobsConfig): Promise<JobUpload> {
  const tmpDir = await mkdtemp(join(limits.tmpRoot, 'mrcnn-job-'));
  try {
    return { tmpDir, ...await readParts(request, limits, tmpDir) };
  } catch (err) {
    await rm(tmpDir, { recursive: true, force: true });
    throw err;
  }
}

/** The parts (src/routes/evaluate-input.ts `readModelParts`), each image streamed to `tmpDir`. */
function readParts(request: FastifyRequest, limits: JobsConfig, tmpDir: string): Promise<{ images: JobImage[]; annotations: unknown }> {
  let n = 0;
  return readModelParts<JobImage>(request, {
    fileSize: Math.max(limits.fileLimit, limits.jsonLimit),
    fieldSize: limits.jsonLimit,
    maxImages: limits.maxImages,
    maxImagesVar: 'JOBS_MAX_IMAGES',
    totalLimit: limits.maxUploadBytes,
    totalVar: 'JOBS_MAX_UPLOAD',
    annotationsLimit: limits.jsonLimit,
    readImage: async (part, field, count) => {
      const path = join(tmpDir, `${n++}.img`);
      let size = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          size += chunk.length;
          if (size > limits.fileLimit) cb(tooLarge(`image "${part.filename}" has more than ${limits.fileLimit} bytes (BODY_LIMIT)`, field));
          else {
            try {
              count(chunk.length);
              cb(null, chunk);
            } catch (err) { cb(err as Error); }
          }
        },
      });
      await pipeline(part.file, counter, createWriteStream(path));
      if (part.file.truncated) throw tooLarge(`image "${part.filename}" has more than ${limits.fileLimit} bytes (BODY_LIMIT)`, field);
      return { fileName: part.filename, path, field };
    },
  });
}
