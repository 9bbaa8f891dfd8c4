/**
 * @file Service configuration: read once from the environment (and CLI flags, which win), validate,
 * apply defaults, deep-freeze. Every value has a default except where noted; a bad value stops the
 * process at start-up with a message naming the variable, the accepted form and what was given.
 *
 * Used by src/server.ts (loadConfig) and src/app.ts (the typed `app.config` decoration).
 * Model constants (classes, mean/std, sizes) are NOT configuration: they live in the model's
 * manifest.json. See docs/service.md for the table of variables.
 */
import { availableParallelism, totalmem } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DURATION_FORM, parseDuration } from './auth/duration.js';

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
  /** Model versions loaded at start, the first is the default model (MODELS, default MODEL_NAME; docs/models.md). */
  readonly models: readonly ModelRef[];
  /** Worker threads budget: sum over loaded versions of workers x intra-op threads (MODEL_THREADS, cores). */
  readonly modelThreads: number;
  /** Memory budget of the loaded versions in bytes (MODEL_MEMORY_MB, 75% of the machine's memory; 0 = none). */
  readonly modelMemoryBytes: number;
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
  /** Connections of this process's store pool (DATABASE_POOL_MAX, 10); the task queue uses up to min(4, this) more. */
  readonly databasePoolMax: number;
  /** Evaluation jobs (JOBS_*, docs/jobs.md). */
  readonly jobs: JobsConfig;
  /** Drift watch of /predict traffic (DRIFT_*, docs/drift.md). */
  readonly drift: { readonly window: number; readonly minImages: number };
  /** Registered datasets (DATASETS_MAX, 50; docs/history.md): their names are metric label values. */
  readonly datasetsMax: number;
  /** Access control and rate limits (TOKENS_FILE, METRICS_AUTH, RATE_LIMIT_*; docs/security.md). */
  readonly auth: AuthConfig;
}

/** Access control (src/plugins/auth.ts). */
export interface AuthConfig {
  /** Absolute path of the tokens file (TOKENS_FILE); unset = access control off (everything open). */
  readonly tokensFile: string | undefined;
  /** GET /metrics needs scope `metrics` (METRICS_AUTH, off). */
  readonly metricsAuth: boolean;
  /** Requests per window and token (per IP without a token) (RATE_LIMIT_MAX, 0 = no limit). */
  readonly rateLimitMax: number;
  /** The rate-limit window in ms (RATE_LIMIT_WINDOW, "1 minute"). */
  readonly rateLimitWindowMs: number;
}

/** One MODELS item: a model folder under MODEL_DIR and, optionally, one version of it. */
export interface ModelRef {
  readonly name: string;
  readonly version?: string;
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
  /**
   * Where jobs run (JOBS_QUEUE auto|local|pgboss; auto: pgboss when DATABASE_URL is set): `local`
   * claims whole jobs in this process; `pgboss` spreads a model-mode job's images over every replica
   * sharing the PostgreSQL database (docs/jobs.md, docs/scaling.md).
   */
  readonly queue: 'local' | 'pgboss';
  /** Images per distributed task (QUEUE_BATCH_IMAGES, 4). */
  readonly batchImages: number;
  /** A distributed task running longer than this is retried on another replica (TASK_TIMEOUT_SECONDS, 300). */
  readonly taskTimeoutMs: number;
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
  'PORT', 'HOST', 'MODEL_DIR', 'MODEL_NAME', 'MODELS', 'MODEL_THREADS', 'MODEL_MEMORY_MB', 'EXECUTION_PROVIDER', 'INTRA_OP_THREADS',
  'INFERENCE_WORKERS', 'QUEUE_SIZE', 'BODY_LIMIT', 'EVAL_BODY_LIMIT', 'EVAL_MAX_IMAGES',
  'MAX_IMAGE_PIXELS', 'LOG_LEVEL', 'WARMUP', 'SHUTDOWN_TIMEOUT_MS', 'REQUEST_TIMEOUT_MS',
  'DATA_DIR', 'DATABASE_URL', 'DATABASE_POOL_MAX',
  'JOBS_MAX_CONCURRENT', 'JOBS_MAX_QUEUED', 'JOBS_MAX_STORED', 'JOBS_TTL_SECONDS', 'JOBS_MAX_IMAGES', 'JOBS_MAX_UPLOAD',
  'JOBS_LEASE_SECONDS', 'JOBS_QUEUE', 'QUEUE_BATCH_IMAGES', 'TASK_TIMEOUT_SECONDS',
  'TOKENS_FILE', 'METRICS_AUTH', 'RATE_LIMIT_MAX', 'RATE_LIMIT_WINDOW',
  'DRIFT_WINDOW', 'DRIFT_MIN_IMAGES',
  'DATASETS_MAX',
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

/** Model and version names: plain folder names ([A-Za-z0-9._-], no ".."). */
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const plainName = (s: string): boolean => MODEL_NAME_PATTERN.test(s) && !s.includes('..');

/** MODELS: comma-separated `name` or `name:version`, each at most once; default: MODEL_NAME. */
function modelRefs(env: Env, modelName: string): ModelRef[] {
  const raw = str(env, 'MODELS');
  if (raw === undefined) return [{ name: modelName }];
  const refs: ModelRef[] = [];
  for (const item of raw.split(',').map((x) => x.trim())) {
    const [name = '', version, extra] = item.split(':');
    if (extra !== undefined || !plainName(name) || (version !== undefined && !plainName(version))) {
      throw new ConfigError('MODELS', `must be comma-separated model folder names, each optionally with :version ([A-Za-z0-9._-], no ".."), e.g. "shapes,shapes-stock:1.2.0" (got "${item}" in "${raw}")`);
    }
    if (refs.some((r) => r.name === name && (r.version === version || r.version === undefined || version === undefined))) {
      throw new ConfigError('MODELS', `names "${item}" twice (got "${raw}")`);
    }
    refs.push(version === undefined ? { name } : { name, version });
  }
  return refs;
}

/** A duration with a unit ("1 minute", "30s"; src/auth/duration.ts) in [min, max] ms. */
function duration(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = str(env, name);
  if (raw === undefined) return def;
  const ms = parseDuration(raw);
  if (ms === undefined || ms < min || ms > max) {
    throw new ConfigError(name, `must be ${DURATION_FORM}, from ${min / 1000} s to ${max / 3_600_000} h (got "${raw}")`);
  }
  return ms;
}

/** JOBS_QUEUE: pgboss needs DATABASE_URL; auto picks it when DATABASE_URL is set. */
function jobsQueue(env: Env): 'local' | 'pgboss' {
  const choice = oneOf(env, 'JOBS_QUEUE', 'auto', ['auto', 'local', 'pgboss'] as const);
  const hasDb = str(env, 'DATABASE_URL') !== undefined;
  if (choice === 'pgboss' && !hasDb) throw new ConfigError('JOBS_QUEUE', 'pgboss needs DATABASE_URL (the tasks are kept in the PostgreSQL database)');
  return choice === 'auto' ? (hasDb ? 'pgboss' : 'local') : choice;
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
  const models = modelRefs(e, modelName);
  // Default intra-op threads share the cores between the start-up versions (docs/models.md, Budget).
  const intraOpThreads = int(e, 'INTRA_OP_THREADS', Math.max(1, Math.floor(cores / (inferenceWorkers * models.length))), 1, 256);
  const startupThreads = models.length * inferenceWorkers * intraOpThreads;
  const modelThreads = int(e, 'MODEL_THREADS', Math.max(cores, startupThreads), 1, 65_536);
  if (modelThreads < startupThreads) {
    throw new ConfigError('MODEL_THREADS', `must be at least the ${startupThreads} threads of the start-up models (MODELS: ${models.length} x INFERENCE_WORKERS ${inferenceWorkers} x INTRA_OP_THREADS ${intraOpThreads}) (got "${modelThreads}")`);
  }
  const modelMemoryMb = int(e, 'MODEL_MEMORY_MB', Math.floor(totalmem() * 0.75 / 1024 ** 2), 0, 2 ** 40);
  const config: Config = {
    port: int(e, 'PORT', 8080, 0, 65535),
    host,
    modelDir: path.resolve(cwd, str(e, 'MODEL_DIR') ?? 'models'),
    modelName,
    models,
    modelThreads,
    modelMemoryBytes: modelMemoryMb * 1024 ** 2,
    executionProvider: oneOf(e, 'EXECUTION_PROVIDER', 'auto', ['auto', 'cuda', 'cpu'] as const),
    intraOpThreads,
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
    databasePoolMax: int(e, 'DATABASE_POOL_MAX', 10, 1, 1000),
    jobs: {
      maxConcurrent: int(e, 'JOBS_MAX_CONCURRENT', 1, 1, 64),
      maxQueued: int(e, 'JOBS_MAX_QUEUED', 8, 0, 10_000),
      maxStored: int(e, 'JOBS_MAX_STORED', 100, 1, 100_000),
      ttlMs: int(e, 'JOBS_TTL_SECONDS', 3600, 1, 30 * 86400) * 1000,
      maxImages: int(e, 'JOBS_MAX_IMAGES', 10_000, 1, 10_000_000),
      maxUploadBytes: bytes(e, 'JOBS_MAX_UPLOAD', 2 * 1024 ** 3, 1024),
      leaseMs: int(e, 'JOBS_LEASE_SECONDS', 15, 2, 3600) * 1000,
      queue: jobsQueue(e),
      batchImages: int(e, 'QUEUE_BATCH_IMAGES', 4, 1, 10_000),
      taskTimeoutMs: int(e, 'TASK_TIMEOUT_SECONDS', 300, 5, 86_400) * 1000,
    },
    auth: {
      tokensFile: str(e, 'TOKENS_FILE') === undefined ? undefined : path.resolve(cwd, str(e, 'TOKENS_FILE')!),
      metricsAuth: bool(e, 'METRICS_AUTH', false),
      rateLimitMax: int(e, 'RATE_LIMIT_MAX', 0, 0, 1_000_000_000),
      rateLimitWindowMs: duration(e, 'RATE_LIMIT_WINDOW', 60_000, 1000, 86_400_000),
    },
    drift: {
      window: int(e, 'DRIFT_WINDOW', 1000, 1, 1_000_000),
      minImages: int(e, 'DRIFT_MIN_IMAGES', 50, 1, 1_000_000),
    },
    datasetsMax: int(e, 'DATASETS_MAX', 50, 1, 1000),
  };
  return deepFreeze(config);
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The frozen configuration the app was built with. */
    config: Config;
  }
}
