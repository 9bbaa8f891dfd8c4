/**
 * @file Typed errors of the model registry (src/failure.ts): a model that is not loaded yet (or
 * whose worker is being replaced), a registry shutting down, a model name or version that is not
 * served. src/errors.ts maps them to 503 (+ Retry-After) and 404.
 */
import { Failure } from '../failure.js';

/** The model is loading, warming up, failed to load, or has no worker for a moment. */
export class ModelNotReadyError extends Failure {
  override readonly name = 'ModelNotReadyError';
  readonly code = 'MRC_ERR_MODEL_NOT_READY';
  constructor(retryAfter?: number) {
    super('Model is not loaded or not warmed up yet', retryAfter === undefined ? {} : { retryAfter });
  }
}

/** The registry (and with it the service) is shutting down. */
export class ShuttingDownError extends Failure {
  override readonly name = 'ShuttingDownError';
  readonly code = 'MRC_ERR_SHUTTING_DOWN';
  constructor() {
    super('Server is shutting down');
  }
}

/** No model of that name (or version) is served. */
export class ModelNotFoundError extends Failure {
  override readonly name = 'ModelNotFoundError';
  readonly code = 'MRC_ERR_MODEL_NOT_FOUND';
  constructor(name: string, version?: string, field: string | null = null) {
    super(version === undefined ? `No model named "${name}" is served here` : `No version "${version}" of model "${name}" is served here`, { field });
  }
}

/** A model version in the repository cannot be served: bad manifest, missing file, sha256 mismatch, graph or anchors check. */
export class ModelInvalidError extends Failure {
  override readonly name = 'ModelInvalidError';
  readonly code = 'MRC_ERR_MODEL_INVALID';
  constructor(message: string, field: string | null = null) {
    super(message, { field });
  }
}

/** The request conflicts with the model's state: already loaded or loading, unloading, or the default version. */
export class ModelConflictError extends Failure {
  override readonly name = 'ModelConflictError';
  readonly code = 'MRC_ERR_MODEL_CONFLICT';
  constructor(message: string, field: string | null = null) {
    super(message, { field });
  }
}

/** Loading the version would exceed the thread or memory budget of the loaded versions (MODEL_THREADS, MODEL_MEMORY_MB). */
export class ModelBudgetError extends Failure {
  override readonly name = 'ModelBudgetError';
  readonly code = 'MRC_ERR_MODEL_BUDGET';
  constructor(message: string) {
    super(message);
  }
}
