/**
 * @file Limits of evaluation jobs (POST /evaluations), read from the environment once when the
 * routes plugin registers. src/config.ts is the service-wide configuration; these variables only
 * concern jobs and follow the same rules (integers, sizes like `1GiB`, a bad value is an error
 * naming the variable). Per-image size and the pixel guard reuse BODY_LIMIT / MAX_IMAGE_PIXELS.
 *
 * | Variable | Default | Meaning |
 * |---|---|---|
 * | JOBS_MAX_CONCURRENT | 1 | jobs running at the same time |
 * | JOBS_MAX_QUEUED | 8 | jobs waiting to run; beyond that (plus uploads in progress) 429 |
 * | JOBS_MAX_STORED | 100 | jobs kept in memory (finished ones are evicted oldest first) |
 * | JOBS_TTL_SECONDS | 3600 | a finished job (result, report) is forgotten this long after it ends |
 * | JOBS_MAX_IMAGES | 10000 | images in one model-mode job |
 * | JOBS_MAX_UPLOAD | 2GiB | all multipart parts of one job together (temp dir size bound) |
 */
import { tmpdir } from 'node:os';
import { ConfigError, parseBytes, type Config } from '../config.js';

/** Validated job limits. */
export interface JobsConfig {
  maxConcurrent: number;
  maxQueued: number;
  maxStored: number;
  ttlMs: number;
  maxImages: number;
  /** Bytes of one job's upload (all parts). */
  maxUploadBytes: number;
  /** Bytes of one image (BODY_LIMIT). */
  fileLimit: number;
  /** Bytes of the annotations part / detections-mode JSON body (EVAL_BODY_LIMIT). */
  jsonLimit: number;
  /** Parent of the per-job temp dirs (os.tmpdir()). */
  tmpRoot: string;
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(name, `must be an integer in [${min}, ${max}] (got "${raw}")`);
  }
  return n;
}

/** Job limits from `env` (default process.env) and the service configuration. */
export function loadJobsConfig(config: Config, env: Env = process.env, overrides: Partial<JobsConfig> = {}): JobsConfig {
  const rawUpload = env.JOBS_MAX_UPLOAD?.trim();
  let maxUploadBytes = 2 * 1024 ** 3;
  if (rawUpload) {
    const n = parseBytes(rawUpload);
    if (n === undefined || n < 1024) throw new ConfigError('JOBS_MAX_UPLOAD', `must be a size of at least 1024 bytes, e.g. 1GiB (got "${rawUpload}")`);
    maxUploadBytes = n;
  }
  return {
    maxConcurrent: int(env, 'JOBS_MAX_CONCURRENT', 1, 1, 64),
    maxQueued: int(env, 'JOBS_MAX_QUEUED', 8, 0, 10_000),
    maxStored: int(env, 'JOBS_MAX_STORED', 100, 1, 100_000),
    ttlMs: int(env, 'JOBS_TTL_SECONDS', 3600, 1, 30 * 86400) * 1000,
    maxImages: int(env, 'JOBS_MAX_IMAGES', 10_000, 1, 10_000_000),
    maxUploadBytes,
    fileLimit: config.bodyLimit,
    jsonLimit: config.evalBodyLimit,
    tmpRoot: tmpdir(),
    ...overrides,
  };
}
