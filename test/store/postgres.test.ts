/**
 * @file The PostgreSQL engine on a throwaway server (test/support/postgres.ts): the conformance
 * suite (conformance.ts), then faults — the server stopped (`pg_ctl stop -m immediate`) makes calls
 * reject with StoreUnavailableError without crashing the process (idle connections die too), and
 * the same store object works again once the server is back; an unreachable server at open.
 * Skipped, with the reason, when PostgreSQL cannot be started here.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { openStore, StoreUnavailableError, type Store } from '../../src/store/index.js';
import { POSTGRES_MIGRATIONS } from '../../src/store/migrations/postgres/index.js';
import { openPostgresStore, redactUrl } from '../../src/store/postgres.js';
import { postgresUnavailableReason, startPostgres, type PostgresServer } from '../support/postgres.js';
import { storeConformance } from './conformance.js';

const skip = postgresUnavailableReason();
if (skip) console.log(`# postgres store tests skipped: ${skip}`);

async function rawQuery(url: string, sql: string): Promise<Array<Record<string, unknown>>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as Array<Record<string, unknown>>;
  } finally {
    await client.end();
  }
}

describe('postgres store', { skip: skip ?? false }, () => {
  let server: PostgresServer;
  before(async () => {
    server = await startPostgres();
  });
  after(async () => {
    await server?.teardown();
  });

  storeConformance({
    async newDatabase() {
      const url = await server.createDatabase();
      return {
        migrations: POSTGRES_MIGRATIONS,
        open: (options = {}) => openPostgresStore({ url, ...options }),
        query: (sql) => rawQuery(url, sql),
      };
    },
  });

  test('openStore picks PostgreSQL when a DATABASE_URL is given; the password is not shown', async () => {
    const url = await server.createDatabase();
    const store = await openStore({ dataDir: '/nonexistent', databaseUrl: url });
    try {
      assert.equal(store.engine, 'postgres');
      await store.ping();
    } finally {
      await store.close();
    }
    assert.equal(redactUrl('postgres://u:secret@h:5/db'), 'postgres://u:***@h:5/db');
  });

  test('server stopped → StoreUnavailableError, no crash; server back → the same store works again', async () => {
    const url = await server.createDatabase();
    const idleErrors: Error[] = [];
    const store: Store = await openPostgresStore({ url, onError: (e) => idleErrors.push(e), connectTimeoutMs: 2000 });
    try {
      // fill the pool with idle connections that will die with the server
      const jobs = await Promise.all(Array.from({ length: 4 }, () => store.createJob({ options: {}, total: 0, input: { mode: 'detections', groundTruth: {}, detections: [] } })));
      await Promise.all(jobs.map((j) => store.getJob(j.id)));

      await server.stop('immediate');
      await new Promise((r) => setTimeout(r, 200)); // let idle connections notice
      for (const call of [store.ping(), store.getJob(jobs[0]!.id), store.claimNext('w', 1000),
        store.createJob({ options: {}, total: 0, input: { mode: 'detections', groundTruth: {}, detections: [] } })]) {
        const err = await call.then(() => null, (e: unknown) => e);
        assert.ok(err instanceof StoreUnavailableError, `got ${String(err)}`);
        assert.ok(['connection', 'starting'].includes(err.reason), err.reason);
        assert.ok(err.retryAfterSeconds >= 1);
        assert.equal(err.code, 'MRC_ERR_STORE_UNAVAILABLE');
      }

      await server.start();
      let ok = false;
      for (let i = 0; i < 20 && !ok; i++) {
        ok = await store.ping().then(() => true, () => false);
        if (!ok) await new Promise((r) => setTimeout(r, 250));
      }
      assert.ok(ok, 'ping recovers after the restart');
      assert.equal((await store.getJob(jobs[0]!.id))?.id, jobs[0]!.id, 'committed jobs survived the crash');
      const claimed = await store.claimNext('w', 60_000);
      assert.ok(claimed);
      assert.equal(await store.finishJob(claimed.id, { status: 'done', result: { ok: true }, leaseOwner: 'w', ttlMs: 1000 }), true);
    } finally {
      if (!server.running) await server.start();
      await store.close();
    }
  });

  test('an unreachable server at open → StoreUnavailableError', async () => {
    const port = server.port;
    await server.stop('fast');
    try {
      const err = await openPostgresStore({ url: `postgres://postgres@127.0.0.1:${port}/test`, connectTimeoutMs: 1000 }).then(() => null, (e: unknown) => e);
      assert.ok(err instanceof StoreUnavailableError, `got ${String(err)}`);
      assert.equal(err.reason, 'connection');
    } finally {
      await server.start();
    }
  });
});
