/**
 * @file Typed errors of datasets, schedules, history and comparisons (src/failure.ts); src/errors.ts
 * maps their codes to 404 / 409 / 400.
 */
import { Failure } from '../failure.js';

/** Unknown dataset, or another owner's. */
export class DatasetNotFound extends Failure {
  override readonly name = 'DatasetNotFound';
  readonly code = 'MRC_ERR_DATASET_NOT_FOUND';
  constructor(id: string, field = 'params.id') {
    super(`No dataset "${id}"`, { field });
  }
}

/** The owner already has a dataset of that name. */
export class DatasetExists extends Failure {
  override readonly name = 'DatasetExists';
  readonly code = 'MRC_ERR_DATASET_EXISTS';
  constructor(name: string) {
    super(`A dataset named "${name}" exists already: delete it first or choose another name`, { field: 'name' });
  }
}

/** DATASETS_MAX datasets are stored. */
export class TooManyDatasets extends Failure {
  override readonly name = 'TooManyDatasets';
  readonly code = 'MRC_ERR_TOO_MANY_DATASETS';
  constructor(max: number) {
    super(`${max} datasets are stored (DATASETS_MAX): delete one first`);
  }
}

/** A dataset with an evaluation queued or running cannot be deleted. */
export class DatasetBusy extends Failure {
  override readonly name = 'DatasetBusy';
  readonly code = 'MRC_ERR_DATASET_BUSY';
  constructor(id: string) {
    super(`Dataset "${id}" has an evaluation queued or running: cancel it (DELETE /evaluations/{id}) or wait for it to end`, { field: 'params.id' });
  }
}

/** Two evaluations that cannot be compared (not of the same dataset, no per-image records). */
export class NotComparable extends Failure {
  override readonly name = 'NotComparable';
  readonly code = 'MRC_ERR_NOT_COMPARABLE';
  constructor(message: string, field: string) {
    super(message, { field });
  }
}

/** An evaluation that is not done where a done one is needed (comparison, baseline). */
export class EvaluationNotDone extends Failure {
  override readonly name = 'EvaluationNotDone';
  readonly code = 'MRC_ERR_JOB_NOT_DONE';
  constructor(id: string, status: string, field: string) {
    super(`Evaluation "${id}" is ${status}: only done evaluations can be used here`, { field });
  }
}

/** An invalid value given to a dataset route (cron expression, name, time range). */
export class HistoryInputError extends Failure {
  override readonly name = 'HistoryInputError';
  readonly code = 'MRC_ERR_VALIDATION';
  constructor(message: string, field: string) {
    super(message, { field });
  }
}
