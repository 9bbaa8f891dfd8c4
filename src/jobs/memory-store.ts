/**
 * @file A {@link Store} kept in this process's memory: the same contract as the durable engines
 * (src/store: SQLite, PostgreSQL) — JSON values stored as JSON text, bytes copied, claims with
 * leases and fencing, TTL expiry — without durability. For the CLI's in-process runs (nothing to
 * keep after the command), tests that need no disk, and the benchmark's baseline (what jobs cost
 * before they were durable). The store conformance suite runs on it too (test/jobs/memory-store.test.ts).
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { decodeCursor, historySummary, keysetPage, pageLimit, statusList, UUID } from '../store/rows.js';
import {
  DatasetNotFoundError, JOB_STATUSES, StoreUnavailableError, type DatasetPage, type HistoryPage, type HistoryQuery, type JobKind, type StoredDataset, type ImageRecord, type JobImageData, type JobOutcome, type JobPage, type JobProgress, type JobSummary,
  type ListJobsQuery, type NewJob, type StatusCounts, type Store, type StoredJob, type StoredJobInput,
} from '../store/index.js';

interface Entry {
  job: StoredJob;
  /** JSON text of the inputs (annotations / ground truth + detections). */
  input: { mode: 'model'; annotations: string } | { mode: 'detections'; groundTruth: string; detections: string };
  images: Map<number, { fileName: string; field: string | null; bytes: Uint8Array }>;
  records: Map<number, { json: string | null; bytes: Uint8Array | null }>;
  report: string | null;
}

const text = (v: unknown): string => JSON.stringify(v) ?? 'null';
const parse = (s: string | null): unknown => (s === null ? null : JSON.parse(s));
const copyJob = (j: StoredJob): StoredJob => ({ ...j, progress: { ...j.progress }, options: structuredClone(j.options), error: structuredClone(j.error), result: structuredClone(j.result) });
const summary = (j: StoredJob): JobSummary => {
  const { result: _result, ...rest } = copyJob(j);
  return rest;
};
const live = (j: StoredJob, now: number): boolean => j.expiresAt === null || j.expiresAt > now;
const normId = (id: string): string | null => (UUID.test(id) ? id.toLowerCase() : null);

/** The in-memory store (see the file header). */
export class MemoryStore implements Store {
  readonly engine = 'memory' as unknown as Store['engine'];
  readonly location = 'memory';
  private readonly jobs = new Map<string, Entry>();
  private closed = false;

  private open(): void {
    if (this.closed) throw new StoreUnavailableError('The store is closed', 'closed', 5);
  }

  private entry(id: string, now?: number): Entry | null {
    const key = normId(id);
    const e = key ? this.jobs.get(key) : undefined;
    if (!e || (now !== undefined && !live(e.job, now))) return null;
    return e;
  }

  async createJob(job: NewJob): Promise<StoredJob> {
    this.open();
    const id = normId(job.id ?? randomUUID());
    if (!id) throw new TypeError(`job id must be a UUID (got "${job.id}")`);
    if (!Number.isSafeInteger(job.total) || job.total < 0) throw new RangeError(`total must be a non-negative integer (got ${job.total})`);
    if (this.jobs.has(id)) throw new Error(`job ${id} exists`);
    const createdAt = job.createdAt ?? Date.now();
    const input = job.input;
    // datasets need a durable store: the in-memory store has none
    if (input.mode === 'dataset') throw new DatasetNotFoundError(String(job.datasetId));
    const images = new Map<number, { fileName: string; field: string | null; bytes: Uint8Array }>();
    if (input.mode === 'model') {
      for await (const img of input.images) {
        if (images.has(img.index)) throw new Error(`duplicate image index ${img.index}`);
        const bytes = img.bytes ? Uint8Array.from(img.bytes) : img.path !== undefined ? new Uint8Array(await readFile(img.path)) : undefined;
        if (!bytes) throw new TypeError(`image ${img.index} ("${img.fileName}") has neither bytes nor path`);
        images.set(img.index, { fileName: img.fileName, field: img.field ?? null, bytes });
      }
    }
    const stored: StoredJob = {
      id, owner: job.owner ?? null, modelName: job.modelName ?? null, modelVersion: job.modelVersion ?? null, datasetId: job.datasetId ?? null,
      mode: input.mode, status: 'queued', options: JSON.parse(text(job.options)),
      progress: { phase: 'queued', done: 0, total: job.total, imageMs: 0 },
      createdAt, startedAt: null, finishedAt: null, expiresAt: null, error: null, cancelRequested: false,
      leaseOwner: null, leaseExpiresAt: null, attempts: 0, result: null,
    };
    this.jobs.set(id, {
      job: stored,
      input: input.mode === 'model' ? { mode: 'model', annotations: text(input.annotations) } : { mode: 'detections', groundTruth: text(input.groundTruth), detections: text(input.detections) },
      images, records: new Map(), report: null,
    });
    return copyJob(stored);
  }

  async getJob(id: string, now = Date.now()): Promise<StoredJob | null> {
    this.open();
    const e = this.entry(id, now);
    return e ? copyJob(e.job) : null;
  }

  async getReport(id: string, now = Date.now()): Promise<unknown> {
    this.open();
    return parse(this.entry(id, now)?.report ?? null);
  }

  async listJobs(query: ListJobsQuery = {}): Promise<JobPage> {
    this.open();
    const limit = pageLimit(query.limit);
    const statuses = statusList(query.status);
    const cursor = query.cursor ? decodeCursor(query.cursor) : undefined;
    const now = query.now ?? Date.now();
    const all = [...this.jobs.values()].map((e) => e.job).filter((j) => live(j, now)
      && (query.owner === undefined || j.owner === query.owner)
      && (query.modelName === undefined || j.modelName === query.modelName)
      && (query.datasetId === undefined || j.datasetId === query.datasetId)
      && query.kind !== 'history'
      && (!statuses || statuses.includes(j.status))
      && (!cursor || j.createdAt < cursor.createdAt || (j.createdAt === cursor.createdAt && j.id < cursor.id)))
      .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    const { items: jobs, nextCursor } = keysetPage(all, limit, summary);
    return { jobs, nextCursor };
  }

  async countByStatus(kind?: JobKind): Promise<StatusCounts> {
    this.open();
    const out = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as StatusCounts;
    if (kind !== 'history') for (const e of this.jobs.values()) out[e.job.status]++;
    return out;
  }

  // Datasets need a durable store (SQLite or PostgreSQL): this one has none, and no dataset jobs.

  async createDataset(): Promise<StoredDataset> {
    this.open();
    throw new Error('datasets need a durable store (SQLite or PostgreSQL)');
  }

  async getDataset(): Promise<StoredDataset | null> {
    this.open();
    return null;
  }

  async listDatasets(): Promise<DatasetPage> {
    this.open();
    return { datasets: [], nextCursor: null };
  }

  async countDatasets(): Promise<number> {
    this.open();
    return 0;
  }

  async deleteDataset(): Promise<'missing'> {
    this.open();
    return 'missing';
  }

  async setDatasetSchedule(): Promise<StoredDataset | null> {
    return this.getDataset();
  }

  async setDatasetBaseline(): Promise<StoredDataset | null> {
    return this.getDataset();
  }

  async dueDatasets(): Promise<StoredDataset[]> {
    this.open();
    return [];
  }

  async claimScheduledRun(): Promise<boolean> {
    this.open();
    return false;
  }

  async recordDatasetRun(): Promise<void> {
    this.open();
  }

  async autoDatasets(): Promise<StoredDataset[]> {
    this.open();
    return [];
  }

  async claimAutoRun(): Promise<boolean> {
    this.open();
    return false;
  }

  async listHistory(query: HistoryQuery = {}): Promise<HistoryPage> {
    this.open();
    const limit = pageLimit(query.limit);
    const cursor = query.cursor ? decodeCursor(query.cursor) : undefined;
    const now = query.now ?? Date.now();
    const all = [...this.jobs.values()].map((e) => e.job).filter((j) => live(j, now)
      && (typeof query.owner !== 'string' || j.owner === query.owner)
      && (query.id === undefined || j.id === query.id.toLowerCase())
      && (query.modelName === undefined || j.modelName === query.modelName)
      && (query.modelVersion === undefined || j.modelVersion === query.modelVersion)
      && (query.datasetId === undefined || j.datasetId === query.datasetId)
      && (query.status === undefined || j.status === query.status)
      && (query.since === undefined || j.createdAt >= query.since)
      && (query.until === undefined || j.createdAt < query.until)
      && (!cursor || j.createdAt < cursor.createdAt || (j.createdAt === cursor.createdAt && j.id < cursor.id)))
      .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    const { items: rows, nextCursor } = keysetPage(all, limit, (j) => {
      const summary = historySummary(j.status === 'done' ? j.result : null);
      return {
        id: j.id, owner: j.owner, mode: j.mode, status: j.status, createdAt: j.createdAt, startedAt: j.startedAt, finishedAt: j.finishedAt,
        modelName: j.modelName, modelVersion: j.modelVersion, modelSha256: null, datasetId: j.datasetId, datasetName: null, trigger: null,
        total: j.progress.total, summary: query.classes ? summary : { ...summary, classes: [] },
      };
    });
    return { rows, nextCursor };
  }

  private claimable(j: StoredJob, now: number): boolean {
    return j.status === 'queued' || (j.status === 'running' && j.leaseExpiresAt !== null && j.leaseExpiresAt <= now);
  }

  private claim(j: StoredJob, leaseOwner: string, leaseMs: number, now: number): StoredJob {
    j.status = 'running';
    j.leaseOwner = leaseOwner;
    j.leaseExpiresAt = now + leaseMs;
    j.startedAt ??= now;
    j.attempts++;
    return copyJob(j);
  }

  async claimNext(leaseOwner: string, leaseMs: number, now = Date.now()): Promise<StoredJob | null> {
    this.open();
    if (!(leaseMs > 0)) throw new RangeError(`leaseMs must be a positive number (got ${leaseMs})`);
    const next = [...this.jobs.values()].map((e) => e.job).filter((j) => this.claimable(j, now))
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))[0];
    return next ? this.claim(next, leaseOwner, leaseMs, now) : null;
  }

  async claimJob(id: string, leaseOwner: string, leaseMs: number, now = Date.now()): Promise<StoredJob | null> {
    this.open();
    if (!(leaseMs > 0)) throw new RangeError(`leaseMs must be a positive number (got ${leaseMs})`);
    const e = this.entry(id);
    return e && this.claimable(e.job, now) ? this.claim(e.job, leaseOwner, leaseMs, now) : null;
  }

  async renewLease(id: string, leaseOwner: string, leaseMs: number, now = Date.now()): Promise<boolean> {
    this.open();
    const j = this.entry(id)?.job;
    if (!j || j.status !== 'running' || j.leaseOwner !== leaseOwner) return false;
    j.leaseExpiresAt = now + leaseMs;
    return true;
  }

  async updateProgress(id: string, leaseOwner: string, progress: JobProgress): Promise<boolean> {
    this.open();
    const j = this.entry(id)?.job;
    if (!j || j.status !== 'running' || j.leaseOwner !== leaseOwner) return false;
    j.progress = { ...progress };
    return true;
  }

  async finishJob(id: string, o: JobOutcome): Promise<boolean> {
    this.open();
    const e = this.entry(id);
    const j = e?.job;
    if (!e || !j || (j.status !== 'queued' && j.status !== 'running') || (o.leaseOwner !== null && j.leaseOwner !== o.leaseOwner)) return false;
    const now = o.now ?? Date.now();
    j.status = o.status;
    j.finishedAt = now;
    j.expiresAt = now + o.ttlMs;
    j.progress = { ...j.progress, phase: 'finished' };
    j.result = o.status === 'done' && o.result !== undefined ? JSON.parse(text(o.result)) : null;
    j.error = o.status === 'failed' && o.error !== undefined ? JSON.parse(text(o.error)) : null;
    e.report = o.status === 'done' && o.report !== undefined ? text(o.report) : null;
    j.leaseOwner = null;
    j.leaseExpiresAt = null;
    if (!o.keepImages) e.images.clear();
    return true;
  }

  async requestCancel(id: string, ttlMs: number, now = Date.now()): Promise<StoredJob | null> {
    this.open();
    const e = this.entry(id, now);
    if (!e) return null;
    const j = e.job;
    if (j.status === 'queued') {
      j.status = 'cancelled';
      j.cancelRequested = true;
      j.finishedAt = now;
      j.expiresAt = now + ttlMs;
      j.progress = { ...j.progress, phase: 'finished' };
      e.images.clear();
    } else if (j.status === 'running') j.cancelRequested = true;
    return live(j, now) ? copyJob(j) : null;
  }

  async getJobInput(id: string): Promise<StoredJobInput | null> {
    this.open();
    const e = this.entry(id);
    if (!e) return null;
    if (e.input.mode === 'detections') return { mode: 'detections', groundTruth: parse(e.input.groundTruth), detections: parse(e.input.detections) };
    const images = [...e.images.entries()].sort(([a], [b]) => a - b).map(([index, im]) => ({ index, fileName: im.fileName, field: im.field, size: im.bytes.byteLength }));
    return { mode: 'model', annotations: parse(e.input.annotations), images };
  }

  async getJobImage(id: string, index: number): Promise<JobImageData | null> {
    this.open();
    const im = this.entry(id)?.images.get(index);
    return im ? { index, fileName: im.fileName, field: im.field, size: im.bytes.byteLength, bytes: Uint8Array.from(im.bytes) } : null;
  }

  async putImageRecord(id: string, index: number, record: unknown, progress?: JobProgress): Promise<void> {
    this.open();
    const e = this.entry(id);
    if (!e) throw new Error(`no job ${id} (foreign key)`);
    e.records.set(index, record instanceof Uint8Array ? { json: null, bytes: Uint8Array.from(record) } : { json: text(record), bytes: null });
    if (progress && e.job.status === 'running') e.job.progress = { ...progress };
  }

  async listImageRecords(id: string, page: { after?: number; limit?: number } = {}): Promise<ImageRecord[]> {
    this.open();
    const limit = page.limit ?? 1000;
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer (got ${limit})`);
    const e = this.entry(id);
    if (!e) return [];
    return [...e.records.entries()].filter(([i]) => i > (page.after ?? -1)).sort(([a], [b]) => a - b).slice(0, limit)
      .map(([index, r]) => ({ index, record: r.bytes ? Uint8Array.from(r.bytes) : parse(r.json) }));
  }

  async doneImageIndices(id: string, range: { from?: number; to?: number } = {}): Promise<number[]> {
    this.open();
    const from = range.from ?? 0, to = range.to ?? 2 ** 31 - 1;
    return [...(this.entry(id)?.records.keys() ?? [])].filter((k) => k >= from && k < to).sort((a, b) => a - b);
  }

  async countImageRecords(id: string): Promise<number> {
    this.open();
    return this.entry(id)?.records.size ?? 0;
  }

  async deleteJob(id: string): Promise<boolean> {
    this.open();
    const key = normId(id);
    return key ? this.jobs.delete(key) : false;
  }

  async deleteExpired(now = Date.now()): Promise<number> {
    this.open();
    let n = 0;
    for (const [id, e] of this.jobs) if (e.job.expiresAt !== null && e.job.expiresAt <= now) { this.jobs.delete(id); n++; }
    return n;
  }

  // --- drift references (docs/drift.md)
  private readonly driftRefs = new Map<string, import('../store/types.js').DriftReferenceRecord>();

  async putDriftReference(ref: import('../store/types.js').DriftReferenceRecord): Promise<void> {
    this.driftRefs.set(`${ref.model}\u0000${ref.version}`, structuredClone(ref));
  }

  async getDriftReference(model: string, version: string): Promise<import('../store/types.js').DriftReferenceRecord | null> {
    const r = this.driftRefs.get(`${model}\u0000${version}`);
    return r ? structuredClone(r) : null;
  }

  async listDriftReferences(): Promise<Array<import('../store/types.js').DriftReferenceRecord>> {
    return [...this.driftRefs.values()].sort((a, b) => (a.model < b.model ? -1 : a.model > b.model ? 1 : a.version < b.version ? -1 : a.version > b.version ? 1 : 0))
      .map((r) => structuredClone(r));
  }

  async deleteDriftReference(model: string, version: string): Promise<boolean> {
    return this.driftRefs.delete(`${model}\u0000${version}`);
  }

  async ping(): Promise<void> {
    this.open();
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
