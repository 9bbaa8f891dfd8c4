/**
 * @file Service configuration: read once from the environment (and CLI flags, which win), validate,
 * apply defaults, deep-freeze. Every value has a default except where noted; a bad value stops the
 * process at start-up with a message naming the variable, the accepted form and what was given.
 *
 * Used by src/server.ts (loadConfig) and src/app.ts (the typed `app.config` decoration).
 * Model constants (classes, mean/std, sizes) are NOT configuration: they live in the model's
 * manifest.json. See docs/service.md for the table of variables.
 */
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

/** Which onnxruntime execution provider to ask for. */
export type ExecutionProviderChoice = 'auto' | 'cuda' | 'cpu';
/** pino log levels accepted by LOG_LEVEL. */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** The validated, frozen configuration. All sizes are bytes, all durations milliseconds. */
export interface Config {
  /** TCP port to listen on (PORT, 8080). */
  readonly port: number;
  /** Interface to bind (HOST, 0.0.0.0). */
  readonly host: string;
  /** Absolute models directory; models are never loaded from outside it (MODEL_DIR, ./models). */
  readonly modelDir: string;
  /** Folder name of the model under modelDir (MODEL_NAME, shapes). */
  readonly modelName: string;
  /** EXECUTION_PROVIDER auto|cuda|cpu (auto: try CUDA, fall back to CPU). */
  readonly executionProvider: ExecutionProviderChoice;
  /** intraOpNumThreads per inference worker (INTRA_OP_THREADS, cores / workers). */
  readonly intraOpThreads: number;
  /** Number of inference worker threads, one ORT session each (INFERENCE_WORKERS, 1). */
  readonly inferenceWorkers: number;
  /** Jobs allowed to wait for a worker; beyond that 503 + Retry-After (QUEUE_SIZE, 8). */
  readonly queueSize: number;
  /** Max upload size for /predict, raw body or multipart file (BODY_LIMIT, 10 MiB). */
  readonly bodyLimit: number;
  /** Max request size for /evaluate, JSON or all multipart parts together (EVAL_BODY_LIMIT, 50 MiB). */
  readonly evalBodyLimit: number;
  /** Max images per model-mode /evaluate request (EVAL_MAX_IMAGES, 100). */
  readonly evalMaxImages: number;
  /** Decompression-bomb guard: max width x height of a decoded image (MAX_IMAGE_PIXELS, 40 M). */
  readonly maxImagePixels: number;
  /** LOG_LEVEL (info). */
  readonly logLevel: LogLevel;
  /** Run one inference per worker before reporting ready (WARMUP, true). */
  readonly warmup: boolean;
  /** Grace period for in-flight requests on SIGTERM/SIGINT before a hard exit (SHUTDOWN_TIMEOUT_MS, 30000). */
  readonly shutdownTimeoutMs: number;
  /** Whole-request timeout enforced by Node's HTTP server (REQUEST_TIMEOUT_MS, 120000). */
  readonly requestTimeoutMs: number;
  /** Absolute directory of the SQLite store `maskrcnn-serve.db` (DATA_DIR, ./data; docs/storage.md). */
  readonly dataDir: string;
  /** PostgreSQL URL of the store (DATABASE_URL); when set it is used instead of DATA_DIR. Never logged. */
  readonly databaseUrl: string | undefined;
  /** Evaluation jobs (JOBS_*, docs/jobs.md). */
  readonly jobs: JobsConfig;
}

/** Limits and timing of evaluation jobs (POST /evaluations). */
export interface JobsConfig {
  /** Jobs running at once in this process (JOBS_MAX_CONCURRENT, 1). */
  readonly maxConcurrent: number;
  /** Jobs waiting to run; uploads in progress hold a slot too (JOBS_MAX_QUEUED, 8). */
  readonly maxQueued: number;
  /** Jobs kept; when full the oldest finished one is deleted (JOBS_MAX_STORED, 100). */
  readonly maxStored: number;
  /** A finished job is forgotten this long after it ended (JOBS_TTL_SECONDS, 3600). */
  readonly ttlMs: number;
  /** Images in one model-mode job (JOBS_MAX_IMAGES, 10000). */
  readonly maxImages: number;
  /** All multipart parts of one job together (JOBS_MAX_UPLOAD, 2 GiB). */
  readonly maxUploadBytes: number;
  /**
   * A running job's lease (JOBS_LEASE_SECONDS, 15): renewed every third of it while the job runs;
   * a job whose process died is taken over (and resumed) once its lease lapsed.
   */
  readonly leaseMs: number;
}

/** Thrown by loadConfig; `variable` names the offending env var. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly variable: string, message: string) {
    super(`Invalid configuration: ${variable} ${message}`);
  }
}

type Env = Record<string, string | undefined>;

/** Environment variable names, in the order they are documented; CLI flag = kebab-case of each. */
export const CONFIG_VARIABLES = [
  'PORT', 'HOST', 'MODEL_DIR', 'MODEL_NAME', 'EXECUTION_PROVIDER', 'INTRA_OP_THREADS',
  'INFERENCE_WORKERS', 'QUEUE_SIZE', 'BODY_LIMIT', 'EVAL_BODY_LIMIT', 'EVAL_MAX_IMAGES',
  'MAX_IMAGE_PIXELS', 'LOG_LEVEL', 'WARMUP', 'SHUTDOWN_TIMEOUT_MS', 'REQUEST_TIMEOUT_MS',
  'DATA_DIR', 'DATABASE_URL',
  'JOBS_MAX_CONCURRENT', 'JOBS_MAX_QUEUED', 'JOBS_MAX_STORED', 'JOBS_TTL_SECONDS', 'JOBS_MAX_IMAGES', 'JOBS_MAX_UPLOAD',
  'JOBS_LEASE_SECONDS',
] as const;

function str(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function int(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = str(env, name);
  if (raw === undefined) return def;
  if (!/^[+-]?\d+$/.test(raw)) throw new ConfigError(name, `must be an integer in [${min}, ${max}] (got "${raw}")`);
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(name, `must be an integer in [${min}, ${max}] (got "${raw}")`);
  }
  return n;
}

const UNITS: Record<string, number> = {
  '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, k: 1024, m: 1024 ** 2, g: 1024 ** 3,
};

/** Parses "1048576", "10mb", "10MiB", "512k" into bytes (k/m/g without "b" are binary). */
export function parseBytes(raw: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(raw.trim());
  if (!m) return undefined;
  const unit = UNITS[(m[2] ?? '').toLowerCase()];
  if (unit === undefined) return undefined;
  const n = Math.floor(Number(m[1]) * unit);
  return Number.isSafeInteger(n) ? n : undefined;
}

function bytes(env: Env, name: string, def: number, min: number): number {
  const raw = str(env, name);
  if (raw === undefined) return def;
  const n = parseBytes(raw);
  if (n === undefined || n < min) {
    throw new ConfigError(name, `must be a size of at least ${min} bytes, e.g. 10485760, 10mb or 10MiB (got "${raw}")`);
  }
  return n;
}

function oneOf<T extends string>(env: Env, name: string, def: T, allowed: readonly T[]): T {
  const raw = str(env, name);
  if (raw === undefined) return def;
  const v = raw.toLowerCase() as T;
  if (!allowed.includes(v)) throw new ConfigError(name, `must be one of ${allowed.join('|')} (got "${raw}")`);
  return v;
}

function bool(env: Env, name: string, def: boolean): boolean {
  const raw = str(env, name);
  if (raw === undefined) return def;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(name, `must be true|false (got "${raw}")`);
}

/** DATABASE_URL: a postgres:// or postgresql:// URL; the value is never echoed (it may hold a password). */
function databaseUrl(env: Env): string | undefined {
  const raw = str(env, 'DATABASE_URL');
  if (raw === undefined) return undefined;
  let ok = false;
  try {
    const u = new URL(raw);
    ok = (u.protocol === 'postgres:' || u.protocol === 'postgresql:') && u.pathname.length > 1;
  } catch {
    ok = false;
  }
  if (!ok) throw new ConfigError('DATABASE_URL', 'must be a PostgreSQL URL postgres://user:password@host:5432/database (value not shown)');
  return raw;
}

/** Recursively freezes an object graph (config is never mutated after start-up). */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

/**
 * Converts CLI flags (`--port 9000`, `--model-name=shapes`, `--execution-provider cpu`) into env-style
 * overrides. Unknown flags and positional arguments are errors, so typos do not pass silently.
 */
export function flagsToEnv(argv: readonly string[]): Env {
  const options = Object.fromEntries(
    CONFIG_VARIABLES.map((v) => [v.toLowerCase().replaceAll('_', '-'), { type: 'string' as const }]),
  );
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false });
  } catch (err) {
    throw new ConfigError('(command line)', (err as Error).message);
  }
  const out: Env = {};
  for (const [flag, value] of Object.entries(parsed.values)) {
    if (typeof value === 'string') out[flag.toUpperCase().replaceAll('-', '_')] = value;
  }
  return out;
}

/**
 * Builds the configuration from `env` (default process.env) overridden by `argv` flags.
 * Relative MODEL_DIR is resolved against `cwd`.
 * @throws ConfigError naming the first invalid variable.
 */
export function loadConfig(
  env: Env = process.env,
  argv: readonly string[] = [],
  cwd: string = process.cwd(),
): Config {
  const e: Env = { ...env, ...flagsToEnv(argv) };
  const cores = Math.max(1, availableParallelism());
  const inferenceWorkers = int(e, 'INFERENCE_WORKERS', 1, 1, 64);
  const modelName = str(e, 'MODEL_NAME') ?? 'shapes';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(modelName) || modelName.includes('..')) {
    throw new ConfigError('MODEL_NAME', `must be a plain folder name ([A-Za-z0-9._-], no "..", no "/") (got "${modelName}")`);
  }
  const host = str(e, 'HOST') ?? '0.0.0.0';
  const config: Config = {
    port: int(e, 'PORT', 8080, 0, 65535),
    host,
    modelDir: path.resolve(cwd, str(e, 'MODEL_DIR') ?? 'models'),
    modelName,
    executionProvider: oneOf(e, 'EXECUTION_PROVIDER', 'auto', ['auto', 'cuda', 'cpu'] as const),
    intraOpThreads: int(e, 'INTRA_OP_THREADS', Math.max(1, Math.floor(cores / inferenceWorkers)), 1, 256),
    inferenceWorkers,
    queueSize: int(e, 'QUEUE_SIZE', 8, 0, 100_000),
    bodyLimit: bytes(e, 'BODY_LIMIT', 10 * 1024 ** 2, 1024),
    evalBodyLimit: bytes(e, 'EVAL_BODY_LIMIT', 50 * 1024 ** 2, 1024),
    evalMaxImages: int(e, 'EVAL_MAX_IMAGES', 100, 1, 100_000),
    maxImagePixels: int(e, 'MAX_IMAGE_PIXELS', 40_000_000, 1, 2 ** 31 - 1),
    logLevel: oneOf(e, 'LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
    warmup: bool(e, 'WARMUP', true),
    shutdownTimeoutMs: int(e, 'SHUTDOWN_TIMEOUT_MS', 30_000, 0, 3_600_000),
    requestTimeoutMs: int(e, 'REQUEST_TIMEOUT_MS', 120_000, 0, 3_600_000),
    dataDir: path.resolve(cwd, str(e, 'DATA_DIR') ?? 'data'),
    databaseUrl: databaseUrl(e),
    jobs: {
      maxConcurrent: int(e, 'JOBS_MAX_CONCURRENT', 1, 1, 64),
      maxQueued: int(e, 'JOBS_MAX_QUEUED', 8, 0, 10_000),
      maxStored: int(e, 'JOBS_MAX_STORED', 100, 1, 100_000),
      ttlMs: int(e, 'JOBS_TTL_SECONDS', 3600, 1, 30 * 86400) * 1000,
      maxImages: int(e, 'JOBS_MAX_IMAGES', 10_000, 1, 10_000_000),
      maxUploadBytes: bytes(e, 'JOBS_MAX_UPLOAD', 2 * 1024 ** 3, 1024),
      leaseMs: int(e, 'JOBS_LEASE_SECONDS', 15, 2, 3600) * 1000,
    },
  };
  return deepFreeze(config);
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The frozen configuration the app was built with. */
    config: Config;
  }
}
