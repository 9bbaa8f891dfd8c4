/**
 * @file Errors of the evaluation-job API, in the catalog style of src/errors.ts (MRC_ERR_* codes,
 * @fastify/error): the common error handler turns them into `{statusCode, code, error, message,
 * field}` like every other error.
 */
import createError from '@fastify/error';

/* eslint-disable @typescript-eslint/naming-convention */
export const JobErrors = {
  /** Unknown or expired job id. */
  JOB_NOT_FOUND: createError('MRC_ERR_JOB_NOT_FOUND', 'No evaluation job "%s" (unknown, deleted or expired)', 404),
  /** The report of a job that is not done. */
  JOB_NOT_DONE: createError('MRC_ERR_JOB_NOT_DONE', 'Evaluation job "%s" is %s: the report exists once it is done', 409),
  /** Every job slot is taken. */
  TOO_MANY_JOBS: createError('MRC_ERR_TOO_MANY_JOBS', 'Too many evaluation jobs: %s', 429),
  /** The job was cancelled (internal: ends a running job between images). */
  CANCELLED: createError('MRC_ERR_JOB_CANCELLED', 'Evaluation job was cancelled', 409),
} as const;
/* eslint-enable @typescript-eslint/naming-convention */
