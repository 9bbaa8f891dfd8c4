/**
 * @file Typed errors of the durable store (src/store). Engine-neutral: both engines
 * (sqlite.ts, postgres.ts) translate their driver errors into these, so callers never look at
 * SQLite result codes or PostgreSQL SQLSTATEs. No HTTP here: the HTTP edge maps
 * {@link StoreUnavailableError} to 503 `MRC_ERR_STORE_UNAVAILABLE` with `Retry-After:
 * retryAfterSeconds`; the two others stop the process at start-up (docs/storage.md).
 *
 * Anything else a store method throws is a programming or input error (a constraint violation, a
 * value that is not JSON-serializable, a file that cannot be read) and is passed through as is.
 */

/** Options common to the store errors. */
interface StoreErrorOptions {
  cause?: unknown;
}

/** Base class: `instanceof StoreError` catches every store error. */
export abstract class StoreError extends Error {
  /** A stable machine-readable code (`MRC_ERR_STORE_*`). */
  abstract readonly code: string;
  constructor(message: string, options: StoreErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }
}

/**
 * The store cannot answer now but may later: connection refused or lost, server starting up or
 * shutting down, too many connections, disk full, I/O error, database locked beyond the busy
 * timeout. Retrying the same call after {@link retryAfterSeconds} is safe (every write of the
 * store is idempotent or transactional).
 */
export class StoreUnavailableError extends StoreError {
  override readonly name = 'StoreUnavailableError';
  readonly code = 'MRC_ERR_STORE_UNAVAILABLE';
  /**
   * @param reason short machine-readable reason (`connection`, `disk_full`, `io`, `busy`,
   *   `starting`, `closed`, `timeout`, `resources`)
   * @param retryAfterSeconds suggested wait before retrying (whole seconds, ≥ 1)
   */
  constructor(message: string, readonly reason: string, readonly retryAfterSeconds: number, options: StoreErrorOptions = {}) {
    super(message, options);
  }
}

/** The database file exists but is not a usable SQLite database (garbage bytes, truncated, damaged pages). */
export class StoreCorruptError extends StoreError {
  override readonly name = 'StoreCorruptError';
  readonly code = 'MRC_ERR_STORE_CORRUPT';
  /** @param file absolute path of the offending database file */
  constructor(readonly file: string, detail: string, options: StoreErrorOptions = {}) {
    super(`Database file ${file} is corrupt or not a SQLite database (${detail}); move it away or restore a backup (docs/storage.md)`, options);
  }
}

/**
 * The database has been migrated by a newer version of the service: its latest migration is
 * unknown to this code. Opening it would risk writing rows the newer schema does not expect, so the
 * store refuses to open; deploy the newer code (or restore a backup taken before the upgrade).
 */
export class SchemaTooNewError extends StoreError {
  override readonly name = 'SchemaTooNewError';
  readonly code = 'MRC_ERR_STORE_SCHEMA_TOO_NEW';
  /**
   * @param databaseVersion latest migration version recorded in the database
   * @param codeVersion latest migration version this code knows
   * @param where the database file or a redacted URL
   */
  constructor(readonly databaseVersion: number, readonly codeVersion: number, readonly where: string) {
    super(`Database ${where} has schema version ${databaseVersion}, newer than the ${codeVersion} this code knows; deploy the newer service version or restore a backup`);
  }
}

/** A `cursor` given to listJobs was not produced by listJobs. */
export class InvalidCursorError extends StoreError {
  override readonly name = 'InvalidCursorError';
  readonly code = 'MRC_ERR_STORE_INVALID_CURSOR';
  constructor(readonly cursor: string) {
    super(`Invalid list cursor "${cursor.length > 64 ? `${cursor.slice(0, 64)}…` : cursor}"`);
  }
}

/** No dataset with that id (or not the caller's). */
export class DatasetNotFoundError extends StoreError {
  override readonly name = 'DatasetNotFoundError';
  readonly code = 'MRC_ERR_DATASET_NOT_FOUND';
  constructor(readonly id: string) {
    super(`No dataset "${id}"`);
  }
}

/** The owner already has a dataset of that name. */
export class DatasetExistsError extends StoreError {
  override readonly name = 'DatasetExistsError';
  readonly code = 'MRC_ERR_DATASET_EXISTS';
  constructor(readonly datasetName: string) {
    super(`A dataset named "${datasetName}" exists already`);
  }
}

/** As many datasets as allowed are stored. */
export class DatasetLimitError extends StoreError {
  override readonly name = 'DatasetLimitError';
  readonly code = 'MRC_ERR_TOO_MANY_DATASETS';
  constructor(readonly max: number) {
    super(`${max} datasets are stored (DATASETS_MAX): delete one first`);
  }
}
