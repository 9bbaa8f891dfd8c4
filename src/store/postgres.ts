/**
 * @file The PostgreSQL engine of the store (driver `pg`, one Pool per store), for several replicas
 * sharing one database, or a managed database with its own backups. DATABASE_URL is a libpq-style
 * URL (`postgres://user:pass@host:5432/db?sslmode=require`).
 *
 * Failure behaviour:
 * - connection refused / lost / timed out, server starting up or shutting down, too many
 *   connections, disk full → {@link StoreUnavailableError} (retry after `retryAfterSeconds`);
 * - the pool survives a server restart: a broken connection is dropped from the pool and the next
 *   call opens a new one; a pool 'error' handler is always attached, so an idle connection dying
 *   (server restart, network cut) never crashes the process (`onError` gets it, e.g. to log it);
 * - a connection checked out for a transaction also gets an 'error' listener while it is out.
 *
 * Claims are `UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED) RETURNING …`: concurrent
 * claimants (connections, processes, replicas) each lock a different row and never wait for each
 * other. Migrations run in one transaction under a transaction-level advisory lock, so replicas
 * starting together apply them once.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import type { Pool, PoolClient, QueryConfig } from 'pg';
import { DatasetExistsError, DatasetLimitError, DatasetNotFoundError, StoreUnavailableError } from './errors.js';
import { pendingMigrations, type Migration } from './migrations/index.js';
import { POSTGRES_MIGRATIONS } from './migrations/postgres/index.js';
import {
  asBuffer, checkIndex, checkLease, DATASET_COLUMNS, decodeCursor, keysetPage, HISTORY_COLUMNS, historySummary, JOB_COLUMNS, jsonOrNull, jsonText,
  pageLimit, statusCounts, statusList, SUMMARY_COLUMNS, SUMMARY_NUMBERS, summaryValues, toDataset, toHistoryRow, toJob, toSummary, UUID, type Row,
} from './rows.js';
import type {
  DatasetPage, DatasetScheduleUpdate, HistoryPage, HistoryQuery, ImageRecord, JobImageData, JobKind, JobOutcome, JobPage, JobProgress, ListJobsQuery, NewDataset,
  NewJob, StatusCounts, Store, StoredDataset, StoredJob, StoredJobInput,
} from './types.js';

/** Options of {@link openPostgresStore}. */
export interface PostgresStoreOptions {
  /** DATABASE_URL. */
  url: string;
  /** Connections in the pool (default 10). */
  poolMax?: number;
  /** Give up opening a connection after this long → StoreUnavailableError (default 5000 ms). */
  connectTimeoutMs?: number;
  /** Server-side statement_timeout (default 30000 ms; 0 = none) → StoreUnavailableError `timeout`. */
  statementTimeoutMs?: number;
  /** Gets errors of idle connections (server restart, network cut); they are otherwise ignored. */
  onError?: (err: Error) => void;
  /** Migrations to apply (tests; default the shipped ones). */
  migrations?: readonly Migration[];
}

/** Key of the advisory lock taken while migrating (any fixed int8; "mrcnn" in ASCII). */
const MIGRATION_LOCK_KEY = '469853859438';

/** Node socket errors that mean "the server cannot be reached". */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  'ENETDOWN', 'EADDRNOTAVAIL', 'ENOENT',
]);
const CONNECTION_MESSAGES = /connection terminated|connection error|timeout exceeded when trying to connect|not queryable|connection ended|server closed the connection|terminating connection/i;

/** The URL without its password (for logs and errors). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres (unparsable DATABASE_URL)';
  }
}

/** Driver error → store error (or the error itself when it is not about availability). */
export function mapPgError(err: unknown, where: string): unknown {
  if (!(err instanceof Error)) return err;
  if (err.name.startsWith('Store') || err.name === 'SchemaTooNewError' || err.name === 'InvalidCursorError') return err;
  const code = (err as Error & { code?: unknown }).code;
  const unavailable = (reason: string, retry: number, what: string): StoreUnavailableError =>
    new StoreUnavailableError(`PostgreSQL ${where}: ${what} (${err.message})`, reason, retry, { cause: err });
  if (typeof code === 'string') {
    if (CONNECTION_CODES.has(code) || code.startsWith('08')) return unavailable('connection', 5, 'cannot connect or connection lost');
    if (code === '57P03') return unavailable('starting', 2, 'the server is starting up or shutting down');
    if (code.startsWith('57P')) return unavailable('connection', 5, 'the server terminated the connection');
    if (code === '57014') return unavailable('timeout', 2, 'statement timed out');
    if (code === '53100') return unavailable('disk_full', 60, 'disk full');
    if (code.startsWith('53')) return unavailable('resources', 5, 'insufficient resources (connections, memory)');
    if (code.startsWith('58')) return unavailable('io', 5, 'I/O error');
    if (code === '40001' || code === '40P01' || code === '55P03') return unavailable('busy', 1, 'conflicting transaction');
  }
  if (/cannot use a pool after calling end/i.test(err.message)) return new StoreUnavailableError('The store is closed', 'closed', 5, { cause: err });
  if (CONNECTION_MESSAGES.test(err.message)) return unavailable('connection', 5, 'connection lost');
  return err;
}

/**
 * Connects to `options.url` and applies pending migrations.
 * @throws StoreUnavailableError when the server cannot be reached; SchemaTooNewError
 */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  const where = redactUrl(options.url);
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolMax ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    statement_timeout: options.statementTimeoutMs ?? 30_000,
    application_name: 'maskrcnn-serve',
  });
  pool.on('error', (err) => options.onError?.(err));
  try {
    await migrate(pool, options.migrations ?? POSTGRES_MIGRATIONS, where);
  } catch (err) {
    await pool.end().catch(() => {});
    throw mapPgError(err, where);
  }
  return new PostgresStore(pool, where);
}

/** Runs `fn` in BEGIN … COMMIT on one pooled connection (ROLLBACK and error mapping on failure). */
async function transaction<T>(pool: Pool, where: string, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  let client: PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw mapPgError(err, where);
  }
  let broken: Error | undefined;
  const onError = (err: Error): void => { broken = err; };
  client.on('error', onError); // a checked-out connection has no pool listener: never let it crash the process
  try {
    await client.query('BEGIN');
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch((e: Error) => { broken ??= e; });
    const mapped = mapPgError(err, where);
    if (mapped instanceof StoreUnavailableError) broken ??= mapped;
    throw mapped;
  } finally {
    client.off('error', onError);
    client.release(broken); // a truthy argument destroys the connection instead of pooling it
  }
}

async function migrate(pool: Pool, migrations: readonly Migration[], where: string): Promise<void> {
  await transaction(pool, where, async (c) => {
    await c.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)');
    const current = Number((await c.query('SELECT coalesce(max(version), 0) AS v FROM schema_migrations')).rows[0]?.v ?? 0);
    for (const m of pendingMigrations(migrations, current, where)) {
      await c.query(m.sql);
      await c.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()]);
    }
  });
}

const json = (v: unknown): unknown => v; // pg parses json columns itself
/** Advisory lock key serialising dataset creation (the DATASETS_MAX cap and the name check). */
const DATASET_LOCK_KEY = '469853859439';
const normId = (id: string): string | null => (UUID.test(id) ? id.toLowerCase() : null);
const CLAIM_SET = `SET status = 'running', lease_owner = $1, lease_expires_at = $2, started_at = coalesce(started_at, $3), attempts = attempts + 1`;
const CLAIMABLE = `status IN ('queued', 'running') AND (status = 'queued' OR lease_expires_at <= $3)`;

/** The PostgreSQL {@link Store}. Create with {@link openPostgresStore}. */
export class PostgresStore implements Store {
  readonly engine = 'postgres' as const;
  private closed = false;

  /** @internal use openPostgresStore */
  constructor(private readonly pool: Pool, readonly location: string) {}

  /** One statement on any pooled connection; `name` makes it a prepared statement (per connection). */
  private async q(text: string, values: unknown[] = [], name?: string): Promise<Row[]> {
    if (this.closed) throw new StoreUnavailableError('The store is closed', 'closed', 5);
    const config: QueryConfig = name ? { name, text, values } : { text, values };
    try {
      return (await this.pool.query(config)).rows as Row[];
    } catch (err) {
      throw mapPgError(err, this.location);
    }
  }

  private tx<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('The store is closed', 'closed', 5));
    return transaction(this.pool, this.location, fn);
  }

  async createJob(job: NewJob): Promise<StoredJob> {
    const id = normId(job.id ?? randomUUID());
    if (!id) throw new TypeError(`job id must be a UUID (got "${job.id}")`);
    if (!Number.isSafeInteger(job.total) || job.total < 0) throw new RangeError(`total must be a non-negative integer (got ${job.total})`);
    const createdAt = job.createdAt ?? Date.now();
    const input = job.input;
    const datasetKey = input.mode === 'dataset' ? normId(job.datasetId ?? '') : null;
    return this.tx(async (c) => {
      let total = job.total;
      if (input.mode === 'dataset') {
        // FOR SHARE: the dataset cannot be deleted while this job is being created
        const ds = datasetKey ? (await c.query('SELECT image_count FROM datasets WHERE id = $1 FOR SHARE', [datasetKey])).rows[0] as Row | undefined : undefined;
        if (!ds) throw new DatasetNotFoundError(String(job.datasetId));
        total = Number(ds.image_count);
      }
      const rows = (await c.query({
        name: 'create_job',
        text: `INSERT INTO jobs (id, owner, model_name, model_version, dataset_id, mode, status, options, progress_phase, progress_total, created_at,
                 history, model_sha256, trigger)
               VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, 'queued', $8, $9, $10, $11, $12) RETURNING ${JOB_COLUMNS}`,
        values: [id, job.owner ?? null, job.modelName ?? null, job.modelVersion ?? null, datasetKey ?? job.datasetId ?? null, input.mode === 'dataset' ? 'model' : input.mode,
          jsonText(job.options), total, createdAt, input.mode === 'dataset', job.modelSha256 ?? null, job.trigger ?? null],
      })).rows as Row[];
      if (input.mode === 'dataset') {
        // nothing copied: the inputs are read from the dataset
      } else if (input.mode === 'model') {
        await c.query('INSERT INTO job_inputs (job_id, annotations) VALUES ($1, $2)', [id, jsonText(input.annotations)]);
        for await (const img of input.images) {
          checkIndex(img.index);
          const bytes = img.bytes ?? (img.path !== undefined ? await readFile(img.path) : undefined);
          if (!bytes) throw new TypeError(`image ${img.index} ("${img.fileName}") has neither bytes nor path`);
          await c.query({
            name: 'insert_image',
            text: 'INSERT INTO job_images (job_id, image_index, file_name, field, size, bytes) VALUES ($1, $2, $3, $4, $5, $6)',
            values: [id, img.index, img.fileName, img.field ?? null, bytes.byteLength, asBuffer(bytes)],
          });
        }
      } else {
        await c.query('INSERT INTO job_inputs (job_id, ground_truth, detections) VALUES ($1, $2, $3)', [id, jsonText(input.groundTruth), jsonText(input.detections)]);
      }
      return toJob(rows[0]!, json);
    });
  }

  async getJob(id: string, now = Date.now()): Promise<StoredJob | null> {
    const key = normId(id);
    if (!key) return null;
    const rows = await this.q(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1 AND (expires_at IS NULL OR expires_at > $2)`, [key, now], 'get_job');
    return rows[0] ? toJob(rows[0], json) : null;
  }

  async getReport(id: string, now = Date.now()): Promise<unknown> {
    const key = normId(id);
    if (!key) return null;
    const rows = await this.q('SELECT report FROM jobs WHERE id = $1 AND (expires_at IS NULL OR expires_at > $2)', [key, now], 'get_report');
    return rows[0]?.report ?? null;
  }

  async listJobs(query: ListJobsQuery = {}): Promise<JobPage> {
    const limit = pageLimit(query.limit);
    const statuses = statusList(query.status);
    const cursor = query.cursor ? decodeCursor(query.cursor) : undefined;
    const params: unknown[] = [query.now ?? Date.now()];
    const where = ['(expires_at IS NULL OR expires_at > $1)'];
    const p = (v: unknown): string => `$${params.push(v)}`;
    if (query.owner !== undefined) where.push(`owner = ${p(query.owner)}`);
    if (query.modelName !== undefined) where.push(`model_name = ${p(query.modelName)}`);
    if (query.datasetId !== undefined) where.push(`dataset_id = ${p(query.datasetId)}`);
    if (statuses) where.push(`status = ANY(${p(statuses)}::text[])`);
    if (query.kind) where.push(query.kind === 'history' ? 'history' : 'NOT history');
    if (cursor) {
      const c = p(cursor.createdAt);
      where.push(`(created_at < ${c} OR (created_at = ${c} AND id < ${p(cursor.id)}::uuid))`);
    }
    const rows = await this.q(`SELECT ${SUMMARY_COLUMNS} FROM jobs WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT ${p(limit + 1)}`, params);
    const { items: jobs, nextCursor } = keysetPage(rows, limit, (r) => toSummary(r, json));
    return { jobs, nextCursor };
  }

  async countByStatus(kind?: JobKind): Promise<StatusCounts> {
    const where = kind === undefined ? '' : kind === 'history' ? 'WHERE history ' : 'WHERE NOT history ';
    return statusCounts(await this.q(`SELECT status, count(*) AS n FROM jobs ${where}GROUP BY status`, [], `count_by_status_${kind ?? 'all'}`));
  }

  async claimNext(leaseOwner: string, leaseMs: number, now = Date.now()): Promise<StoredJob | null> {
    checkLease(leaseMs);
    // The sub-select locks one claimable row, skipping rows other claimants hold; the outer
    // condition re-checks it (a row claimed and committed meanwhile no longer matches).
    const rows = await this.q(`UPDATE jobs ${CLAIM_SET}
      WHERE id = (SELECT id FROM jobs WHERE ${CLAIMABLE} ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) AND ${CLAIMABLE}
      RETURNING ${JOB_COLUMNS}`, [leaseOwner, now + leaseMs, now], 'claim_next');
    return rows[0] ? toJob(rows[0], json) : null;
  }

  async claimJob(id: string, leaseOwner: string, leaseMs: number, now = Date.now()): Promise<StoredJob | null> {
    checkLease(leaseMs);
    const key = normId(id);
    if (!key) return null;
    const rows = await this.q(`UPDATE jobs ${CLAIM_SET} WHERE id = $4 AND ${CLAIMABLE} RETURNING ${JOB_COLUMNS}`, [leaseOwner, now + leaseMs, now, key], 'claim_job');
    return rows[0] ? toJob(rows[0], json) : null;
  }

  async renewLease(id: string, leaseOwner: string, leaseMs: number, now = Date.now()): Promise<boolean> {
    checkLease(leaseMs);
    const key = normId(id);
    if (!key) return false;
    const rows = await this.q(`UPDATE jobs SET lease_expires_at = $1 WHERE id = $2 AND status = 'running' AND lease_owner = $3 RETURNING id`,
      [now + leaseMs, key, leaseOwner], 'renew_lease');
    return rows.length > 0;
  }

  async updateProgress(id: string, leaseOwner: string, p: JobProgress): Promise<boolean> {
    const key = normId(id);
    if (!key) return false;
    const rows = await this.q(`UPDATE jobs SET progress_phase = $1, progress_done = $2, progress_total = $3, progress_image_ms = $4
      WHERE id = $5 AND status = 'running' AND lease_owner = $6 RETURNING id`, [p.phase, p.done, p.total, p.imageMs, key, leaseOwner], 'update_progress');
    return rows.length > 0;
  }

  async finishJob(id: string, o: JobOutcome): Promise<boolean> {
    const key = normId(id);
    if (!key) return false;
    const now = o.now ?? Date.now();
    const summary = summaryValues(historySummary(o.status === 'done' ? o.result : null));
    return this.tx(async (c) => {
      const r = await c.query({
        name: 'finish_job',
        text: `UPDATE jobs SET status = $1, finished_at = $2, expires_at = CASE WHEN history THEN NULL ELSE $3::bigint END, progress_phase = 'finished',
            result = $4, error = $5, report = $6, lease_owner = NULL, lease_expires_at = NULL,
            ${SUMMARY_NUMBERS.map((col, i) => `${col} = $${9 + i}`).join(', ')}, s_classes = $${9 + SUMMARY_NUMBERS.length}
          WHERE id = $7 AND status IN ('queued', 'running') AND ($8::text IS NULL OR lease_owner = $8::text) RETURNING id`,
        values: [o.status, now, now + o.ttlMs, o.status === 'done' ? jsonOrNull(o.result) : null, o.status === 'failed' ? jsonOrNull(o.error) : null,
          o.status === 'done' ? jsonOrNull(o.report) : null, key, o.leaseOwner, ...summary],
      });
      const ok = r.rows.length > 0;
      if (ok && !o.keepImages) await c.query({ name: 'delete_images', text: 'DELETE FROM job_images WHERE job_id = $1', values: [key] });
      return ok;
    });
  }

  async requestCancel(id: string, ttlMs: number, now = Date.now()): Promise<StoredJob | null> {
    const key = normId(id);
    if (!key) return null;
    return this.tx(async (c) => {
      const r = await c.query(`UPDATE jobs SET status = 'cancelled', cancel_requested = true, finished_at = $1,
        expires_at = CASE WHEN history THEN NULL ELSE $2::bigint END, progress_phase = 'finished'
        WHERE id = $3 AND status = 'queued' RETURNING id`, [now, now + ttlMs, key]);
      if (r.rows.length > 0) await c.query('DELETE FROM job_images WHERE job_id = $1', [key]);
      else await c.query(`UPDATE jobs SET cancel_requested = true WHERE id = $1 AND status = 'running'`, [key]);
      const rows = (await c.query(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1 AND (expires_at IS NULL OR expires_at > $2)`, [key, now])).rows as Row[];
      return rows[0] ? toJob(rows[0], json) : null;
    });
  }

  async getJobInput(id: string): Promise<StoredJobInput | null> {
    const key = normId(id);
    if (!key) return null;
    const rows = await this.q(`SELECT j.mode, j.history, j.dataset_id, i.annotations, i.ground_truth, i.detections, i.job_id AS has_input
      FROM jobs j LEFT JOIN job_inputs i ON i.job_id = j.id WHERE j.id = $1`, [key], 'get_input');
    const row = rows[0];
    if (!row) return null;
    if (row.history === true) {
      // a dataset evaluation: the dataset's annotations and images
      // a history job's dataset_id is a normalised UUID (createJob): the casts keep the primary keys usable
      const ds = (await this.q('SELECT annotations FROM datasets WHERE id = $1::uuid', [row.dataset_id], 'get_dataset_annotations'))[0];
      if (!ds) return null;
      const images = (await this.q('SELECT image_index, file_name, field, size FROM dataset_images WHERE dataset_id = $1::uuid ORDER BY image_index', [row.dataset_id], 'list_dataset_images'))
        .map((r) => ({ index: Number(r.image_index), fileName: String(r.file_name), field: r.field === null ? null : String(r.field), size: Number(r.size) }));
      return { mode: 'model', annotations: ds.annotations, images };
    }
    if (row.has_input === null) return null;
    if (row.mode === 'detections') return { mode: 'detections', groundTruth: row.ground_truth, detections: row.detections };
    const images = (await this.q('SELECT image_index, file_name, field, size FROM job_images WHERE job_id = $1 ORDER BY image_index', [key], 'list_images'))
      .map((r) => ({ index: Number(r.image_index), fileName: String(r.file_name), field: r.field === null ? null : String(r.field), size: Number(r.size) }));
    return { mode: 'model', annotations: row.annotations, images };
  }

  async getJobImage(id: string, index: number): Promise<JobImageData | null> {
    const key = normId(id);
    if (!key) return null;
    const r = (await this.q('SELECT image_index, file_name, field, size, bytes FROM job_images WHERE job_id = $1 AND image_index = $2', [key, index], 'get_image'))[0]
      // a dataset job: its dataset's image (CASE: only a history job's dataset_id, always a UUID, is cast)
      ?? (await this.q(`SELECT di.image_index, di.file_name, di.field, di.size, di.bytes FROM dataset_images di
        WHERE di.dataset_id = (SELECT CASE WHEN j.history THEN j.dataset_id::uuid END FROM jobs j WHERE j.id = $1) AND di.image_index = $2`, [key, index], 'get_dataset_image'))[0];
    return r ? { index: Number(r.image_index), fileName: String(r.file_name), field: r.field === null ? null : String(r.field), size: Number(r.size), bytes: r.bytes as Buffer } : null;
  }

  async putImageRecord(id: string, index: number, record: unknown, progress?: JobProgress): Promise<void> {
    checkIndex(index);
    const key = normId(id);
    if (!key) throw new RangeError(`no job "${id}" (not a UUID)`);
    const isBytes = record instanceof Uint8Array;
    const values = [key, index, isBytes ? null : jsonText(record), isBytes ? asBuffer(record) : null];
    const upsert = {
      name: 'put_record',
      text: `INSERT INTO image_records (job_id, image_index, record_json, record_bytes) VALUES ($1, $2, $3, $4)
        ON CONFLICT (job_id, image_index) DO UPDATE SET record_json = excluded.record_json, record_bytes = excluded.record_bytes`,
      values,
    };
    if (!progress) {
      await this.q(upsert.text, values, upsert.name);
      return;
    }
    // One round trip, one commit: the upsert and the progress in a single statement.
    await this.q(`WITH rec AS (${upsert.text} RETURNING job_id)
      UPDATE jobs SET progress_phase = $5, progress_done = $6, progress_total = $7, progress_image_ms = $8
      WHERE id = (SELECT job_id FROM rec) AND status = 'running'`,
    [...values, progress.phase, progress.done, progress.total, progress.imageMs], 'put_record_progress');
  }

  async listImageRecords(id: string, page: { after?: number; limit?: number } = {}): Promise<ImageRecord[]> {
    const key = normId(id);
    const limit = page.limit ?? 1000;
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer (got ${limit})`);
    if (!key) return [];
    return (await this.q('SELECT image_index, record_json, record_bytes FROM image_records WHERE job_id = $1 AND image_index > $2 ORDER BY image_index LIMIT $3',
      [key, page.after ?? -1, limit], 'list_records'))
      .map((r) => ({ index: Number(r.image_index), record: r.record_bytes !== null ? r.record_bytes : r.record_json }));
  }

  async doneImageIndices(id: string, range: { from?: number; to?: number } = {}): Promise<number[]> {
    const key = normId(id);
    if (!key) return [];
    return (await this.q('SELECT image_index FROM image_records WHERE job_id = $1 AND image_index >= $2 AND image_index < $3 ORDER BY image_index',
      [key, range.from ?? 0, range.to ?? 2 ** 31 - 1], 'done_indices_in')).map((r) => Number(r.image_index));
  }

  async countImageRecords(id: string): Promise<number> {
    const key = normId(id);
    if (!key) return 0;
    return Number((await this.q('SELECT count(*) AS n FROM image_records WHERE job_id = $1', [key], 'count_records'))[0]?.n ?? 0);
  }

  async deleteJob(id: string): Promise<boolean> {
    const key = normId(id);
    if (!key) return false;
    return (await this.q('DELETE FROM jobs WHERE id = $1 RETURNING id', [key], 'delete_job')).length > 0;
  }

  async deleteExpired(now = Date.now()): Promise<number> {
    return (await this.q('DELETE FROM jobs WHERE expires_at IS NOT NULL AND expires_at <= $1 RETURNING id', [now], 'delete_expired')).length;
  }

  // --- drift references (migration 003, docs/drift.md)
  async putDriftReference(ref: import('./types.js').DriftReferenceRecord): Promise<void> {
    await this.q(`INSERT INTO drift_references (model, version, source, histograms, images, owner, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
      ON CONFLICT (model, version) DO UPDATE SET source = excluded.source, histograms = excluded.histograms, images = excluded.images,
      owner = excluded.owner, created_at = excluded.created_at`,
    [ref.model, ref.version, jsonText(ref.source), jsonText(ref.histograms), ref.images, ref.owner, ref.createdAt], 'put_drift_reference');
  }

  async getDriftReference(model: string, version: string): Promise<import('./types.js').DriftReferenceRecord | null> {
    const rows = await this.q('SELECT * FROM drift_references WHERE model = $1 AND version = $2', [model, version], 'get_drift_reference');
    return rows[0] ? driftRow(rows[0]) : null;
  }

  async listDriftReferences(): Promise<Array<import('./types.js').DriftReferenceRecord>> {
    return (await this.q('SELECT * FROM drift_references ORDER BY model, version', [], 'list_drift_references')).map(driftRow);
  }

  async deleteDriftReference(model: string, version: string): Promise<boolean> {
    return (await this.q('DELETE FROM drift_references WHERE model = $1 AND version = $2 RETURNING model', [model, version], 'delete_drift_reference')).length > 0;
  }

  // ------------------------------------------------------------------ datasets and history

  async createDataset(d: NewDataset): Promise<StoredDataset> {
    const id = normId(d.id ?? randomUUID());
    if (!id) throw new TypeError(`dataset id must be a UUID (got "${d.id}")`);
    const createdAt = d.createdAt ?? Date.now();
    const sch = d.schedule ?? { cron: null, model: null, version: null, auto: false, nextRunAt: null };
    await this.tx(async (c) => {
      // one creator at a time: the cap and the name check hold across processes
      await c.query('SELECT pg_advisory_xact_lock($1::bigint)', [DATASET_LOCK_KEY]);
      if (d.max !== undefined && Number((await c.query('SELECT count(*) AS n FROM datasets')).rows[0]?.n ?? 0) >= d.max) throw new DatasetLimitError(d.max);
      if ((await c.query(`SELECT 1 FROM datasets WHERE coalesce(owner, '') = $1 AND name = $2`, [d.owner ?? '', d.name])).rows.length > 0) throw new DatasetExistsError(d.name);
      await c.query(`INSERT INTO datasets (id, owner, name, annotations, image_count, annotation_count, bytes, categories, created_at,
          schedule_cron, schedule_model, schedule_version, auto, next_run_at)
        VALUES ($1, $2, $3, $4, 0, $5, 0, $6, $7, $8, $9, $10, $11, $12)`,
      [id, d.owner ?? null, d.name, jsonText(d.annotations), d.annotationCount, jsonText(d.categories), createdAt, sch.cron, sch.model, sch.version, sch.auto, sch.nextRunAt]);
      let n = 0;
      let total = 0;
      for await (const img of d.images) {
        checkIndex(img.index);
        const bytes = img.bytes ?? (img.path !== undefined ? await readFile(img.path) : undefined);
        if (!bytes) throw new TypeError(`image ${img.index} ("${img.fileName}") has neither bytes nor path`);
        await c.query({
          name: 'insert_dataset_image',
          text: 'INSERT INTO dataset_images (dataset_id, image_index, file_name, field, size, bytes) VALUES ($1, $2, $3, $4, $5, $6)',
          values: [id, img.index, img.fileName, img.field ?? null, bytes.byteLength, asBuffer(bytes)],
        });
        n++;
        total += bytes.byteLength;
      }
      await c.query('UPDATE datasets SET image_count = $1, bytes = $2 WHERE id = $3', [n, total, id]);
    });
    return (await this.getDataset(id))!;
  }

  async getDataset(id: string, owner?: string | null): Promise<StoredDataset | null> {
    const key = normId(id);
    if (!key) return null;
    const own = typeof owner === 'string';
    const rows = await this.q(`SELECT ${DATASET_COLUMNS}, (SELECT count(*) FROM jobs j WHERE j.dataset_id = d.id::text) AS n_evaluations
      FROM datasets d WHERE d.id = $1${own ? ' AND d.owner = $2' : ''}`, own ? [key, owner] : [key], own ? 'get_dataset_owned' : 'get_dataset');
    return rows[0] ? toDataset(rows[0], json) : null;
  }

  async listDatasets(query: { owner?: string | null; limit?: number; cursor?: string | null } = {}): Promise<DatasetPage> {
    const limit = pageLimit(query.limit);
    const cursor = query.cursor ? decodeCursor(query.cursor) : undefined;
    const params: unknown[] = [];
    const where = ['true'];
    const p = (v: unknown): string => `$${params.push(v)}`;
    if (typeof query.owner === 'string') where.push(`d.owner = ${p(query.owner)}`);
    if (cursor) {
      const c = p(cursor.createdAt);
      where.push(`(d.created_at < ${c} OR (d.created_at = ${c} AND d.id < ${p(cursor.id)}::uuid))`);
    }
    const rows = await this.q(`SELECT ${DATASET_COLUMNS}, (SELECT count(*) FROM jobs j WHERE j.dataset_id = d.id::text) AS n_evaluations
      FROM datasets d WHERE ${where.join(' AND ')} ORDER BY d.created_at DESC, d.id DESC LIMIT ${p(limit + 1)}`, params);
    const { items: datasets, nextCursor } = keysetPage(rows, limit, (r) => toDataset(r, json));
    return { datasets, nextCursor };
  }

  async countDatasets(): Promise<number> {
    return Number((await this.q('SELECT count(*) AS n FROM datasets', [], 'count_datasets'))[0]?.n ?? 0);
  }

  async deleteDataset(id: string, owner?: string | null): Promise<'deleted' | 'busy' | 'missing'> {
    const key = normId(id);
    if (!key) return 'missing';
    return this.tx(async (c) => {
      const own = typeof owner === 'string';
      // FOR UPDATE: waits for a createJob of this dataset in progress (it holds FOR SHARE)
      const found = await c.query(`SELECT id FROM datasets WHERE id = $1${own ? ' AND owner = $2' : ''} FOR UPDATE`, own ? [key, owner] : [key]);
      if (found.rows.length === 0) return 'missing' as const;
      if ((await c.query(`SELECT 1 FROM jobs WHERE dataset_id = $1 AND status IN ('queued', 'running') LIMIT 1`, [key])).rows.length > 0) return 'busy' as const;
      await c.query('DELETE FROM jobs WHERE dataset_id = $1', [key]);
      await c.query('DELETE FROM datasets WHERE id = $1', [key]);
      return 'deleted' as const;
    });
  }

  async setDatasetSchedule(id: string, sch: DatasetScheduleUpdate, owner?: string | null): Promise<StoredDataset | null> {
    const key = normId(id);
    if (!key || !await this.getDataset(key, owner)) return null;
    await this.q('UPDATE datasets SET schedule_cron = $1, schedule_model = $2, schedule_version = $3, auto = $4, next_run_at = $5 WHERE id = $6',
      [sch.cron, sch.model, sch.version, sch.auto, sch.nextRunAt, key]);
    return this.getDataset(key, owner);
  }

  async setDatasetBaseline(id: string, jobId: string | null, owner?: string | null): Promise<StoredDataset | null> {
    const key = normId(id);
    if (!key || !await this.getDataset(key, owner)) return null;
    await this.q('UPDATE datasets SET baseline_job_id = $1 WHERE id = $2', [jobId === null ? null : normId(jobId), key]);
    return this.getDataset(key, owner);
  }

  async dueDatasets(now: number, limit = 100): Promise<StoredDataset[]> {
    return (await this.q(`SELECT ${DATASET_COLUMNS} FROM datasets d WHERE d.next_run_at IS NOT NULL AND d.next_run_at <= $1 ORDER BY d.next_run_at LIMIT $2`,
      [now, limit], 'due_datasets')).map((r) => toDataset(r, json));
  }

  async claimScheduledRun(id: string, expected: number, next: number | null, now: number): Promise<boolean> {
    const key = normId(id);
    if (!key) return false;
    return (await this.q('UPDATE datasets SET next_run_at = $1, last_run_at = $2 WHERE id = $3 AND next_run_at = $4 RETURNING id', [next, now, key, expected], 'claim_schedule')).length > 0;
  }

  async recordDatasetRun(id: string, outcome: { jobId: string | null; error: string | null }): Promise<void> {
    const key = normId(id);
    if (key) await this.q('UPDATE datasets SET last_job_id = $1, last_error = $2 WHERE id = $3', [outcome.jobId, outcome.error, key], 'record_dataset_run');
  }

  async autoDatasets(modelName: string): Promise<StoredDataset[]> {
    return (await this.q(`SELECT ${DATASET_COLUMNS} FROM datasets d WHERE d.auto AND (d.schedule_model IS NULL OR d.schedule_model = $1) ORDER BY d.created_at`,
      [modelName], 'auto_datasets')).map((r) => toDataset(r, json));
  }

  async claimAutoRun(id: string, runKey: string): Promise<boolean> {
    const key = normId(id);
    if (!key) return false;
    return (await this.q('UPDATE datasets SET auto_key = $1 WHERE id = $2 AND (auto_key IS NULL OR auto_key <> $1) RETURNING id', [runKey, key], 'claim_auto')).length > 0;
  }

  async listHistory(query: HistoryQuery = {}): Promise<HistoryPage> {
    const limit = pageLimit(query.limit);
    const cursor = query.cursor ? decodeCursor(query.cursor) : undefined;
    const params: unknown[] = [query.now ?? Date.now()];
    const where = ['(j.expires_at IS NULL OR j.expires_at > $1)'];
    const p = (v: unknown): string => `$${params.push(v)}`;
    if (typeof query.owner === 'string') where.push(`j.owner = ${p(query.owner)}`);
    if (query.id !== undefined) {
      const key = normId(query.id);
      if (!key) return { rows: [], nextCursor: null };
      where.push(`j.id = ${p(key)}`);
    }
    if (query.modelName !== undefined) where.push(`j.model_name = ${p(query.modelName)}`);
    if (query.modelVersion !== undefined) where.push(`j.model_version = ${p(query.modelVersion)}`);
    if (query.datasetId !== undefined) where.push(`j.dataset_id = ${p(normId(query.datasetId) ?? query.datasetId)}`);
    if (query.status !== undefined) where.push(`j.status = ${p(query.status)}`);
    if (query.since !== undefined) where.push(`j.created_at >= ${p(query.since)}`);
    if (query.until !== undefined) where.push(`j.created_at < ${p(query.until)}`);
    if (cursor) {
      const c = p(cursor.createdAt);
      where.push(`(j.created_at < ${c} OR (j.created_at = ${c} AND j.id < ${p(cursor.id)}::uuid))`);
    }
    const found = await this.q(`SELECT ${HISTORY_COLUMNS}${query.classes ? ', j.s_classes' : ''} FROM jobs j LEFT JOIN datasets d ON d.id::text = j.dataset_id
      WHERE ${where.join(' AND ')} ORDER BY j.created_at DESC, j.id DESC LIMIT ${p(limit + 1)}`, params);
    const { items: rows, nextCursor } = keysetPage(found, limit, (r) => toHistoryRow(r, json));
    return { rows, nextCursor };
  }

  async ping(): Promise<void> {
    await this.q('SELECT 1');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}

/** A drift_references row (pg parses the json columns; bigint comes as a string). */
function driftRow(row: Row): import('./types.js').DriftReferenceRecord {
  return {
    model: String(row.model), version: String(row.version), source: row.source, histograms: row.histograms,
    images: Number(row.images), owner: row.owner === null || row.owner === undefined ? null : String(row.owner), createdAt: Number(row.created_at),
  };
}
