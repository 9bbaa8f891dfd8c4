/**
 * @file What both engines share: the column lists, row ↔ object mapping, JSON encoding, list cursors
 * and argument checks. Engine differences are passed in (SQLite returns JSON as TEXT and booleans as
 * 0/1; pg parses `json` columns itself and returns bigint as strings).
 */
import { InvalidCursorError } from './errors.js';
import { JOB_STATUSES, type JobStatus, type JobSummary, type StatusCounts, type StoredJob } from './types.js';

/** Columns of a {@link JobSummary} (everything but result and report). */
export const SUMMARY_COLUMNS = [
  'id', 'owner', 'model_name', 'model_version', 'dataset_id', 'mode', 'status', 'options',
  'progress_phase', 'progress_done', 'progress_total', 'progress_image_ms',
  'created_at', 'started_at', 'finished_at', 'expires_at', 'error', 'cancel_requested',
  'lease_owner', 'lease_expires_at', 'attempts',
].join(', ');
/** Columns of a {@link StoredJob}. */
export const JOB_COLUMNS = `${SUMMARY_COLUMNS}, result`;

/** A row as a driver returns it (SQLite: null-prototype object; pg: plain object). */
export type Row = Record<string, unknown>;

/** How an engine's JSON columns come back. */
export type JsonDecoder = (v: unknown) => unknown;

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

/** Row → JobSummary. */
export function toSummary(row: Row, json: JsonDecoder): JobSummary {
  return {
    id: String(row.id),
    owner: strOrNull(row.owner),
    modelName: strOrNull(row.model_name),
    modelVersion: strOrNull(row.model_version),
    datasetId: strOrNull(row.dataset_id),
    mode: row.mode as JobSummary['mode'],
    status: row.status as JobStatus,
    options: json(row.options),
    progress: { phase: String(row.progress_phase), done: num(row.progress_done), total: num(row.progress_total), imageMs: num(row.progress_image_ms) },
    createdAt: num(row.created_at),
    startedAt: numOrNull(row.started_at),
    finishedAt: numOrNull(row.finished_at),
    expiresAt: numOrNull(row.expires_at),
    error: row.error === null || row.error === undefined ? null : json(row.error),
    cancelRequested: row.cancel_requested === true || row.cancel_requested === 1,
    leaseOwner: strOrNull(row.lease_owner),
    leaseExpiresAt: numOrNull(row.lease_expires_at),
    attempts: num(row.attempts),
  };
}

/** Row → StoredJob. */
export function toJob(row: Row, json: JsonDecoder): StoredJob {
  return { ...toSummary(row, json), result: row.result === null || row.result === undefined ? null : json(row.result) };
}

/** JSON text of a value for a nullable column (null/undefined → SQL NULL). */
export function jsonOrNull(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  const s = JSON.stringify(v);
  return s === undefined ? null : s;
}

/** JSON text of a value for a NOT NULL column (undefined → `null`). */
export function jsonText(v: unknown): string {
  return JSON.stringify(v) ?? 'null';
}

/** Counts with every status present. */
export function statusCounts(rows: Iterable<Row>): StatusCounts {
  const out = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as StatusCounts;
  for (const r of rows) if ((JOB_STATUSES as readonly unknown[]).includes(r.status)) out[r.status as JobStatus] = num(r.n);
  return out;
}

/** Opaque cursor of the last job of a page. */
export function encodeCursor(createdAt: number, id: string): string {
  return Buffer.from(JSON.stringify([createdAt, id])).toString('base64url');
}

/** @throws InvalidCursorError */
export function decodeCursor(cursor: string): { createdAt: number; id: string } {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 2 && Number.isSafeInteger(v[0]) && typeof v[1] === 'string' && UUID.test(v[1])) {
      return { createdAt: v[0] as number, id: v[1] as string };
    }
  } catch {
    // fall through
  }
  throw new InvalidCursorError(cursor);
}

/** Canonical UUID text (any version; what randomUUID() makes, lower or upper case). */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Page size of listJobs: 1..1000, default 50. */
export function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return 50;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000) throw new RangeError(`limit must be an integer in [1, 1000] (got ${limit})`);
  return limit;
}

/** Checks an image index (a non-negative safe integer that fits a 32-bit column). */
export function checkIndex(index: number): void {
  if (!Number.isInteger(index) || index < 0 || index > 0x7fffffff) throw new RangeError(`image index must be an integer in [0, 2^31) (got ${index})`);
}

/** Checks a lease duration. */
export function checkLease(leaseMs: number): void {
  if (!Number.isFinite(leaseMs) || leaseMs <= 0) throw new RangeError(`leaseMs must be a positive number (got ${leaseMs})`);
}

/** Bytes as a Buffer without copying (pg wants Buffers; node:sqlite takes any Uint8Array). */
export function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** Statuses filter as a list (undefined = any). */
export function statusList(status: JobStatus | readonly JobStatus[] | undefined): JobStatus[] | undefined {
  if (status === undefined) return undefined;
  const list = typeof status === 'string' ? [status] : [...status];
  for (const s of list) if (!JOB_STATUSES.includes(s)) throw new RangeError(`unknown job status "${s}"`);
  return list;
}
