/**
 * @file The SQLite engine: the conformance suite (conformance.ts) plus what only SQLite has — a
 * corrupt file, DATA_DIR creation, WAL, a full disk, the busy timeout, data surviving a reopen, and
 * claims from several threads (several connections on one file) never claiming a job twice.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { openStore, StoreCorruptError, StoreUnavailableError } from '../../src/store/index.js';
import { SQLITE_MIGRATIONS } from '../../src/store/migrations/sqlite/index.js';
import { openSqliteStore, SQLITE_FILE_NAME } from '../../src/store/sqlite.js';
import { storeConformance } from './conformance.js';

type Row = Record<string, unknown>;
interface RawDb { prepare(sql: string): { all(): Row[]; get(): Row | undefined }; exec(sql: string): void; close(): void }
const { DatabaseSync } = process.getBuiltinModule('node:sqlite') as unknown as { DatabaseSync: new (path: string) => RawDb };

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'store-sqlite-'));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Raw SQL on a database file, on its own connection. */
function rawQuery(file: string, sql: string): Row[] {
  const db = new DatabaseSync(file);
  try {
    return /^\s*select|^\s*pragma/i.test(sql) ? db.prepare(sql).all() : (db.exec(sql), []);
  } finally {
    db.close();
  }
}

describe('sqlite store', () => {
  storeConformance({
    async newDatabase() {
      const dataDir = tempDir();
      const file = join(dataDir, SQLITE_FILE_NAME);
      return {
        migrations: SQLITE_MIGRATIONS,
        open: (options = {}) => openSqliteStore({ dataDir, ...options }),
        query: async (sql) => rawQuery(file, sql),
      };
    },
  });

  test('a file of garbage bytes → StoreCorruptError naming the file', async () => {
    const dataDir = tempDir();
    const file = join(dataDir, SQLITE_FILE_NAME);
    writeFileSync(file, randomBytes(16 * 1024));
    const err = await openStore({ dataDir }).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof StoreCorruptError, `got ${String(err)}`);
    assert.equal(err.file, file);
    assert.ok(err.message.includes(file));
    assert.equal(err.code, 'MRC_ERR_STORE_CORRUPT');
  });

  test('DATA_DIR is created; the file is in WAL mode; data survives a reopen', async () => {
    const dataDir = join(tempDir(), 'nested', 'data');
    const store = await openStore({ dataDir });
    assert.equal(store.engine, 'sqlite');
    assert.equal(store.location, join(dataDir, SQLITE_FILE_NAME));
    const job = await store.createJob({ options: { a: 1 }, total: 1, input: { mode: 'model', annotations: {}, images: [{ index: 0, fileName: 'a.png', bytes: randomBytes(10) }] } });
    await store.close();
    assert.equal(rawQuery(store.location, 'PRAGMA journal_mode')[0]?.journal_mode, 'wal');
    assert.equal(rawQuery(store.location, 'PRAGMA auto_vacuum')[0]?.auto_vacuum, 2); // incremental
    const again = await openStore({ dataDir });
    assert.deepEqual((await again.getJob(job.id))?.options, { a: 1 });
    await again.close();
  });

  test('a DATA_DIR that cannot be created → StoreUnavailableError naming the file', async () => {
    const blocker = join(tempDir(), 'a-file');
    writeFileSync(blocker, 'not a directory');
    const err = await openStore({ dataDir: join(blocker, 'data') }).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof StoreUnavailableError, `got ${String(err)}`);
    assert.equal(err.reason, 'io');
    assert.ok(err.message.includes(join(blocker, 'data', SQLITE_FILE_NAME)), err.message);
  });

  test('a full disk (size cap reached) → StoreUnavailableError disk_full; the store keeps working', async () => {
    const dataDir = tempDir();
    const store = await openSqliteStore({ dataDir, maxBytes: 1024 * 1024 });
    const id = randomUUID();
    const err = await store.createJob({ id, options: {}, total: 1, input: { mode: 'model', annotations: {}, images: [{ index: 0, fileName: 'big.png', bytes: randomBytes(2 * 1024 * 1024) }] } })
      .then(() => null, (e: unknown) => e);
    assert.ok(err instanceof StoreUnavailableError, `got ${String(err)}`);
    assert.equal(err.reason, 'disk_full');
    assert.ok(err.retryAfterSeconds > 0);
    assert.equal(await store.getJob(id), null);
    const small = await store.createJob({ options: {}, total: 0, input: { mode: 'detections', groundTruth: {}, detections: [] } });
    assert.ok(await store.getJob(small.id));
    await store.close();
  });

  test('a write lock held by another connection past busy_timeout → StoreUnavailableError busy', async () => {
    const dataDir = tempDir();
    const store = await openSqliteStore({ dataDir, busyTimeoutMs: 100 });
    const other = new DatabaseSync(store.location);
    other.exec('BEGIN IMMEDIATE');
    try {
      const err = await store.createJob({ options: {}, total: 0, input: { mode: 'detections', groundTruth: {}, detections: [] } }).then(() => null, (e: unknown) => e);
      assert.ok(err instanceof StoreUnavailableError, `got ${String(err)}`);
      assert.equal(err.reason, 'busy');
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    await store.ping();
    assert.ok(await store.createJob({ options: {}, total: 0, input: { mode: 'detections', groundTruth: {}, detections: [] } }));
    await store.close();
  });

  test('4 threads with their own connections claim 120 jobs: each exactly once', async () => {
    const dataDir = tempDir();
    const store = await openSqliteStore({ dataDir });
    const ids = new Set<string>();
    for (let i = 0; i < 120; i++) ids.add((await store.createJob({ options: {}, total: 1, createdAt: i, input: { mode: 'detections', groundTruth: {}, detections: [] } })).id);
    const results = await Promise.all(['w1', 'w2', 'w3', 'w4'].map((name) => new Promise<string[]>((resolve, reject) => {
      const w = new Worker(new URL('./claim-worker.ts', import.meta.url), { workerData: { dataDir, name } });
      w.once('message', resolve);
      w.once('error', reject);
    })));
    const all = results.flat();
    assert.equal(all.length, 120, `claims per thread: ${results.map((r) => r.length).join(', ')}`);
    assert.deepEqual(new Set(all), ids);
    assert.deepEqual(await store.countByStatus(), { queued: 0, running: 120, done: 0, failed: 0, cancelled: 0 });
    await store.close();
  });
});
