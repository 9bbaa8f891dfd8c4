/**
 * @file Multipart intake of a model-mode job: `image` files are streamed to a fresh temp dir under
 * `tmpRoot` (os.tmpdir(); never held in memory), `annotations` (COCO JSON, text field or file) is
 * parsed (src/evaluation/upload.ts reads the parts). Limits: BODY_LIMIT per image, EVAL_BODY_LIMIT
 * for the annotations, JOBS_MAX_UPLOAD for all parts, JOBS_MAX_IMAGES images. Any failure removes the
 * temp dir and is a typed error naming the part. The job service then copies the files into the
 * store in the job's creating transaction, and the temp dir is removed.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { UploadedFile } from '../evaluation/model-input.js';
import { readModelParts, tooLarge, type UploadPart } from '../evaluation/upload.js';

/** Limits of one job upload. */
export interface JobUploadLimits {
  /** Bytes of one image (BODY_LIMIT). */
  fileLimit: number;
  /** Bytes of the annotations part (EVAL_BODY_LIMIT). */
  jsonLimit: number;
  /** Images (JOBS_MAX_IMAGES). */
  maxImages: number;
  /** All parts together (JOBS_MAX_UPLOAD). */
  maxUploadBytes: number;
  /** Parent of the temp dir. */
  tmpRoot: string;
}

/** An uploaded image in the temp dir. */
export type JobFile = UploadedFile & { path: string };

export interface JobUpload {
  tmpDir: string;
  images: JobFile[];
  annotations: unknown;
}

/** The busboy limits to give `request.parts()` for a job upload. */
export function jobPartLimits(limits: JobUploadLimits): { fileSize: number; fieldSize: number; files: number; fields: number; parts: number } {
  return { fileSize: Math.max(limits.fileLimit, limits.jsonLimit), fieldSize: limits.jsonLimit, files: limits.maxImages + 1, fields: 4, parts: limits.maxImages + 5 };
}

/** Reads the parts of a model-mode job request into a new temp dir (removed on failure). */
export async function readJobUpload(parts: AsyncIterable<UploadPart>, limits: JobUploadLimits): Promise<JobUpload> {
  const tmpDir = await mkdtemp(join(limits.tmpRoot, 'mrcnn-job-'));
  try {
    let n = 0;
    const read = await readModelParts<JobFile>(parts, {
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
    return { tmpDir, ...read };
  } catch (err) {
    await rm(tmpDir, { recursive: true, force: true });
    throw err;
  }
}
