/**
 * @file The drift use case (docs/drift.md): counts predictions into the live window
 * ({@link DriftCollector}), keeps one reference per model version in the store (so it survives a
 * restart and every replica sees it), and answers the comparison: the current and reference
 * histograms and the PSI of each feature. References are pinned from live traffic (the last N
 * predictions, or those of the last T minutes) or from a finished evaluation's detections (the
 * predictions on a golden set). No Fastify here.
 */
import { decodeImageOutcome } from '../evaluation/records.js';
import type { DriftReferenceRecord, Store } from '../store/types.js';
import { DriftCollector, type ModelKey } from './collector.js';
import { DriftNoDataError, DriftReferenceNotFoundError, DriftSourceError } from './errors.js';
import {
  FEATURES, SCORE_FLOOR, emptyHistograms, histogramsOf, imageBins, psiAll, psiLevel,
  type Feature, type Histograms, type ImageBins, type PredictionInput,
} from './stats.js';

/** The store methods drift uses. */
export type DriftStore = Pick<Store, 'putDriftReference' | 'getDriftReference' | 'listDriftReferences' | 'deleteDriftReference' | 'getJob' | 'getJobInput' | 'listImageRecords' | 'listJobs'>;

/** Where a reference came from. */
export type ReferenceSource =
  | { kind: 'live'; last: number | null; window_seconds: number | null; from: string | null; to: string | null }
  | { kind: 'evaluation'; evaluation_id: string; dataset_id: string | null; mode: string; finished_at: string | null };

/** A reference as the API shows it. */
export interface DriftReference {
  model: string;
  version: string;
  source: ReferenceSource;
  images: number;
  created_at: string;
  histograms: Histograms;
}

/** The comparison of one model version (GET /drift). */
export interface DriftReport {
  model: string;
  version: string;
  classes: string[];
  score_floor: number;
  min_images: number;
  current: { images: number; capacity: number; observed: number; from: string | null; to: string | null; histograms: Histograms };
  reference: DriftReference | null;
  /** Per feature; null when either side is empty or the window holds fewer than min_images images. */
  psi: Record<Feature, number | null>;
  /** none | warning | critical per feature (null where psi is null). */
  level: Record<Feature, 'none' | 'warning' | 'critical' | null>;
}

export interface DriftServiceOptions {
  /** Images kept per model version (DRIFT_WINDOW). */
  window: number;
  /** PSI is only computed once the window holds this many images (DRIFT_MIN_IMAGES). */
  minImages: number;
  /** How long a reference read from the store is reused (ms; other replicas may replace it). */
  cacheMs?: number;
  clock?: () => number;
}

const iso = (t: number | null | undefined): string | null => (t === null || t === undefined ? null : new Date(t).toISOString());
const keyOf = (name: string, version: string): string => `${name}\u0000${version}`;
const nullPsi = (): Record<Feature, number | null> => Object.fromEntries(FEATURES.map((f) => [f, null])) as Record<Feature, number | null>;

/** Counts predictions and compares them with the pinned references. */
export class DriftService {
  readonly collector: DriftCollector;
  private readonly cache = new Map<string, { at: number; ref: DriftReference | null }>();
  private readonly clock: () => number;
  private readonly cacheMs: number;

  constructor(private readonly store: DriftStore, readonly opts: DriftServiceOptions) {
    this.collector = new DriftCollector(opts.window);
    this.clock = opts.clock ?? Date.now;
    this.cacheMs = opts.cacheMs ?? 10_000;
  }

  /**
   * Counts one /predict answer of `model`, made with `scoreThreshold`. A request whose threshold
   * is above {@link SCORE_FLOOR} shows only part of the distribution and is not counted.
   * @returns the image's bins, or null when not counted
   */
  observe(model: ModelKey, prediction: PredictionInput, scoreThreshold: number): ImageBins | null {
    if (!(scoreThreshold <= SCORE_FLOOR)) return null;
    return this.collector.observe(model, prediction, this.clock());
  }

  /** The stored reference of a model version (cached for `cacheMs`), or null. */
  async reference(model: string, version: string): Promise<DriftReference | null> {
    const key = keyOf(model, version);
    const hit = this.cache.get(key);
    const now = this.clock();
    if (hit && now - hit.at < this.cacheMs) return hit.ref;
    const rec = await this.store.getDriftReference(model, version);
    const ref = rec ? fromRecord(rec) : null;
    this.cache.set(key, { at: now, ref });
    return ref;
  }

  /** The current window against the reference. `classes`: the model's (when the window is empty). */
  async report(model: string, version: string, classes: readonly string[]): Promise<DriftReport> {
    const w = this.collector.window(model, version);
    const ref = await this.reference(model, version);
    const cls = w?.classes ?? classes;
    const current = w?.histograms ?? emptyHistograms(cls);
    const images = w?.images ?? 0;
    const psi = ref && images >= this.opts.minImages ? psiAll(ref.histograms, current) : nullPsi();
    return {
      model, version, classes: [...cls], score_floor: SCORE_FLOOR, min_images: this.opts.minImages,
      current: { images, capacity: this.opts.window, observed: w?.observed ?? 0, from: iso(w?.from), to: iso(w?.to), histograms: current },
      reference: ref,
      psi,
      level: Object.fromEntries(FEATURES.map((f) => [f, psiLevel(psi[f])])) as DriftReport['level'],
    };
  }

  /** PSI of every model version that has a window and a reference (the Prometheus gauges). */
  async psiSnapshot(): Promise<Array<{ model: string; version: string; images: number; referenceImages: number | null; psi: Record<Feature, number | null> }>> {
    const out = [];
    for (const m of this.collector.models()) {
      let ref: DriftReference | null = null;
      try {
        ref = await this.reference(m.name, m.version);
      } catch { /* store unavailable: no PSI this scrape */ }
      const w = this.collector.window(m.name, m.version)!;
      const psi = ref && w.images >= this.opts.minImages ? psiAll(ref.histograms, w.histograms) : nullPsi();
      out.push({ model: m.name, version: m.version, images: w.images, referenceImages: ref?.images ?? null, psi });
    }
    return out;
  }

  /**
   * Pins the newest predictions of the live window as the reference: the last `last` images and/or
   * those of the last `windowSeconds`; neither = the whole window.
   * @throws DriftNoDataError when that selects no image
   */
  async pinLive(model: ModelKey, opts: { last?: number; windowSeconds?: number; owner?: string | null }): Promise<DriftReference> {
    const now = this.clock();
    const sel = this.collector.select(model.name, model.version, {
      ...(opts.last !== undefined ? { last: opts.last } : {}),
      ...(opts.windowSeconds !== undefined ? { since: now - opts.windowSeconds * 1000 } : {}),
    });
    if (!sel || sel.images === 0) throw new DriftNoDataError(model.name, model.version);
    return this.save(model, {
      kind: 'live', last: opts.last ?? null, window_seconds: opts.windowSeconds ?? null, from: iso(sel.from), to: iso(sel.to),
    }, sel.histograms, sel.images, opts.owner ?? null);
  }

  /**
   * Pins the detections of a finished evaluation (model mode: the model's predictions on the set's
   * images; detections mode: the uploaded detections) as the reference of `model`.
   * `owner` (when not null) must own the evaluation. Mask areas are not kept by model-mode
   * evaluations: that feature's reference stays empty (its PSI null).
   * @throws DriftSourceError (unknown, not done, or unreadable evaluation)
   */
  async pinEvaluation(model: ModelKey, id: string, owner: string | null, field = 'body.evaluation_id'): Promise<DriftReference> {
    const job = await this.store.getJob(id);
    if (!job || (owner !== null && job.owner !== owner)) throw new DriftSourceError(`No evaluation "${id}" (unknown, deleted or expired)`, field, 'MRC_ERR_JOB_NOT_FOUND');
    if (job.status !== 'done') throw new DriftSourceError(`Evaluation "${id}" is ${job.status}: a reference needs a finished evaluation`, field, 'MRC_ERR_JOB_NOT_DONE');
    const input = await this.store.getJobInput(id);
    if (!input) throw new DriftSourceError(`The inputs of evaluation "${id}" are no longer stored`, field, 'MRC_ERR_JOB_NOT_FOUND');
    const classIndex = new Map(model.classes.map((c, i) => [c, i]));
    const bins: ImageBins[] = [];
    if (input.mode === 'detections') {
      const gt = input.groundTruth as { images?: Array<{ id: number; width: number; height: number }>; categories?: Array<{ id: number; name: string }> };
      const names = new Map((gt.categories ?? []).map((c) => [c.id, String(c.name)]));
      const byImage = new Map<number, PredictionInput['instances'][number][]>();
      for (const d of (input.detections as Array<{ image_id: number; category_id: number; score: number; area?: unknown }>) ?? []) {
        const list = byImage.get(d.image_id) ?? [];
        list.push({ label: names.get(d.category_id) ?? '', score: Number(d.score), area: typeof d.area === 'number' ? d.area : null });
        byImage.set(d.image_id, list);
      }
      for (const im of gt.images ?? []) bins.push(imageBins({ width: im.width, height: im.height, instances: byImage.get(im.id) ?? [] }, classIndex));
    } else {
      const ann = input.annotations as { images?: Array<{ id: number; width: number; height: number }>; categories?: Array<{ id: number; name: string }> };
      const names = new Map((ann.categories ?? []).map((c) => [c.id, String(c.name)]));
      const dims = new Map((ann.images ?? []).map((im) => [im.id, im]));
      let after: number | undefined;
      for (;;) {
        const page = await this.store.listImageRecords(id, { ...(after !== undefined ? { after } : {}), limit: 200 });
        for (const r of page) {
          if (!(r.record instanceof Uint8Array)) continue;
          const o = decodeImageOutcome(r.record);
          const im = dims.get(o.imageId);
          if (!im) continue;
          bins.push(imageBins({ width: im.width, height: im.height, instances: o.detections.map((d) => ({ label: names.get(d.category_id) ?? '', score: d.score, area: null })) }, classIndex));
        }
        if (page.length < 200) break;
        after = page.at(-1)!.index;
      }
    }
    if (bins.length === 0) throw new DriftNoDataError(model.name, model.version, `evaluation "${id}" has no image`);
    return this.save(model, {
      kind: 'evaluation', evaluation_id: id, dataset_id: job.datasetId, mode: job.mode, finished_at: iso(job.finishedAt),
    }, histogramsOf(model.classes, bins), bins.length, owner);
  }

  /**
   * The newest finished evaluation of `datasetId` by this model version (the golden set's latest
   * predictions), or null.
   */
  async latestEvaluationOf(datasetId: string, model: ModelKey, owner: string | null): Promise<string | null> {
    let cursor: string | null = null;
    for (let page = 0; page < 20; page++) {
      const res = await this.store.listJobs({ datasetId, status: 'done', limit: 100, cursor, ...(owner !== null ? { owner } : {}) });
      const hit = res.jobs.find((j) => (j.modelName === null || j.modelName === model.name) && (j.modelVersion === null || j.modelVersion === model.version));
      if (hit) return hit.id;
      if (!res.nextCursor) return null;
      cursor = res.nextCursor;
    }
    return null;
  }

  /** Removes the reference. @throws DriftReferenceNotFoundError */
  async clear(model: string, version: string): Promise<void> {
    this.cache.delete(keyOf(model, version));
    if (!await this.store.deleteDriftReference(model, version)) throw new DriftReferenceNotFoundError(model, version);
  }

  private async save(model: ModelKey, source: ReferenceSource, histograms: Histograms, images: number, owner: string | null): Promise<DriftReference> {
    const createdAt = this.clock();
    await this.store.putDriftReference({ model: model.name, version: model.version, source, histograms, images, createdAt, owner });
    const ref: DriftReference = { model: model.name, version: model.version, source, images, created_at: iso(createdAt)!, histograms };
    this.cache.set(keyOf(model.name, model.version), { at: createdAt, ref });
    return ref;
  }
}

function fromRecord(r: DriftReferenceRecord): DriftReference {
  const h = r.histograms as Histograms;
  return { model: r.model, version: r.version, source: r.source as ReferenceSource, images: r.images, created_at: iso(r.createdAt)!, histograms: h };
}

