/**
 * Crash safety, for real: the server runs as a child process (`node --import tsx src/server.ts`,
 * test/robustness/helpers.ts), a model-mode job over 200 generated shapes images (the default model)
 * is submitted, the process is SIGKILLed once some images are recorded, and a new process started on
 * the same store resumes the job by itself from its last recorded image (no request but polling GET
 * /evaluations/{id}). Its result — `coco`, `voc`, `losses`, `counts`, `warnings` — deep-equals an
 * uninterrupted run's on the same images. SQLite (a DATA_DIR) here; the PostgreSQL variant runs with
 * the long tests (test/jobs/long/crash-postgres.long.ts, `npm run test:long`) from the same helper.
 */
import { after, before, describe, test } from 'node:test';
import { skipNoModel, tempDataDir } from '../robustness/helpers.js';
import { shapesDataset, type ShapesDataset } from '../support/shapes-dataset.js';
import { crashAndResume, uninterruptedRun, type JobEnd } from './crash-helpers.js';

describe('a job survives SIGKILL and resumes from its last recorded image (SQLite)', { skip: skipNoModel }, () => {
  let ds: ShapesDataset;
  let ref: JobEnd;
  before(async () => {
    ds = await shapesDataset(200, 20261129);
  });
  after(() => {});

  test('uninterrupted run (the reference)', async () => {
    ref = await uninterruptedRun(ds, { DATA_DIR: tempDataDir() });
  });

  test('SIGKILL after some images, restart on the same DATA_DIR: resumed by itself, same result', async (t) => {
    const dataDir = tempDataDir();
    const run = await crashAndResume(ds, { DATA_DIR: dataDir });
    t.diagnostic(`killed after ${run.doneAtKill} images (${run.storedAtRestart} recorded when the new process started); resumed to done in ${run.resumeSeconds.toFixed(1)} s`);
    run.assertSameAs(ref);
  });
});
