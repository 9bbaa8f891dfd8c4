/**
 * @file What both engines share: the column lists, row ↔ object mapping, JSON encoding, list cursors
 * and argument checks. Engine differences are passed in (SQLite returns JSON as TEXT and booleans as
 * 0/1; pg parses `json` columns itself and returns bigint as strings).
 */
import { InvalidCursorError } from './errors.js';
import {
  JOB_STATUSES, type ApSummary, type ClassSummary, type HistoryRow, type JobHistorySummary, type JobMode, type JobStatus, type JobSummary, type StatusCounts,
  type StoredDataset, type StoredJob,
} from './types.js';

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

/** Opaque cursor of the last row of a page (jobs, datasets, history). */
export function encodeCursor(createdAt: number, id: string): string {
  return Buffer.from(JSON.stringify([createdAt, id])).toString('base64url');
}

/**
 * One page of a keyset-paginated query (newest first) that fetched `limit + 1` rows: the first
 * `limit` rows mapped, and the cursor of the last of them when there were more.
 */
export function keysetPage<R, T extends { createdAt: number; id: string }>(found: readonly R[], limit: number, map: (row: R) => T): { items: T[]; nextCursor: string | null } {
  const items = found.slice(0, limit).map(map);
  const last = items[items.length - 1];
  return { items, nextCursor: found.length > limit && last ? encodeCursor(last.createdAt, last.id) : null };
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

// ---------------------------------------------------------------------- datasets and history

/** Columns of a dataset row (without annotations), with the count of its evaluations. */
export const DATASET_COLUMNS = [
  'id', 'owner', 'name', 'image_count', 'annotation_count', 'bytes', 'categories', 'created_at', 'baseline_job_id',
  'schedule_cron', 'schedule_model', 'schedule_version', 'auto', 'next_run_at', 'last_run_at', 'last_job_id', 'last_error',
].map((c) => `d.${c}`).join(', ');

/** Row → StoredDataset (`evaluations` from a joined count column `n_evaluations`, else 0). */
export function toDataset(row: Row, json: JsonDecoder): StoredDataset {
  return {
    id: String(row.id),
    owner: strOrNull(row.owner),
    name: String(row.name),
    images: num(row.image_count),
    annotations: num(row.annotation_count),
    bytes: num(row.bytes),
    categories: json(row.categories) as StoredDataset['categories'],
    createdAt: num(row.created_at),
    baselineJobId: strOrNull(row.baseline_job_id),
    schedule: {
      cron: strOrNull(row.schedule_cron), model: strOrNull(row.schedule_model), version: strOrNull(row.schedule_version),
      auto: row.auto === true || row.auto === 1, nextRunAt: numOrNull(row.next_run_at), lastRunAt: numOrNull(row.last_run_at),
      lastJobId: strOrNull(row.last_job_id), lastError: strOrNull(row.last_error),
    },
    evaluations: row.n_evaluations === undefined || row.n_evaluations === null ? 0 : num(row.n_evaluations),
  };
}

/** The summary columns of jobs (s_*), in this order. */
export const SUMMARY_NUMBERS = [
  's_images', 's_loss_objectness', 's_loss_rpn_box_reg', 's_loss_classifier', 's_loss_box_reg', 's_loss_mask', 's_loss',
  's_box_ap', 's_box_ap50', 's_box_ap75', 's_mask_ap', 's_mask_ap50', 's_mask_ap75',
] as const;

/** Columns of a history row (j = jobs, d = datasets joined on the dataset id). */
export const HISTORY_COLUMNS = [
  'j.id', 'j.owner', 'j.mode', 'j.status', 'j.created_at', 'j.started_at', 'j.finished_at', 'j.model_name', 'j.model_version',
  'j.model_sha256', 'j.dataset_id', 'd.name AS dataset_name', 'j.trigger', 'j.progress_total', ...SUMMARY_NUMBERS.map((c) => `j.${c}`),
].join(', ');

const LOSS_COLUMNS = ['loss_objectness', 'loss_rpn_box_reg', 'loss_classifier', 'loss_box_reg', 'loss_mask', 'loss'] as const;
const finiteOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
/**
 * A loss that is not finite (NaN, ±Infinity) is stored as NULL (JSON and SQLite have no NaN): a
 * summary with losses where one of them is null means that loss was not finite.
 */
const lossValue = (v: unknown): number | null => finiteOrNull(v);

/**
 * The summary of a done job's result (an /evaluate answer over the whole set), for the history
 * columns: counts, mean losses, COCO AP/AP50/AP75 of boxes and masks, per-class AP. Reads only the
 * few fields it needs; anything missing is null.
 */
export function historySummary(result: unknown): JobHistorySummary {
  const r = (result ?? {}) as {
    counts?: { images?: unknown };
    losses?: { mean?: Record<string, unknown> } | null;
    coco?: Record<string, { stats?: unknown[]; per_category?: Array<{ category_id: number; name: string; ap: unknown }> } | undefined>;
  };
  const stats = (t: string): ApSummary => {
    const st = r.coco?.[t]?.stats;
    return { ap: finiteOrNull(st?.[0]), ap50: finiteOrNull(st?.[1]), ap75: finiteOrNull(st?.[2]) };
  };
  const classes = new Map<number, ClassSummary>();
  for (const [t, key] of [['bbox', 'box_ap'], ['segm', 'mask_ap']] as const) {
    for (const c of r.coco?.[t]?.per_category ?? []) {
      const row = classes.get(c.category_id) ?? { category_id: c.category_id, name: String(c.name), box_ap: null, mask_ap: null };
      row[key] = finiteOrNull(c.ap);
      classes.set(c.category_id, row);
    }
  }
  const mean = r.losses?.mean;
  return {
    images: finiteOrNull(r.counts?.images),
    losses: mean ? Object.fromEntries(LOSS_COLUMNS.map((k) => [k, lossValue(mean[k])])) : null,
    box: stats('bbox'),
    mask: stats('segm'),
    classes: [...classes.values()].sort((a, b) => a.category_id - b.category_id),
  };
}

/** The s_* values of a summary, in SUMMARY_NUMBERS order, then the classes JSON text. */
export function summaryValues(s: JobHistorySummary): Array<number | null | string> {
  const l = s.losses;
  return [
    s.images, ...LOSS_COLUMNS.map((k) => (l ? l[k] ?? null : null)),
    s.box.ap, s.box.ap50, s.box.ap75, s.mask.ap, s.mask.ap50, s.mask.ap75, JSON.stringify(s.classes),
  ];
}

/** Row (HISTORY_COLUMNS [+ s_classes]) → HistoryRow. */
export function toHistoryRow(row: Row, json: JsonDecoder): HistoryRow {
  const n = (c: string): number | null => {
    const v = row[c];
    return v === null || v === undefined ? null : num(v);
  };
  const hasLosses = LOSS_COLUMNS.some((k) => row[`s_${k}`] !== null && row[`s_${k}`] !== undefined);
  return {
    id: String(row.id),
    owner: strOrNull(row.owner),
    mode: row.mode as JobMode,
    status: row.status as JobStatus,
    createdAt: num(row.created_at),
    startedAt: numOrNull(row.started_at),
    finishedAt: numOrNull(row.finished_at),
    modelName: strOrNull(row.model_name),
    modelVersion: strOrNull(row.model_version),
    modelSha256: strOrNull(row.model_sha256),
    datasetId: strOrNull(row.dataset_id),
    datasetName: strOrNull(row.dataset_name),
    trigger: strOrNull(row.trigger),
    total: num(row.progress_total),
    summary: {
      images: n('s_images'),
      losses: hasLosses ? Object.fromEntries(LOSS_COLUMNS.map((k) => [k, n(`s_${k}`)])) : null,
      box: { ap: n('s_box_ap'), ap50: n('s_box_ap50'), ap75: n('s_box_ap75') },
      mask: { ap: n('s_mask_ap'), ap50: n('s_mask_ap50'), ap75: n('s_mask_ap75') },
      classes: row.s_classes === null || row.s_classes === undefined ? [] : json(row.s_classes) as ClassSummary[],
    },
  };
}
