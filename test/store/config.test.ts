/**
 * @file DATA_DIR and DATABASE_URL in the service configuration (src/config.ts): defaults, relative
 * paths, a CLI flag, and a bad URL refused without echoing it (it may hold a password).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';

test('DATA_DIR defaults to ./data; DATABASE_URL is optional', () => {
  const c = loadConfig({}, [], '/srv/app');
  assert.equal(c.dataDir, '/srv/app/data');
  assert.equal(c.databaseUrl, undefined);
  assert.equal(loadConfig({ DATA_DIR: 'var/db' }, [], '/srv/app').dataDir, '/srv/app/var/db');
  assert.equal(loadConfig({}, ['--data-dir', '/d'], '/srv/app').dataDir, '/d');
  assert.equal(loadConfig({ DATABASE_URL: 'postgres://u:p@db:5432/jobs' }).databaseUrl, 'postgres://u:p@db:5432/jobs');
  assert.equal(loadConfig({ DATABASE_URL: 'postgresql://db/jobs?sslmode=require' }).databaseUrl, 'postgresql://db/jobs?sslmode=require');
  assert.equal(loadConfig({ DATABASE_URL: '  ' }).databaseUrl, undefined);
});

test('a DATABASE_URL that is not a PostgreSQL URL is refused without showing it', () => {
  for (const bad of ['mysql://u:s3cret@db/x', 's3cret', 'postgres://u:s3cret@db']) {
    assert.throws(() => loadConfig({ DATABASE_URL: bad }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.variable, 'DATABASE_URL');
      assert.ok(!err.message.includes('s3cret'), err.message);
      return true;
    });
  }
});
