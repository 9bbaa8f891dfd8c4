/**
 * @file Typed errors of evaluation jobs (src/failure.ts): an unknown or expired job, the report of a
 * job that is not done, no free job slot, a job stopped by its cancellation, a job given up after too
 * many starts. src/errors.ts maps them to 404, 409, 429 (+ Retry-After) and 500.
 */
import { Failure } from '../failure.js';

/** Unknown, deleted or expired job id. */
export class JobNotFoundError extends Failure {
  override readonly name = 'JobNotFoundError';
  readonly code = 'MRC_ERR_JOB_NOT_FOUND';
  constructor(id: string, field: string | null = 'params.id') {
    super(`No evaluation job "${id}" (unknown, deleted or expired)`, { field });
  }
}

/** The report of a job that is not done. */
export class JobNotDoneError extends Failure {
  override readonly name = 'JobNotDoneError';
  readonly code = 'MRC_ERR_JOB_NOT_DONE';
  constructor(id: string, status: string) {
    super(`Evaluation job "${id}" is ${status}: the report exists once it is done`, { field: 'params.id' });
  }
}

/** Every job slot is taken (JOBS_MAX_CONCURRENT + JOBS_MAX_QUEUED, or JOBS_MAX_STORED). */
export class TooManyJobsError extends Failure {
  override readonly name = 'TooManyJobsError';
  readonly code = 'MRC_ERR_TOO_MANY_JOBS';
  constructor(detail: string) {
    super(`Too many evaluation jobs: ${detail}`, { retryAfter: 10 });
  }
}

/** Ends a running job between two steps once it was cancelled (never shown to clients). */
export class JobCancelledError extends Failure {
  override readonly name = 'JobCancelledError';
  readonly code = 'MRC_ERR_JOB_CANCELLED';
  constructor() {
    super('Evaluation job was cancelled');
  }
}

/** A job started too many times without finishing: it keeps killing or hanging its processes. */
export class JobAbandonedError extends Failure {
  override readonly name = 'JobAbandonedError';
  readonly code = 'MRC_ERR_JOB_ABANDONED';
  constructor(starts: number) {
    super(`Evaluation job was started ${starts} time${starts === 1 ? '' : 's'} without finishing (its process died or hung each time); it is not run again`);
  }
}
