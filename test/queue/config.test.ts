/**
 * The queue's configuration (src/config.ts): JOBS_QUEUE picks pg-boss exactly when DATABASE_URL is
 * set (auto), refuses pgboss without a database, and QUEUE_BATCH_IMAGES / TASK_TIMEOUT_SECONDS /
 * DATABASE_POOL_MAX have their defaults and ranges.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';

const DB = 'postgres://u:p@db:5432/jobs';

test('JOBS_QUEUE: auto = pgboss with DATABASE_URL, local without; explicit choices; pgboss needs a database', () => {
  assert.equal(loadConfig({}).jobs.queue, 'local');
  assert.equal(loadConfig({ DATABASE_URL: DB }).jobs.queue, 'pgboss');
  assert.equal(loadConfig({ DATABASE_URL: DB, JOBS_QUEUE: 'local' }).jobs.queue, 'local');
  assert.equal(loadConfig({ DATABASE_URL: DB, JOBS_QUEUE: 'PGBOSS' }).jobs.queue, 'pgboss');
  assert.throws(() => loadConfig({ JOBS_QUEUE: 'pgboss' }), (e: unknown) => e instanceof ConfigError && e.variable === 'JOBS_QUEUE' && /DATABASE_URL/.test(e.message));
  assert.throws(() => loadConfig({ JOBS_QUEUE: 'redis' }), (e: unknown) => e instanceof ConfigError && e.variable === 'JOBS_QUEUE');
  assert.equal(loadConfig({}, ['--jobs-queue', 'local', '--database-url', DB]).jobs.queue, 'local');
});

test('QUEUE_BATCH_IMAGES, TASK_TIMEOUT_SECONDS and DATABASE_POOL_MAX: defaults and ranges', () => {
  assert.equal(loadConfig({}).databasePoolMax, 10);
  assert.equal(loadConfig({ DATABASE_POOL_MAX: '4' }).databasePoolMax, 4);
  assert.throws(() => loadConfig({ DATABASE_POOL_MAX: '0' }), (e: unknown) => e instanceof ConfigError && e.variable === 'DATABASE_POOL_MAX');
  const d = loadConfig({}).jobs;
  assert.equal(d.batchImages, 4);
  assert.equal(d.taskTimeoutMs, 300_000);
  assert.equal(loadConfig({ QUEUE_BATCH_IMAGES: '16', TASK_TIMEOUT_SECONDS: '60' }).jobs.batchImages, 16);
  assert.equal(loadConfig({ TASK_TIMEOUT_SECONDS: '60' }).jobs.taskTimeoutMs, 60_000);
  for (const [k, v] of [['QUEUE_BATCH_IMAGES', '0'], ['QUEUE_BATCH_IMAGES', 'four'], ['TASK_TIMEOUT_SECONDS', '1']] as const) {
    assert.throws(() => loadConfig({ [k]: v }), (e: unknown) => e instanceof ConfigError && e.variable === k, `${k}=${v}`);
  }
});
