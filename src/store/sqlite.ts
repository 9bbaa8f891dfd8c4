/**
 * @file The SQLite engine of the store (node:sqlite `DatabaseSync`, built into Node ≥ 22.5): one file
 * `<DATA_DIR>/maskrcnn-serve.db`, for a single service process (several processes on the same host
 * and file also work: every write transaction is BEGIN IMMEDIATE and waits `busy_timeout`).
 *
 * Settings, applied at every open:
 * - `journal_mode=WAL`: readers never block the writer and a commit is one append to the WAL;
 * - `synchronous=FULL` (default): the WAL is fsynced at every commit, so a job whose createJob
 *   resolved (and got its 202) survives a power loss, not only a process crash (NORMAL would only
 *   lose the last commits on power loss, never corrupt). The cost is one fsync per commit, i.e. per
 *   image record, against tens of ms of inference per image (bench/store.ts measures it);
 *   `synchronous: 'NORMAL'` is an option for disks where that matters;
 * - `busy_timeout` (5 s): another process holding the write lock is waited for, then SQLITE_BUSY →
 *   StoreUnavailableError;
 * - `foreign_keys=ON`: deleting a job cascades to its inputs and records;
 * - `auto_vacuum=INCREMENTAL` (takes effect when the file is created): deleteExpired gives the pages
 *   of deleted images back to the file system.
 *
 * node:sqlite is synchronous. The calls are queued one after another on a promise chain, so a
 * transaction that awaits (createJob reads image files one at a time inside its transaction) is never
 * interleaved with another call on the same connection; every other call is one synchronous step.
 * Statements are prepared once and cached.
 */
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import { DatasetExistsError, DatasetLimitError, DatasetNotFoundError, StoreCorruptError, StoreUnavailableError } from './errors.js';
import { pendingMigrations, type Migration } from './migrations/index.js';
import { SQLITE_MIGRATIONS } from './migrations/sqlite/index.js';
import {
  checkIndex, checkLease, DATASET_COLUMNS, decodeCursor, keysetPage, HISTORY_COLUMNS, historySummary, JOB_COLUMNS, jsonOrNull, jsonText, pageLimit,
  statusCounts, statusList, SUMMARY_COLUMNS, SUMMARY_NUMBERS, summaryValues, toDataset, toHistoryRow, toJob, toSummary, UUID, type Row,
} from './rows.js';
import type {
  DatasetPage, DatasetScheduleUpdate, HistoryPage, HistoryQuery, ImageRecord, JobImageData, JobKind, JobOutcome, JobPage, JobProgress, ListJobsQuery, NewDataset,
  NewJob, StatusCounts, Store, StoredDataset, StoredJob, StoredJobInput,
} from './types.js';

/** The database file name under DATA_DIR. */
export const SQLITE_FILE_NAME = 'maskrcnn-serve.db';

/** Options of {@link openSqliteStore}. */
export interface SqliteStoreOptions {
  /** Directory of the database file (created if missing). */
  dataDir: string;
  /** File name under dataDir (default maskrcnn-serve.db). */
  fileName?: string;
  /** Wait this long for another process's write lock before failing (default 5000 ms). */
  busyTimeoutMs?: number;
  /** PRAGMA synchronous (default FULL; see the file comment). */
  synchronous?: 'FULL' | 'NORMAL';
  /** Cap of the database size in bytes (PRAGMA max_page_count); writes beyond → StoreUnavailableError `disk_full`. */
  maxBytes?: number;
  /** Migrations to apply (tests; default the shipped ones). */
  migrations?: readonly Migration[];
}

// The part of node:sqlite used here. Typed locally so the code does not depend on the @types/node
// version (node:sqlite's types appeared in @types/node 22); loaded with process.getBuiltinModule.
type SqlValue = null | number | bigint | string | Uint8Array;
interface Statement {
  run(...params: SqlValue[]): { changes: number | bigint };
  get(...params: SqlValue[]): Row | undefined;
  all(...params: SqlValue[]): Row[];
}
interface Database {
  exec(sql: string): void;
  prepare(sql: string): Statement;
  close(): void;
}
interface SqliteModule {
  DatabaseSync: new (path: string, options?: { timeout?: number; enableForeignKeyConstraints?: boolean }) => Database;
}

function sqliteModule(): SqliteModule {
  const mod = process.getBuiltinModule('node:sqlite') as unknown as SqliteModule | undefined;
  if (!mod) throw new Error(`node:sqlite is not available in Node ${process.version} (needs Node >= 22.5)`);
  return mod;
}

/** SQLite primary result codes (the low byte of node:sqlite's `errcode`). */
const SQLITE = { BUSY: 5, LOCKED: 6, NOMEM: 7, READONLY: 8, IOERR: 10, CORRUPT: 11, FULL: 13, CANTOPEN: 14, PROTOCOL: 15, NOTADB: 26 } as const;

/** Driver error → store error (or the error itself when it is not about availability). */
export function mapSqliteError(err: unknown, file: string): unknown {
  if (!(err instanceof Error)) return err;
  if (err.name.startsWith('Store') || err.name === 'SchemaTooNewError' || err.name === 'InvalidCursorError') return err;
  const e = err as Error & { code?: string; errcode?: number };
  if (e.code === 'ERR_INVALID_STATE' && /not open/i.test(e.message)) return new StoreUnavailableError('The store is closed', 'closed', 5, { cause: err });
  // creating DATA_DIR or reading an image file for createJob
  if (e.code === 'ENOSPC' || e.code === 'EDQUOT') return new StoreUnavailableError(`No space left for ${file} (${e.message})`, 'disk_full', 60, { cause: err });
  if (['EACCES', 'EROFS', 'EPERM', 'ENOTDIR', 'EEXIST'].includes(String(e.code)) && 'syscall' in e && /mkdir/.test(String(e.syscall))) {
    return new StoreUnavailableError(`Cannot create the directory of ${file} (${e.message})`, 'io', 30, { cause: err });
  }
  if (e.code !== 'ERR_SQLITE_ERROR' || typeof e.errcode !== 'number') return err;
  switch (e.errcode & 0xff) {
    case SQLITE.BUSY:
    case SQLITE.LOCKED:
      return new StoreUnavailableError(`Database ${file} is locked by another connection (${e.message})`, 'busy', 1, { cause: err });
    case SQLITE.FULL:
      return new StoreUnavailableError(`Database ${file} is full: disk full or its size cap reached (${e.message})`, 'disk_full', 60, { cause: err });
    case SQLITE.IOERR:
    case SQLITE.CANTOPEN:
    case SQLITE.PROTOCOL:
    case SQLITE.READONLY:
    case SQLITE.NOMEM:
      return new StoreUnavailableError(`Database ${file} cannot be read or written (${e.message})`, 'io', 5, { cause: err });
    case SQLITE.CORRUPT:
    case SQLITE.NOTADB:
      return new StoreCorruptError(file, e.message, { cause: err });
    default:
      return err;
  }
}

/**
 * Opens (creating if needed) `<dataDir>/maskrcnn-serve.db` and applies pending migrations.
 * @throws StoreCorruptError when the file is not a SQLite database; SchemaTooNewError; StoreUnavailableError
 */
export async function openSqliteStore(options: SqliteStoreOptions): Promise<SqliteStore> {
  const dir = resolve(options.dataDir);
  const file = join(dir, options.fileName ?? SQLITE_FILE_NAME);
  let db: Database | undefined;
  try {
    mkdirSync(dir, { recursive: true });
    const { DatabaseSync } = sqliteModule();
    db = new DatabaseSync(file, { timeout: options.busyTimeoutMs ?? 5000, enableForeignKeyConstraints: true });
    db.exec('PRAGMA auto_vacuum = INCREMENTAL'); // only effective before the first table exists
    const mode = db.prepare('PRAGMA journal_mode = WAL').get();
    if (String(mode?.journal_mode).toLowerCase() !== 'wal') throw new Error(`${file}: cannot switch to WAL mode (got ${String(mode?.journal_mode)})`);
    db.exec(`PRAGMA synchronous = ${options.synchronous === 'NORMAL' ? 'NORMAL' : 'FULL'}`);
    db.exec('PRAGMA foreign_keys = ON');
    if (options.maxBytes !== undefined) {
      const pageSize = Number(db.prepare('PRAGMA page_size').get()?.page_size ?? 4096);
      db.prepare(`PRAGMA max_page_count = ${Math.max(1, Math.floor(options.maxBytes / pageSize))}`).get();
    }
    migrate(db, options.migrations ?? SQLITE_MIGRATIONS, file);
    return new SqliteStore(db, file);
  } catch (err) {
    try { db?.close(); } catch { /* already failed */ }
    throw mapSqliteError(err, file);
  }
}

/** Applies pending migrations in one IMMEDIATE transaction (concurrent openers wait for each other). */
function migrate(db: Database, migrations: readonly Migration[], file: string): void {
  db.exec('BEGIN IMMEDIATE');
  try {
    db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    const current = Number(db.prepare('SELECT coalesce(max(version), 0) AS v FROM schema_migrations').get()?.v ?? 0);
    const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    for (const m of pendingMigrations(migrations, current, file)) {
      db.exec(m.sql);
      record.run(m.version, m.name, Date.now());
    }
    db.exec('COMMIT');
  } catch (err) {
    try { db.exec('ROLLBACK'); } catch { /* no transaction left */ }
    throw err;
  }
}

const json = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : v);
const changed = (r: { changes: number | bigint }): boolean => Number(r.changes) > 0;
const normId = (id: string): string | null => (UUID.test(id) ? id.toLowerCase() : null);

/** The SQLite {@link Store}. Create with {@link openSqliteStore}. */
export class SqliteStore implements Store {
  readonly engine = 'sqlite' as const;
  private readonly stmts = new Map<string, Statement>();
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

  /** @internal use openSqliteStore */
  constructor(private readonly db: Database, readonly location: string) {}

  /** The prepared statement of `sql` (prepared on first use). */
  private s(sql: string): Statement {
    let st = this.stmts.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.stmts.set(sql, st);
    }
    return st;
  }

  /** Runs `fn` after every earlier call, with driver errors mapped. */
  private run<T>(fn: () => T | Promise<T>): Promise<T> {
    const p = this.tail.then(() => {
      if (this.closed) throw new StoreUnavailableError('The store is closed', 'closed', 5);
      return fn();
    }).catch((err: unknown) => { throw mapSqliteError(err, this.location); });
    this.tail = p.catch(() => undefined);
    return p;
  }

  /** BEGIN IMMEDIATE … COMMIT around a synchronous `fn` (ROLLBACK when it throws). */
  private tx<T>(fn: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const out = fn();
      this.db.exec('COMMIT');
      return out;
    } catch (err) {
      this.rollback();
      throw err;
    }
  }

  private rollback(): void {
    try { this.db.exec('ROLLBACK'); } catch { /* SQLite may have rolled back already */ }
  }

  private jobRow(id: string, now: number): StoredJob | null {
    const row = this.s(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ? AND (expires_at IS NULL OR expires_at > ?)`).get(id, now);
    return row ? toJob(row, json) : null;
  }

  createJob(job: NewJob): Promise<StoredJob> {
    const id = normId(job.id ?? randomUUID());
    if (!id) return Promise.reject(new TypeError(`job id must be a UUID (got "${job.id}")`));
    if (!Number.isSafeInteger(job.total) || job.total < 0) return Promise.reject(new RangeError(`total must be a non-negative integer (got ${job.total})`));
    const createdAt = job.createdAt ?? Date.now();
    const input = job.input;
    const datasetKey = input.mode === 'dataset' ? normId(job.datasetId ?? '') : null;
    return this.run(async () => {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        let total = job.total;
        if (input.mode === 'dataset') {
          const ds = datasetKey ? this.s('SELECT image_count FROM datasets WHERE id = ?').get(datasetKey) : undefined;
          if (!ds) throw new DatasetNotFoundError(String(job.datasetId));
          total = Number(ds.image_count);
        }
        this.s(`INSERT INTO jobs (id, owner, model_name, model_version, dataset_id, mode, status, options, progress_phase, progress_total, created_at,
                  history, model_sha256, trigger)
                VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, 'queued', ?, ?, ?, ?, ?)`)
          .run(id, job.owner ?? null, job.modelName ?? null, job.modelVersion ?? null, datasetKey ?? job.datasetId ?? null, input.mode === 'dataset' ? 'model' : input.mode,
            jsonText(job.options), total, createdAt, input.mode === 'dataset' ? 1 : 0, job.modelSha256 ?? null, job.trigger ?? null);
        if (input.mode === 'dataset') {
          // nothing copied: the inputs are read from the dataset
        } else if (input.mode === 'model') {
          this.s('INSERT INTO job_inputs (job_id, annotations) VALUES (?, ?)').run(id, jsonText(input.annotations));
          const insert = this.s('INSERT INTO job_images (job_id, image_index, file_name, field, size, bytes) VALUES (?, ?, ?, ?, ?, ?)');
          for await (const img of input.images) {
            checkIndex(img.index);
            const bytes = img.bytes ?? (img.path !== undefined ? await readFile(img.path) : undefined);
            if (!bytes) throw new TypeError(`image ${img.index} ("${img.fileName}") has neither bytes nor path`);
            insert.run(id, img.index, img.fileName, img.field ?? null, bytes.byteLength, bytes);
          }
        } else {
          this.s('INSERT INTO job_inputs (job_id, ground_truth, detections) VALUES (?, ?, ?)').run(id, jsonText(input.groundTruth), jsonText(input.detections));
        }
        this.db.exec('COMMIT');
      } catch (err) {
        this.rollback();
        throw err;
      }
      return this.jobRow(id, createdAt)!;
    });
  }

  getJob(id: string, now = Date.now()): Promise<StoredJob | null> {
    const key = normId(id);
    return this.run(() => (key ? this.jobRow(key, now) : null));
  }

  getReport(id: string, now = Date.now()): Promise<unknown> {
    const key = normId(id);
    return this.run(() => {
      if (!key) return null;
      const row = this.s('SELECT report FROM jobs WHERE id = ? AND (expires_at IS NULL OR expires_at > ?)').get(key, now);
      return row?.report === null || row?.report === undefined ? null : json(row.report);
    });
  }

  listJobs(query: ListJobsQuery = {}): Promise<JobPage> {
    let limit: number;
    let statuses: string[] | undefined;
    let cursor: { createdAt: number; id: string } | undefined;
    try {
      limit = pageLimit(query.limit);
      statuses = statusList(query.status);
      cursor = query.cursor ? decodeCursor(query.cursor) : undefined;
    } catch (err) {
      return Promise.reject(err);
    }
    const where = ['(expires_at IS NULL OR expires_at > ?)'];
    const params: SqlValue[] = [query.now ?? Date.now()];
    if (query.owner !== undefined) { where.push('owner = ?'); params.push(query.owner); }
    if (query.modelName !== undefined) { where.push('model_name = ?'); params.push(query.modelName); }
    if (query.datasetId !== undefined) { where.push('dataset_id = ?'); params.push(query.datasetId); }
    if (statuses) { where.push(`status IN (${statuses.map(() => '?').join(', ')})`); params.push(...statuses); }
    if (query.kind) where.push(query.kind === 'history' ? 'history = 1' : 'history = 0');
    if (cursor) { where.push('(created_at < ? OR (created_at = ? AND id < ?))'); params.push(cursor.createdAt, cursor.createdAt, cursor.id); }
    params.push(limit + 1);
    const sql = `SELECT ${SUMMARY_COLUMNS} FROM jobs WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT ?`;
    return this.run(() => {
      const rows = this.s(sql).all(...params);
      const { items: jobs, nextCursor } = keysetPage(rows, limit, (r) => toSummary(r, json));
      return { jobs, nextCursor };
    });
  }

  countByStatus(kind?: JobKind): Promise<StatusCounts> {
    const where = kind === undefined ? '' : kind === 'history' ? 'WHERE history = 1 ' : 'WHERE history = 0 ';
    return this.run(() => statusCounts(this.s(`SELECT status, count(*) AS n FROM jobs ${where}GROUP BY status`).all()));
  }

  private static readonly CLAIM_SET = `SET status = 'running', lease_owner = ?, lease_expires_at = ?, started_at = coalesce(started_at, ?), attempts = attempts + 1`;
  private static readonly CLAIMABLE = `status IN ('queued', 'running') AND (status = 'queued' OR lease_expires_at <= ?)`;

  claimNext(leaseOwner: string, leaseMs: number, now = Date.now()): Promise<StoredJob | null> {
    return this.run(() => {
      checkLease(leaseMs);
      // One statement = one write transaction: SQLite takes the write lock before the sub-select
      // reads, so two connections (or processes) can never claim the same row.
      const row = this.s(`UPDATE jobs ${SqliteStore.CLAIM_SET}
        WHERE id = (SELECT id FROM jobs WHERE ${SqliteStore.CLAIMABLE} ORDER BY created_at, id LIMIT 1)
        RETURNING ${JOB_COLUMNS}`).get(leaseOwner, now + leaseMs, now, now);
      return row ? toJob(row, json) : null;
    });
  }

  claimJob(id: string, leaseOwner: string, leaseMs: number, now = Date.now()): Promise<StoredJob | null> {
    const key = normId(id);
    return this.run(() => {
      checkLease(leaseMs);
      if (!key) return null;
      const row = this.s(`UPDATE jobs ${SqliteStore.CLAIM_SET} WHERE id = ? AND ${SqliteStore.CLAIMABLE} RETURNING ${JOB_COLUMNS}`)
        .get(leaseOwner, now + leaseMs, now, key, now);
      return row ? toJob(row, json) : null;
    });
  }

  renewLease(id: string, leaseOwner: string, leaseMs: number, now = Date.now()): Promise<boolean> {
    const key = normId(id);
    return this.run(() => {
      checkLease(leaseMs);
      return !!key && changed(this.s(`UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND status = 'running' AND lease_owner = ?`)
        .run(now + leaseMs, key, leaseOwner));
    });
  }

  updateProgress(id: string, leaseOwner: string, p: JobProgress): Promise<boolean> {
    const key = normId(id);
    return this.run(() => !!key && changed(this.s(`UPDATE jobs SET progress_phase = ?, progress_done = ?, progress_total = ?, progress_image_ms = ?
      WHERE id = ? AND status = 'running' AND lease_owner = ?`).run(p.phase, p.done, p.total, p.imageMs, key, leaseOwner)));
  }

  finishJob(id: string, o: JobOutcome): Promise<boolean> {
    const key = normId(id);
    const now = o.now ?? Date.now();
    const result = o.status === 'done' ? jsonOrNull(o.result) : null;
    const report = o.status === 'done' ? jsonOrNull(o.report) : null;
    const error = o.status === 'failed' ? jsonOrNull(o.error) : null;
    const summary = o.status === 'done' ? summaryValues(historySummary(o.result)) : summaryValues(historySummary(null));
    return this.run(() => !!key && this.tx(() => {
      const ok = changed(this.s(`UPDATE jobs SET status = ?, finished_at = ?, expires_at = CASE WHEN history = 1 THEN NULL ELSE ? END, progress_phase = 'finished',
          result = ?, error = ?, report = ?, lease_owner = NULL, lease_expires_at = NULL, ${SUMMARY_NUMBERS.map((c) => `${c} = ?`).join(', ')}, s_classes = ?
        WHERE id = ? AND status IN ('queued', 'running') AND (? IS NULL OR lease_owner = ?)`)
        .run(o.status, now, now + o.ttlMs, result, error, report, ...summary, key, o.leaseOwner, o.leaseOwner));
      if (ok && !o.keepImages) this.s('DELETE FROM job_images WHERE job_id = ?').run(key);
      return ok;
    }));
  }

  requestCancel(id: string, ttlMs: number, now = Date.now()): Promise<StoredJob | null> {
    const key = normId(id);
    return this.run(() => {
      if (!key) return null;
      return this.tx(() => {
        const cancelled = changed(this.s(`UPDATE jobs SET status = 'cancelled', cancel_requested = 1, finished_at = ?,
          expires_at = CASE WHEN history = 1 THEN NULL ELSE ? END, progress_phase = 'finished'
          WHERE id = ? AND status = 'queued'`).run(now, now + ttlMs, key));
        if (cancelled) this.s('DELETE FROM job_images WHERE job_id = ?').run(key);
        else this.s(`UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND status = 'running'`).run(key);
        return this.jobRow(key, now);
      });
    });
  }

  getJobInput(id: string): Promise<StoredJobInput | null> {
    const key = normId(id);
    return this.run(() => {
      if (!key) return null;
      const row = this.s(`SELECT j.mode, j.history, j.dataset_id, i.annotations, i.ground_truth, i.detections FROM jobs j LEFT JOIN job_inputs i ON i.job_id = j.id
        WHERE j.id = ?`).get(key);
      if (!row) return null;
      if (row.history === 1) {
        // a dataset evaluation: the dataset's annotations and images
        const ds = this.s('SELECT annotations FROM datasets WHERE id = ?').get(String(row.dataset_id));
        if (!ds) return null;
        const images = this.s('SELECT image_index, file_name, field, size FROM dataset_images WHERE dataset_id = ? ORDER BY image_index').all(String(row.dataset_id))
          .map((r) => ({ index: Number(r.image_index), fileName: String(r.file_name), field: r.field === null ? null : String(r.field), size: Number(r.size) }));
        return { mode: 'model', annotations: json(ds.annotations), images };
      }
      if (row.annotations === null && row.ground_truth === null) return null;
      if (row.mode === 'detections') return { mode: 'detections', groundTruth: json(row.ground_truth), detections: json(row.detections) };
      const images = this.s('SELECT image_index, file_name, field, size FROM job_images WHERE job_id = ? ORDER BY image_index').all(key)
        .map((r) => ({ index: Number(r.image_index), fileName: String(r.file_name), field: r.field === null ? null : String(r.field), size: Number(r.size) }));
      return { mode: 'model', annotations: json(row.annotations), images };
    });
  }

  getJobImage(id: string, index: number): Promise<JobImageData | null> {
    const key = normId(id);
    return this.run(() => {
      if (!key) return null;
      const r = this.s('SELECT image_index, file_name, field, size, bytes FROM job_images WHERE job_id = ? AND image_index = ?').get(key, index)
        ?? this.s(`SELECT di.image_index, di.file_name, di.field, di.size, di.bytes FROM jobs j JOIN dataset_images di ON di.dataset_id = j.dataset_id
          WHERE j.id = ? AND j.history = 1 AND di.image_index = ?`).get(key, index);
      return r ? { index: Number(r.image_index), fileName: String(r.file_name), field: r.field === null ? null : String(r.field), size: Number(r.size), bytes: r.bytes as Uint8Array } : null;
    });
  }

  putImageRecord(id: string, index: number, record: unknown, progress?: JobProgress): Promise<void> {
    const key = normId(id) ?? id; // a non-UUID id fails the foreign key below
    const isBytes = record instanceof Uint8Array;
    const text = isBytes ? null : jsonText(record);
    const bytes = isBytes ? record : null;
    return this.run(() => {
      checkIndex(index);
      const upsert = (): void => {
        this.s(`INSERT INTO image_records (job_id, image_index, record_json, record_bytes) VALUES (?, ?, ?, ?)
          ON CONFLICT (job_id, image_index) DO UPDATE SET record_json = excluded.record_json, record_bytes = excluded.record_bytes`)
          .run(key, index, text, bytes);
      };
      if (!progress) return upsert();
      this.tx(() => {
        upsert();
        this.s(`UPDATE jobs SET progress_phase = ?, progress_done = ?, progress_total = ?, progress_image_ms = ? WHERE id = ? AND status = 'running'`)
          .run(progress.phase, progress.done, progress.total, progress.imageMs, key);
      });
    });
  }

  listImageRecords(id: string, page: { after?: number; limit?: number } = {}): Promise<ImageRecord[]> {
    const key = normId(id);
    const limit = page.limit ?? 1000;
    if (!Number.isSafeInteger(limit) || limit < 1) return Promise.reject(new RangeError(`limit must be a positive integer (got ${limit})`));
    return this.run(() => (key ? this.s('SELECT image_index, record_json, record_bytes FROM image_records WHERE job_id = ? AND image_index > ? ORDER BY image_index LIMIT ?')
      .all(key, page.after ?? -1, limit)
      .map((r) => ({ index: Number(r.image_index), record: r.record_bytes !== null ? r.record_bytes as Uint8Array : JSON.parse(String(r.record_json)) })) : []));
  }

  doneImageIndices(id: string, range: { from?: number; to?: number } = {}): Promise<number[]> {
    const key = normId(id);
    return this.run(() => (key
      ? this.s('SELECT image_index FROM image_records WHERE job_id = ? AND image_index >= ? AND image_index < ? ORDER BY image_index')
        .all(key, range.from ?? 0, range.to ?? 2 ** 31 - 1).map((r) => Number(r.image_index))
      : []));
  }

  countImageRecords(id: string): Promise<number> {
    const key = normId(id);
    return this.run(() => (key ? Number(this.s('SELECT count(*) AS n FROM image_records WHERE job_id = ?').get(key)?.n ?? 0) : 0));
  }

  deleteJob(id: string): Promise<boolean> {
    const key = normId(id);
    return this.run(() => !!key && changed(this.s('DELETE FROM jobs WHERE id = ?').run(key)));
  }

  deleteExpired(now = Date.now()): Promise<number> {
    return this.run(() => {
      const n = Number(this.s('DELETE FROM jobs WHERE expires_at IS NOT NULL AND expires_at <= ?').run(now).changes);
      if (n > 0) this.db.exec('PRAGMA incremental_vacuum');
      return n;
    });
  }

  // --- drift references (migration 003, docs/drift.md)
  putDriftReference(ref: import('./types.js').DriftReferenceRecord): Promise<void> {
    return this.run(() => {
      this.s(`INSERT INTO drift_references (model, version, source, histograms, images, owner, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (model, version) DO UPDATE SET source = excluded.source, histograms = excluded.histograms, images = excluded.images,
        owner = excluded.owner, created_at = excluded.created_at`)
        .run(ref.model, ref.version, jsonText(ref.source), jsonText(ref.histograms), ref.images, ref.owner, ref.createdAt);
    });
  }

  getDriftReference(model: string, version: string): Promise<import('./types.js').DriftReferenceRecord | null> {
    return this.run(() => {
      const row = this.s('SELECT * FROM drift_references WHERE model = ? AND version = ?').get(model, version);
      return row ? driftRow(row) : null;
    });
  }

  listDriftReferences(): Promise<Array<import('./types.js').DriftReferenceRecord>> {
    return this.run(() => this.s('SELECT * FROM drift_references ORDER BY model, version').all().map(driftRow));
  }

  deleteDriftReference(model: string, version: string): Promise<boolean> {
    return this.run(() => changed(this.s('DELETE FROM drift_references WHERE model = ? AND version = ?').run(model, version)));
  }

  // ------------------------------------------------------------------ datasets and history

  createDataset(d: NewDataset): Promise<StoredDataset> {
    const id = normId(d.id ?? randomUUID());
    if (!id) return Promise.reject(new TypeError(`dataset id must be a UUID (got "${d.id}")`));
    const createdAt = d.createdAt ?? Date.now();
    const sch = d.schedule ?? { cron: null, model: null, version: null, auto: false, nextRunAt: null };
    return this.run(async () => {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        if (d.max !== undefined && Number(this.s('SELECT count(*) AS n FROM datasets').get()?.n ?? 0) >= d.max) throw new DatasetLimitError(d.max);
        if (this.s(`SELECT 1 AS x FROM datasets WHERE coalesce(owner, '') = ? AND name = ?`).get(d.owner ?? '', d.name)) throw new DatasetExistsError(d.name);
        const insert = this.s('INSERT INTO dataset_images (dataset_id, image_index, file_name, field, size, bytes) VALUES (?, ?, ?, ?, ?, ?)');
        this.s(`INSERT INTO datasets (id, owner, name, annotations, image_count, annotation_count, bytes, categories, created_at,
                  schedule_cron, schedule_model, schedule_version, auto, next_run_at)
                VALUES (?, ?, ?, ?, 0, ?, 0, ?, ?, ?, ?, ?, ?, ?)`)
          .run(id, d.owner ?? null, d.name, jsonText(d.annotations), d.annotationCount, jsonText(d.categories), createdAt,
            sch.cron, sch.model, sch.version, sch.auto ? 1 : 0, sch.nextRunAt);
        let n = 0;
        let bytesTotal = 0;
        for await (const img of d.images) {
          checkIndex(img.index);
          const bytes = img.bytes ?? (img.path !== undefined ? await readFile(img.path) : undefined);
          if (!bytes) throw new TypeError(`image ${img.index} ("${img.fileName}") has neither bytes nor path`);
          insert.run(id, img.index, img.fileName, img.field ?? null, bytes.byteLength, bytes);
          n++;
          bytesTotal += bytes.byteLength;
        }
        this.s('UPDATE datasets SET image_count = ?, bytes = ? WHERE id = ?').run(n, bytesTotal, id);
        this.db.exec('COMMIT');
      } catch (err) {
        this.rollback();
        throw err;
      }
      return this.datasetRow(id, undefined)!;
    });
  }

  private datasetRow(id: string, owner: string | null | undefined): StoredDataset | null {
    const row = typeof owner === 'string'
      ? this.s(`SELECT ${DATASET_COLUMNS}, (SELECT count(*) FROM jobs j WHERE j.dataset_id = d.id) AS n_evaluations FROM datasets d WHERE d.id = ? AND d.owner = ?`).get(id, owner)
      : this.s(`SELECT ${DATASET_COLUMNS}, (SELECT count(*) FROM jobs j WHERE j.dataset_id = d.id) AS n_evaluations FROM datasets d WHERE d.id = ?`).get(id);
    return row ? toDataset(row, json) : null;
  }

  getDataset(id: string, owner?: string | null): Promise<StoredDataset | null> {
    const key = normId(id);
    return this.run(() => (key ? this.datasetRow(key, owner) : null));
  }

  listDatasets(query: { owner?: string | null; limit?: number; cursor?: string | null } = {}): Promise<DatasetPage> {
    let limit: number;
    let cursor: { createdAt: number; id: string } | undefined;
    try {
      limit = pageLimit(query.limit);
      cursor = query.cursor ? decodeCursor(query.cursor) : undefined;
    } catch (err) {
      return Promise.reject(err);
    }
    const where = ['1 = 1'];
    const params: SqlValue[] = [];
    if (typeof query.owner === 'string') { where.push('d.owner = ?'); params.push(query.owner); }
    if (cursor) { where.push('(d.created_at < ? OR (d.created_at = ? AND d.id < ?))'); params.push(cursor.createdAt, cursor.createdAt, cursor.id); }
    params.push(limit + 1);
    const sql = `SELECT ${DATASET_COLUMNS}, (SELECT count(*) FROM jobs j WHERE j.dataset_id = d.id) AS n_evaluations FROM datasets d
      WHERE ${where.join(' AND ')} ORDER BY d.created_at DESC, d.id DESC LIMIT ?`;
    return this.run(() => {
      const rows = this.s(sql).all(...params);
      const { items: datasets, nextCursor } = keysetPage(rows, limit, (r) => toDataset(r, json));
      return { datasets, nextCursor };
    });
  }

  countDatasets(): Promise<number> {
    return this.run(() => Number(this.s('SELECT count(*) AS n FROM datasets').get()?.n ?? 0));
  }

  deleteDataset(id: string, owner?: string | null): Promise<'deleted' | 'busy' | 'missing'> {
    const key = normId(id);
    return this.run(() => {
      if (!key) return 'missing' as const;
      return this.tx(() => {
        if (!this.datasetRow(key, owner)) return 'missing' as const;
        if (this.s(`SELECT 1 AS x FROM jobs WHERE dataset_id = ? AND status IN ('queued', 'running') LIMIT 1`).get(key)) return 'busy' as const;
        this.s('DELETE FROM jobs WHERE dataset_id = ?').run(key);
        this.s('DELETE FROM datasets WHERE id = ?').run(key);
        return 'deleted' as const;
      });
    });
  }

  setDatasetSchedule(id: string, sch: DatasetScheduleUpdate, owner?: string | null): Promise<StoredDataset | null> {
    const key = normId(id);
    return this.run(() => {
      if (!key || !this.datasetRow(key, owner)) return null;
      this.s('UPDATE datasets SET schedule_cron = ?, schedule_model = ?, schedule_version = ?, auto = ?, next_run_at = ? WHERE id = ?')
        .run(sch.cron, sch.model, sch.version, sch.auto ? 1 : 0, sch.nextRunAt, key);
      return this.datasetRow(key, owner);
    });
  }

  setDatasetBaseline(id: string, jobId: string | null, owner?: string | null): Promise<StoredDataset | null> {
    const key = normId(id);
    const job = jobId === null ? null : normId(jobId);
    return this.run(() => {
      if (!key || !this.datasetRow(key, owner)) return null;
      this.s('UPDATE datasets SET baseline_job_id = ? WHERE id = ?').run(job, key);
      return this.datasetRow(key, owner);
    });
  }

  dueDatasets(now: number, limit = 100): Promise<StoredDataset[]> {
    return this.run(() => this.s(`SELECT ${DATASET_COLUMNS} FROM datasets d WHERE d.next_run_at IS NOT NULL AND d.next_run_at <= ? ORDER BY d.next_run_at LIMIT ?`)
      .all(now, limit).map((r) => toDataset(r, json)));
  }

  claimScheduledRun(id: string, expected: number, next: number | null, now: number): Promise<boolean> {
    const key = normId(id);
    return this.run(() => !!key && changed(this.s('UPDATE datasets SET next_run_at = ?, last_run_at = ? WHERE id = ? AND next_run_at = ?').run(next, now, key, expected)));
  }

  recordDatasetRun(id: string, outcome: { jobId: string | null; error: string | null }): Promise<void> {
    const key = normId(id);
    return this.run(() => {
      if (key) this.s('UPDATE datasets SET last_job_id = ?, last_error = ? WHERE id = ?').run(outcome.jobId, outcome.error, key);
    });
  }

  autoDatasets(modelName: string): Promise<StoredDataset[]> {
    return this.run(() => this.s(`SELECT ${DATASET_COLUMNS} FROM datasets d WHERE d.auto = 1 AND (d.schedule_model IS NULL OR d.schedule_model = ?) ORDER BY d.created_at`)
      .all(modelName).map((r) => toDataset(r, json)));
  }

  claimAutoRun(id: string, runKey: string): Promise<boolean> {
    const key = normId(id);
    return this.run(() => !!key && changed(this.s('UPDATE datasets SET auto_key = ? WHERE id = ? AND (auto_key IS NULL OR auto_key <> ?)').run(runKey, key, runKey)));
  }

  listHistory(query: HistoryQuery = {}): Promise<HistoryPage> {
    let limit: number;
    let cursor: { createdAt: number; id: string } | undefined;
    try {
      limit = pageLimit(query.limit);
      cursor = query.cursor ? decodeCursor(query.cursor) : undefined;
    } catch (err) {
      return Promise.reject(err);
    }
    const where = ['(j.expires_at IS NULL OR j.expires_at > ?)'];
    const params: SqlValue[] = [query.now ?? Date.now()];
    if (typeof query.owner === 'string') { where.push('j.owner = ?'); params.push(query.owner); }
    if (query.id !== undefined) { where.push('j.id = ?'); params.push(normId(query.id) ?? ''); }
    if (query.modelName !== undefined) { where.push('j.model_name = ?'); params.push(query.modelName); }
    if (query.modelVersion !== undefined) { where.push('j.model_version = ?'); params.push(query.modelVersion); }
    if (query.datasetId !== undefined) { where.push('j.dataset_id = ?'); params.push(normId(query.datasetId) ?? query.datasetId); }
    if (query.status !== undefined) { where.push('j.status = ?'); params.push(query.status); }
    if (query.since !== undefined) { where.push('j.created_at >= ?'); params.push(query.since); }
    if (query.until !== undefined) { where.push('j.created_at < ?'); params.push(query.until); }
    if (cursor) { where.push('(j.created_at < ? OR (j.created_at = ? AND j.id < ?))'); params.push(cursor.createdAt, cursor.createdAt, cursor.id); }
    params.push(limit + 1);
    const sql = `SELECT ${HISTORY_COLUMNS}${query.classes ? ', j.s_classes' : ''} FROM jobs j LEFT JOIN datasets d ON d.id = j.dataset_id
      WHERE ${where.join(' AND ')} ORDER BY j.created_at DESC, j.id DESC LIMIT ?`;
    return this.run(() => {
      const found = this.s(sql).all(...params);
      const { items: rows, nextCursor } = keysetPage(found, limit, (r) => toHistoryRow(r, json));
      return { rows, nextCursor };
    });
  }

  ping(): Promise<void> {
    return this.run(() => {
      this.s('SELECT 1 AS ok').get();
    });
  }

  close(): Promise<void> {
    const p = this.tail.then(() => {
      if (this.closed) return;
      this.closed = true;
      this.stmts.clear();
      this.db.close();
    });
    this.tail = p.catch(() => undefined);
    return p;
  }
}

/** A drift_references row (JSON columns are TEXT here). */
function driftRow(row: Row): import('./types.js').DriftReferenceRecord {
  return {
    model: String(row.model), version: String(row.version), source: json(row.source), histograms: json(row.histograms),
    images: Number(row.images), owner: row.owner === null || row.owner === undefined ? null : String(row.owner), createdAt: Number(row.created_at),
  };
}
