/**
 * Crash safety on PostgreSQL (`npm run test:long`; a few minutes): the procedure of
 * test/jobs/crash.test.ts — a model-mode job over 200 generated shapes images on a real server
 * process, SIGKILLed after some images, resumed by a new process on the same database — with
 * DATABASE_URL pointing at a throwaway PostgreSQL (test/support/postgres.ts). The resumed result
 * (`coco`, `voc`, `losses`, `counts`, `warnings`) deep-equals an uninterrupted run's, also on
 * PostgreSQL. Skipped, with the reason, when PostgreSQL cannot be started here.
 */
import { after, before, describe, test } from 'node:test';
import { skipNoModel } from '../../robustness/helpers.js';
import { postgresUnavailableReason, startPostgres, type PostgresServer } from '../../support/postgres.js';
import { shapesDataset, type ShapesDataset } from '../../support/shapes-dataset.js';
import { crashAndResume, uninterruptedRun, type JobEnd } from '../crash-helpers.js';

const skip = skipNoModel || postgresUnavailableReason();

describe('a job survives SIGKILL and resumes from its last recorded image (PostgreSQL)', { skip: skip ?? false }, () => {
  let pg: PostgresServer;
  let ds: ShapesDataset;
  let ref: JobEnd;
  before(async () => {
    pg = await startPostgres({ fsync: true });
    ds = await shapesDataset(200, 20261129);
  });
  after(async () => {
    await pg?.teardown();
  });

  test('uninterrupted run (the reference)', async () => {
    ref = await uninterruptedRun(ds, { DATABASE_URL: await pg.createDatabase() });
  });

  test('SIGKILL after some images, restart on the same database: resumed by itself, same result', async (t) => {
    const run = await crashAndResume(ds, { DATABASE_URL: await pg.createDatabase() });
    t.diagnostic(`killed after ${run.doneAtKill} images (${run.storedAtRestart} recorded when the new process started); resumed to done in ${run.resumeSeconds.toFixed(1)} s`);
    run.assertSameAs(ref);
  });
});
