/**
 * The service when its job store fails, on the real model:
 * - a corrupt SQLite file at start-up: the real server process exits 1 with a message naming the file;
 * - a full disk (SQLite with a size cap): POST /evaluations gets 503 MRC_ERR_STORE_UNAVAILABLE with
 *   Retry-After, nothing is left of the refused job, /predict keeps serving;
 * - PostgreSQL stopped while a job runs: job requests get 503 + Retry-After, /predict answers 200,
 *   /health/ready stays 200 with `store.ok: false`, nothing crashes; PostgreSQL started again: the
 *   job routes answer again and the interrupted job resumes by itself to `done`.
 * Waits are for states; the PostgreSQL part is skipped (with the reason) when it cannot run here.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import type { Store } from '../../src/store/index.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { assertError, multipart, ROOT, shapesImage, testConfig, type Part } from '../helper.js';
import { skipNoModel, spawnServer, tempDataDir } from '../robustness/helpers.js';
import { postgresUnavailableReason, startPostgres, type PostgresServer } from '../support/postgres.js';

const FIX = join(ROOT, 'test/fixtures/losses');
const ANNOTATIONS = readFileSync(join(FIX, 'annotations.json'), 'utf8');
const FILES = (JSON.parse(ANNOTATIONS) as { images: Array<{ file_name: string }> }).images.map((i) => i.file_name);
const imagePart = (f: string): Part => ({ name: 'image', filename: f, data: readFileSync(join(FIX, 'images', f)), contentType: 'image/png' });
const modelBody = (files: string[]) => multipart([...files.map(imagePart), { name: 'annotations', data: ANNOTATIONS, filename: 'annotations.json', contentType: 'application/json' }]);

async function predictOk(app: FastifyInstance): Promise<void> {
  const res = await app.inject({ method: 'POST', url: '/predict', headers: { 'content-type': 'image/png' }, payload: await shapesImage() });
  assert.equal(res.statusCode, 200, res.body);
}

test('EXPECTED FAILURE - a corrupt SQLite file stops start-up with a message naming the file', { skip: skipNoModel }, async () => {
  const dataDir = tempDataDir();
  const file = join(dataDir, 'maskrcnn-serve.db');
  writeFileSync(file, Buffer.from('this is not a SQLite database, just garbage bytes '.repeat(200)));
  const srv = await spawnServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' }, false);
  const exit = await srv.exited;
  assert.equal(exit.code, 1, srv.output());
  assert.match(srv.output(), new RegExp(`job store cannot be opened: .*${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}.*corrupt`));
});

describe('disk full (SQLite size cap)', { skip: skipNoModel }, () => {
  let app: FastifyInstance;
  let store: Store;
  before(async () => {
    store = await openSqliteStore({ dataDir: tempDataDir(), maxBytes: 256 * 1024 });
    app = await buildApp(testConfig({ WARMUP: 'false' }), { logger: false, jobs: { store } });
  });
  after(async () => {
    await app?.close();
    await store?.close();
  });

  test('a job that does not fit: 503 MRC_ERR_STORE_UNAVAILABLE + Retry-After, nothing kept; /predict serves', async () => {
    const big = Buffer.alloc(200 * 1024, 7); // an image part the capped database cannot hold (not decoded before 202)
    const form = multipart([{ name: 'image', filename: FILES[0]!, data: Buffer.concat([readFileSync(join(FIX, 'images', FILES[0]!)), big]), contentType: 'image/png' }, { name: 'annotations', data: ANNOTATIONS }]);
    const res = await app.inject({ method: 'POST', url: '/evaluations', ...form });
    const body = assertError(res, 503, 'MRC_ERR_STORE_UNAVAILABLE', null);
    assert.equal(body.message, 'The job store is unavailable, retry later');
    assert.ok(Number(res.headers['retry-after']) >= 1);
    assert.equal((await app.jobs.store.listJobs()).jobs.length, 0, 'the refused job left nothing');
    await predictOk(app);
    const small = await app.inject({ method: 'POST', url: '/evaluations', ...modelBody(FILES.slice(0, 1)) });
    assert.equal(small.statusCode, 202, 'what fits is accepted');
  });
});

const pgSkip = skipNoModel || postgresUnavailableReason();
describe('PostgreSQL down while a job runs', { skip: pgSkip ?? false }, () => {
  let pg: PostgresServer;
  let app: FastifyInstance;
  before(async () => {
    pg = await startPostgres();
    const url = await pg.createDatabase();
    app = await buildApp(testConfig({ WARMUP: 'false', DATABASE_URL: url, JOBS_LEASE_SECONDS: '2' }), { logger: false, jobs: { pollMs: 200 } });
  });
  after(async () => {
    await app?.close();
    await pg?.teardown();
  });

  test('503 + Retry-After for job routes, /predict 200, ready reports the store; back up: the job resumes to done', async () => {
    const accepted = await app.inject({ method: 'POST', url: '/evaluations', ...modelBody(FILES) });
    assert.equal(accepted.statusCode, 202, accepted.body);
    const id = accepted.json().id as string;
    for (;;) { // until an image is recorded
      const j = (await app.inject({ url: `/evaluations/${id}` })).json();
      if (j.progress.images_done >= 1) break;
      await sleep(50);
    }
    await pg.stop('immediate');
    try {
      const get = await app.inject({ url: `/evaluations/${id}` });
      assertError(get, 503, 'MRC_ERR_STORE_UNAVAILABLE', null);
      assert.ok(Number(get.headers['retry-after']) >= 1);
      const post = await app.inject({ method: 'POST', url: '/evaluations', payload: { ground_truth: { images: [], categories: [] }, detections: [] } });
      assertError(post, 503, 'MRC_ERR_STORE_UNAVAILABLE', null);
      await predictOk(app);
      const ready = await app.inject({ url: '/health/ready' });
      assert.equal(ready.statusCode, 200);
      assert.deepEqual(ready.json().store, { engine: 'postgres', ok: false });
    } finally {
      await pg.start();
    }
    let job;
    for (;;) { // the job routes answer again, and the interrupted job is taken up again
      const res = await app.inject({ url: `/evaluations/${id}` });
      if (res.statusCode === 200 && res.json().finished_at !== null) { job = res.json(); break; }
      await sleep(100);
    }
    assert.equal(job.status, 'done', JSON.stringify(job.error));
    assert.equal(job.progress.images_done, FILES.length);
    assert.equal(job.result.images, FILES.length);
    assert.deepEqual((await app.inject({ url: '/health/ready' })).json().store, { engine: 'postgres', ok: true });
  });
});
