/**
 * @file The HTTP edge of errors: the catalog of HTTP-level errors (MRC_ERR_*, built with
 * @fastify/error), the ONE table mapping the parts' typed errors (src/failure.ts subclasses: pipeline,
 * models, evaluation, jobs; the cores' InputError) to statuses, and the one error handler.
 *
 * Every error response, whatever raised it (our code, Fastify's validation or content-type parsing,
 * @fastify/multipart, the eval/losses cores' InputError, the 404 handler), has exactly the shape
 * `{statusCode, code, error, message, field}`; `field` is the path of the offending input
 * (`querystring.score_threshold`, `image`, `ground_truth.annotations[3].bbox`) or null.
 * Messages are shown only below 500; 5xx bodies say "Internal Server Error" (except the fixed,
 * non-sensitive 503 texts of this catalog) and add `request_id`, also sent as `x-request-id`.
 */
import { STATUS_CODES } from 'node:http';
import createError, { type FastifyError } from '@fastify/error';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InputError } from './eval/errors.js';
import { Failure } from './failure.js';
import { StoreUnavailableError } from './store/errors.js';

/** Body of every error response. */
export interface ErrorBody {
  statusCode: number;
  code: string;
  error: string;
  message: string;
  field: string | null;
  /** Only on 5xx: correlate with the server log. */
  request_id?: string;
}

/* eslint-disable @typescript-eslint/naming-convention */
/** Catalog: `new Errors.X(...messageArgs)`; attach the input path with {@link withField}. */
export const Errors = {
  /** Input validation */
  VALIDATION: createError('MRC_ERR_VALIDATION', '%s', 400),
  EMPTY_BODY: createError('MRC_ERR_EMPTY_BODY', 'Request body is empty: %s', 400),
  INVALID_JSON: createError('MRC_ERR_INVALID_JSON', 'Body is not valid JSON: %s', 400),
  MULTIPART: createError('MRC_ERR_MULTIPART', '%s', 400),
  BAD_REQUEST: createError('MRC_ERR_BAD_REQUEST', '%s', 400),
  NOT_FOUND: createError('MRC_ERR_NOT_FOUND', 'Route %s %s not found', 404),
  MODEL_NOT_FOUND: createError('MRC_ERR_MODEL_NOT_FOUND', 'No model named "%s" is served here', 404),
  /** Access control (src/plugins/auth.ts, docs/security.md) */
  UNAUTHORIZED: createError('MRC_ERR_UNAUTHORIZED', '%s', 401),
  FORBIDDEN: createError('MRC_ERR_FORBIDDEN', '%s', 403),
  RATE_LIMITED: createError('MRC_ERR_RATE_LIMITED', 'Too many requests: %s', 429),
  UNSUPPORTED_MEDIA_TYPE: createError('MRC_ERR_UNSUPPORTED_MEDIA_TYPE', 'Unsupported media type: %s', 415),
  PAYLOAD_TOO_LARGE: createError('MRC_ERR_PAYLOAD_TOO_LARGE', 'Payload too large: %s', 413),
  IMAGE_TOO_LARGE: createError('MRC_ERR_IMAGE_TOO_LARGE', 'Image too large: %s', 413),
  IMAGE_DECODE: createError('MRC_ERR_IMAGE_DECODE', 'Cannot decode image: %s', 422),
  IMAGE_UNSUPPORTED: createError('MRC_ERR_IMAGE_UNSUPPORTED', 'The model cannot process this image: %s', 422),
  /** InputError from src/eval or src/losses (status from the error: 400, 413 or 422). */
  INVALID_INPUT: createError('MRC_ERR_INVALID_INPUT', '%s', 422),
  /** Availability (fixed texts: shown even though >= 500) */
  QUEUE_FULL: createError('MRC_ERR_QUEUE_FULL', 'Inference queue is full, retry later', 503),
  MODEL_NOT_READY: createError('MRC_ERR_MODEL_NOT_READY', 'Model is not loaded or not warmed up yet', 503),
  SHUTTING_DOWN: createError('MRC_ERR_SHUTTING_DOWN', 'Server is shutting down', 503),
  /** Server faults (message hidden) */
  INFERENCE: createError('MRC_ERR_INFERENCE', 'Inference failed: %s', 500),
  INTERNAL: createError('MRC_ERR_INTERNAL', '%s', 500),
} as const;
/* eslint-enable @typescript-eslint/naming-convention */

/**
 * HTTP status of each typed error's code (src/failure.ts): the one place where the service's
 * errors become statuses. A code missing here is a 500.
 */
export const FAILURE_STATUS: Readonly<Record<string, number>> = {
  // input (src/pipeline/errors.ts, src/evaluation/errors.ts)
  MRC_ERR_EMPTY_BODY: 400,
  MRC_ERR_MULTIPART: 400,
  MRC_ERR_INVALID_JSON: 400,
  MRC_ERR_PAYLOAD_TOO_LARGE: 413,
  MRC_ERR_IMAGE_TOO_LARGE: 413,
  MRC_ERR_UNSUPPORTED_MEDIA_TYPE: 415,
  MRC_ERR_IMAGE_DECODE: 422,
  MRC_ERR_IMAGE_UNSUPPORTED: 422,
  // models (src/models/errors.ts) and the inference pool
  MRC_ERR_MODEL_NOT_FOUND: 404,
  MRC_ERR_MODEL_INVALID: 422,
  MRC_ERR_MODEL_CONFLICT: 409,
  MRC_ERR_MODEL_BUDGET: 409,
  MRC_ERR_CANARY_REFUSED: 409,
  MRC_ERR_CANARY_FAILED: 422,
  MRC_ERR_QUEUE_FULL: 503,
  MRC_ERR_MODEL_NOT_READY: 503,
  MRC_ERR_SHUTTING_DOWN: 503,
  MRC_ERR_INFERENCE: 500,
  // jobs (src/jobs/errors.ts)
  MRC_ERR_JOB_NOT_FOUND: 404,
  MRC_ERR_JOB_NOT_DONE: 409,
  // drift (src/drift/errors.ts)
  MRC_ERR_DRIFT_NO_DATA: 409,
  MRC_ERR_DRIFT_NO_REFERENCE: 404,
  MRC_ERR_JOB_CANCELLED: 409,
  MRC_ERR_TOO_MANY_JOBS: 429,
  MRC_ERR_JOB_ABANDONED: 500,
  // datasets, history, comparisons (src/evaluation/history-errors.ts)
  MRC_ERR_VALIDATION: 400,
  MRC_ERR_DATASET_NOT_FOUND: 404,
  MRC_ERR_DATASET_EXISTS: 409,
  MRC_ERR_DATASET_BUSY: 409,
  MRC_ERR_TOO_MANY_DATASETS: 409,
  MRC_ERR_NOT_COMPARABLE: 409,
};

/** 5xx codes whose catalog message is fixed text and may be shown to clients. */
const PUBLIC_5XX = new Set(['MRC_ERR_QUEUE_FULL', 'MRC_ERR_MODEL_NOT_READY', 'MRC_ERR_SHUTTING_DOWN', 'MRC_ERR_STORE_UNAVAILABLE', 'MRC_ERR_JOB_ABANDONED']);

/** Attaches the offending input path (e.g. `querystring.max_detections`) to an error. */
export function withField<E extends Error>(err: E, field: string): E & { field: string } {
  return Object.assign(err, { field });
}

/** Ajv instancePath `/a/0/b` → `a[0].b`. */
function jsonPointerToPath(pointer: string): string {
  let out = '';
  for (const seg of pointer.split('/').slice(1)) {
    const s = seg.replaceAll('~1', '/').replaceAll('~0', '~');
    out += /^\d+$/.test(s) ? `[${s}]` : out === '' ? s : `.${s}`;
  }
  return out;
}

interface AjvLikeError { instancePath?: string; params?: Record<string, unknown>; message?: string }

function validationField(err: FastifyError & { validation?: AjvLikeError[]; validationContext?: string }): string | null {
  const first = err.validation?.[0];
  const ctx = err.validationContext ?? 'body';
  if (!first) return ctx;
  let p = jsonPointerToPath(first.instancePath ?? '');
  const extra = first.params?.missingProperty ?? first.params?.additionalProperty;
  if (typeof extra === 'string') p = p === '' ? extra : `${p}.${extra}`;
  return p === '' ? ctx : `${ctx}.${p}`;
}

/**
 * Maps anything thrown to the status, catalog code, message and field of the response.
 * Exported for tests; the handler below is the only caller in the app.
 */
export function normalizeError(raw: unknown): { statusCode: number; code: string; message: string; field: string | null } {
  const err = (raw instanceof Error ? raw : new Error(String(raw))) as FastifyError & {
    field?: string; validation?: AjvLikeError[]; validationContext?: string;
  };
  if (err instanceof InputError) {
    return { statusCode: err.statusCode, code: 'MRC_ERR_INVALID_INPUT', message: err.message, field: err.path };
  }
  if (err instanceof Failure) {
    return { statusCode: FAILURE_STATUS[err.code] ?? 500, code: err.code, message: err.message, field: err.field };
  }
  if (err instanceof StoreUnavailableError) {
    // the store's own message may name hosts or files: a fixed text for clients (the log has the cause)
    return { statusCode: 503, code: err.code, message: 'The job store is unavailable, retry later', field: null };
  }
  if (err.validation) {
    return { statusCode: 400, code: 'MRC_ERR_VALIDATION', message: err.message, field: validationField(err) };
  }
  const field = typeof err.field === 'string' ? err.field : null;
  const code = typeof err.code === 'string' ? err.code : '';
  switch (code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return { statusCode: 415, code: 'MRC_ERR_UNSUPPORTED_MEDIA_TYPE', message: err.message, field: 'headers.content-type' };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { statusCode: 413, code: 'MRC_ERR_PAYLOAD_TOO_LARGE', message: err.message, field: field ?? 'body' };
    case 'FST_REQ_FILE_TOO_LARGE':
    case 'FST_FILES_LIMIT':
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return { statusCode: 413, code: 'MRC_ERR_PAYLOAD_TOO_LARGE', message: `multipart: ${err.message}`, field: field ?? 'body' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { statusCode: 400, code: 'MRC_ERR_EMPTY_BODY', message: err.message, field: 'body' };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { statusCode: 400, code: 'MRC_ERR_INVALID_JSON', message: err.message, field: 'body' };
    case 'FST_ERR_BAD_URL':
      return { statusCode: 400, code: 'MRC_ERR_BAD_REQUEST', message: err.message, field: 'url' };
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return { statusCode: 414, code: 'MRC_ERR_BAD_REQUEST', message: err.message, field: 'url' };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { statusCode: 400, code: 'MRC_ERR_BAD_REQUEST', message: err.message, field: 'headers.content-length' };
    case 'FST_PROTO_VIOLATION':
    case 'FST_MP_PREMATURE_CLOSE':
    case 'FST_INVALID_JSON_FIELD_ERROR':
      return { statusCode: 400, code: 'MRC_ERR_MULTIPART', message: err.message, field: field ?? 'body' };
    default:
      break;
  }
  // @fastify/busboy raises plain Errors (no code) for malformed multipart bodies: client errors.
  if (code === '' && /^(Multipart: Boundary not found|The needle cannot|Unexpected end of multipart data|\w+ terminated early due to unexpected end of multipart data)/.test(err.message)) {
    const header = /Boundary|needle/.test(err.message);
    return { statusCode: 400, code: 'MRC_ERR_MULTIPART', message: `multipart: ${err.message}`, field: header ? 'headers.content-type' : 'body' };
  }
  if (err instanceof SyntaxError && (err as { statusCode?: number }).statusCode === 400) {
    return { statusCode: 400, code: 'MRC_ERR_INVALID_JSON', message: err.message, field: 'body' };
  }
  const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode <= 599 ? err.statusCode : 500;
  if (code.startsWith('MRC_ERR_')) return { statusCode: status, code, message: err.message, field };
  if (status < 500) return { statusCode: status, code: 'MRC_ERR_BAD_REQUEST', message: err.message, field };
  return { statusCode: status, code: 'MRC_ERR_INTERNAL', message: err.message, field: null };
}

/** Builds the response body for a normalized error (hides messages of unexpected 5xx). */
export function errorBody(n: ReturnType<typeof normalizeError>, requestId: string): ErrorBody {
  const body: ErrorBody = {
    statusCode: n.statusCode,
    code: n.code,
    error: STATUS_CODES[n.statusCode] ?? 'Error',
    message: n.statusCode < 500 || PUBLIC_5XX.has(n.code) ? n.message : 'Internal Server Error',
    field: n.field,
  };
  if (n.statusCode >= 500) body.request_id = requestId;
  return body;
}

/** Seconds to wait that an error carries: `retryAfter` (typed errors, catalog errors), `retryAfterSeconds` (store). */
function retryAfterOf(err: unknown): unknown {
  const e = err as { retryAfter?: unknown; retryAfterSeconds?: unknown } | null;
  return e?.retryAfter ?? e?.retryAfterSeconds;
}

/** Retry-After of a 503 or 429: the error's own estimate (seconds), else any already set, else 1. */
function setRetryAfter(reply: FastifyReply, err: unknown): void {
  const s = retryAfterOf(err);
  if (typeof s === 'number' && Number.isFinite(s) && s > 0) reply.header('retry-after', String(Math.ceil(s)));
  else if (!reply.hasHeader('retry-after')) reply.header('retry-after', '1');
}

/** Sends an error in the catalog shape from anywhere (hooks that run before the handler). */
export function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const n = normalizeError(err);
  if (n.statusCode === 503 || n.statusCode === 429) setRetryAfter(reply, err);
  return reply.code(n.statusCode).type('application/json; charset=utf-8').send(errorBody(n, String(reply.request.id)));
}

/**
 * Installs the single error handler and the 404 handler. Logs 5xx at error level with request
 * context (method, url, query), 4xx at info.
 */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler(function errorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply) {
    const n = normalizeError(error);
    const ctx = { err: error, method: request.method, url: request.url, query: request.query, code: n.code };
    if (n.statusCode >= 500 && !PUBLIC_5XX.has(n.code)) request.log.error(ctx, 'request failed');
    else request.log.info({ code: n.code, field: n.field, statusCode: n.statusCode, reason: n.message }, 'request rejected');
    if (n.statusCode === 503 || n.statusCode === 429) setRetryAfter(reply, error);
    return reply.code(n.statusCode).type('application/json; charset=utf-8').send(errorBody(n, String(request.id)));
  });
  app.setNotFoundHandler(function notFound(request: FastifyRequest, reply: FastifyReply) {
    const path = request.url.split('?')[0] ?? request.url;
    return sendError(reply, new Errors.NOT_FOUND(request.method, path));
  });
}
