/**
 * @file Typed errors of drift (src/failure.ts): nothing to pin, no reference, an evaluation that
 * cannot be a reference. src/errors.ts maps them to 409, 404 and 404/409.
 */
import { Failure } from '../failure.js';

/** The selection a reference would be pinned from holds no prediction. */
export class DriftNoDataError extends Failure {
  override readonly name = 'DriftNoDataError';
  readonly code = 'MRC_ERR_DRIFT_NO_DATA';
  constructor(model: string, version: string, detail = 'no prediction in the selected window') {
    super(`Nothing to pin for ${model} ${version}: ${detail} (send /predict traffic first, or pin an evaluation)`, { field: 'body' });
  }
}

/** No reference is pinned for the model version. */
export class DriftReferenceNotFoundError extends Failure {
  override readonly name = 'DriftReferenceNotFoundError';
  readonly code = 'MRC_ERR_DRIFT_NO_REFERENCE';
  constructor(model: string, version: string) {
    super(`No drift reference is pinned for ${model} ${version}`, { field: 'querystring.model' });
  }
}

/** The evaluation (or data set) named as a reference cannot be used: unknown, or not done. */
export class DriftSourceError extends Failure {
  override readonly name = 'DriftSourceError';
  constructor(message: string, field: string, readonly code: 'MRC_ERR_JOB_NOT_FOUND' | 'MRC_ERR_JOB_NOT_DONE' | 'MRC_ERR_DATASET_NOT_FOUND') {
    super(message, { field });
  }
}
