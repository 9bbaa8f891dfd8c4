/**
 * @file The base of the service's own typed errors. A part of the service (pipeline, models,
 * evaluation, jobs) says what went wrong with a subclass: a stable `code` (`MRC_ERR_*`), a message
 * for the user, the path of the offending input (`field`) when there is one, and, for errors that
 * pass, how long to wait (`retryAfter`, seconds). No HTTP status here: src/errors.ts maps codes to
 * statuses, in one table, at the edge. The pure cores (src/eval, src/losses) keep their own
 * `InputError`; the store (src/store) its `StoreError`s; both are mapped in the same place.
 */

/** Options of a {@link Failure}. */
export interface FailureOptions {
  /** Path of the offending input (`image[3]`, `annotations.images[2].width`). */
  field?: string | null;
  /** Seconds after which retrying may succeed (errors that pass). */
  retryAfter?: number;
  cause?: unknown;
}

/** Base class of the typed errors (see the file header). */
export abstract class Failure extends Error {
  /** Stable machine-readable code, e.g. `MRC_ERR_QUEUE_FULL`. */
  abstract readonly code: string;
  readonly field: string | null;
  readonly retryAfter: number | undefined;

  constructor(message: string, options: FailureOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.field = options.field ?? null;
    this.retryAfter = options.retryAfter;
  }
}
