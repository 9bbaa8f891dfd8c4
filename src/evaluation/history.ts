/**
 * @file The history of evaluations (docs/history.md#history), a use case without HTTP: one page of
 * evaluations newest first with their summaries (from the store's summary columns: a full result is
 * never parsed to list), and the series of a (dataset, model) — losses, box/mask AP and per-class AP
 * over time, oldest first — with the diagnosis over time (trends.ts) against the dataset's pinned
 * baseline. Owners: a string owner sees only its own evaluations; null (access control off) sees all.
 */
import type { EvaluationSummaryView, SeriesPointView, TrendFlagView } from '../schemas/history.js';
import type { HistoryRow, JobStatus, Store } from '../store/index.js';
import { DatasetNotFound, HistoryInputError } from './history-errors.js';
import { diagnoseTrend, type TrendOptions, type TrendPoint } from './trends.js';

const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());

/** The JSON summary of one history row (EvaluationSummary schema). */
export function summaryView(row: HistoryRow): EvaluationSummaryView {
  const s = row.summary;
  return {
    id: row.id,
    status: row.status,
    mode: row.mode,
    created_at: iso(row.createdAt)!,
    started_at: iso(row.startedAt),
    finished_at: iso(row.finishedAt),
    model: { name: row.modelName, version: row.modelVersion, sha256: row.modelSha256 },
    dataset: row.datasetId ? { id: row.datasetId, name: row.datasetName } : null,
    trigger: row.trigger,
    images: s.images ?? row.total,
    losses: s.losses as EvaluationSummaryView['losses'],
    box: s.box,
    mask: s.mask,
    links: { self: `/evaluations/${row.id}`, report: `/evaluations/${row.id}/report` },
  };
}

/** A series point (SeriesPoint schema). */
export function seriesPoint(row: HistoryRow): SeriesPointView {
  const v = summaryView(row);
  return { id: v.id, created_at: v.created_at, finished_at: v.finished_at, model: v.model, losses: v.losses, box: v.box, mask: v.mask, classes: row.summary.classes };
}

/** What the diagnosis reads of a row. */
export function trendPoint(row: HistoryRow): TrendPoint {
  return { id: row.id, losses: row.summary.losses, box: row.summary.box, mask: row.summary.mask, classes: row.summary.classes };
}

/** ISO 8601 → epoch ms. @throws HistoryInputError naming the field */
export function parseTime(value: string | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  if (!Number.isFinite(t)) throw new HistoryInputError(`${field.split('.').pop()} must be an ISO 8601 date-time (got "${value}")`, field);
  return t;
}

/** Filters of {@link listEvaluations} as the route gives them. */
export interface HistoryFilters {
  model?: string;
  version?: string;
  dataset_id?: string;
  status?: JobStatus;
  since?: string;
  until?: string;
  limit?: number;
  cursor?: string;
}

/** One page of the history. */
export async function listEvaluations(store: Store, owner: string | null, f: HistoryFilters, now: number): Promise<{ evaluations: EvaluationSummaryView[]; next_cursor: string | null }> {
  const since = parseTime(f.since, 'querystring.since');
  const until = parseTime(f.until, 'querystring.until');
  const page = await store.listHistory({
    owner, now, limit: f.limit ?? 50, cursor: f.cursor ?? null,
    ...(f.model !== undefined ? { modelName: f.model } : {}),
    ...(f.version !== undefined ? { modelVersion: f.version } : {}),
    ...(f.dataset_id !== undefined ? { datasetId: f.dataset_id } : {}),
    ...(f.status !== undefined ? { status: f.status } : {}),
    ...(since !== undefined ? { since } : {}),
    ...(until !== undefined ? { until } : {}),
  });
  return { evaluations: page.rows.map(summaryView), next_cursor: page.nextCursor };
}

/** One evaluation's history row (another owner's: null). */
export async function historyRow(store: Store, id: string, owner: string | null, now: number): Promise<HistoryRow | null> {
  const page = await store.listHistory({ id, owner, now, limit: 1, classes: true });
  return page.rows[0] ?? null;
}

/** Filters of {@link evaluationSeries}. */
export interface SeriesFilters {
  dataset_id: string;
  model?: string;
  version?: string;
  since?: string;
  until?: string;
  limit?: number;
}

/** Series of a dataset's done evaluations, oldest first, with the flags of the latest. */
export async function evaluationSeries(store: Store, owner: string | null, f: SeriesFilters, now: number, trend: TrendOptions = {}): Promise<{
  dataset: { id: string; name: string }; model: string | null; baseline_evaluation_id: string | null; points: SeriesPointView[]; flags: TrendFlagView[];
}> {
  const dataset = await store.getDataset(f.dataset_id, owner);
  if (!dataset) throw new DatasetNotFound(f.dataset_id, 'querystring.dataset_id');
  const since = parseTime(f.since, 'querystring.since');
  const until = parseTime(f.until, 'querystring.until');
  const page = await store.listHistory({
    owner, now, datasetId: dataset.id, status: 'done', classes: true, limit: f.limit ?? 100,
    ...(f.model !== undefined ? { modelName: f.model } : {}),
    ...(f.version !== undefined ? { modelVersion: f.version } : {}),
    ...(since !== undefined ? { since } : {}),
    ...(until !== undefined ? { until } : {}),
  });
  const rows = [...page.rows].reverse();
  const baselineRow = dataset.baselineJobId ? await historyRow(store, dataset.baselineJobId, owner, now) : null;
  const baseline = baselineRow && baselineRow.status === 'done' ? trendPoint(baselineRow) : null;
  return {
    dataset: { id: dataset.id, name: dataset.name },
    model: f.model ?? null,
    baseline_evaluation_id: dataset.baselineJobId,
    points: rows.map(seriesPoint),
    flags: diagnoseTrend(rows.map(trendPoint), baseline, trend),
  };
}
