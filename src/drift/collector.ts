/**
 * @file The live side of drift (docs/drift.md): per model version, the bins of the last `window`
 * predictions in a ring (oldest dropped first) and their running histograms. In memory, per
 * process: each replica watches its own traffic. Knows no HTTP, no store and no clock of its own
 * (callers pass the time).
 */
import { addImage, emptyHistograms, histogramsOf, imageBins, type Histograms, type ImageBins, type PredictionInput } from './stats.js';

/** A model version as the collector keys it (the loaded manifest's name, version and classes). */
export interface ModelKey {
  name: string;
  version: string;
  classes: readonly string[];
}

interface Entry { t: number; bins: ImageBins }

/** One model version's window. */
class Series {
  readonly ring: Array<Entry | undefined>;
  head = 0; // next write position
  size = 0;
  /** Predictions counted since start (also those dropped from the window). */
  observed = 0;
  readonly sums: Histograms;
  readonly classIndex: Map<string, number>;

  constructor(readonly model: ModelKey, capacity: number) {
    this.ring = new Array<Entry | undefined>(capacity);
    this.sums = emptyHistograms(model.classes);
    this.classIndex = new Map(model.classes.map((c, i) => [c, i]));
  }

  push(e: Entry): void {
    const cap = this.ring.length;
    const old = this.ring[this.head];
    if (this.size === cap && old) addImage(this.sums, old.bins, -1);
    this.ring[this.head] = e;
    this.head = (this.head + 1) % cap;
    this.size = Math.min(cap, this.size + 1);
    this.observed += 1;
    addImage(this.sums, e.bins);
  }

  /** Entries newest first. */
  *newestFirst(): Generator<Entry> {
    const cap = this.ring.length;
    for (let k = 1; k <= this.size; k++) yield this.ring[(this.head - k + cap) % cap]!;
  }
}

/** The current window of one model version. */
export interface WindowView {
  model: string;
  version: string;
  classes: readonly string[];
  /** Images in the window (≤ capacity). */
  images: number;
  capacity: number;
  /** Predictions counted since the process started. */
  observed: number;
  /** Time of the oldest and newest image in the window (ms), null when empty. */
  from: number | null;
  to: number | null;
  histograms: Histograms;
}

/** A selection of the window (what a live reference pins). */
export interface Selection {
  images: number;
  from: number | null;
  to: number | null;
  histograms: Histograms;
}

const keyOf = (name: string, version: string): string => `${name}\u0000${version}`;
const clone = (h: Histograms): Histograms => JSON.parse(JSON.stringify(h)) as Histograms;

/** The per-model-version windows. */
export class DriftCollector {
  private readonly series = new Map<string, Series>();

  /** @param capacity images kept per model version (the current window) */
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('drift window must be a positive integer');
  }

  /** Counts one prediction of `model` made at `t` (ms). @returns its bins */
  observe(model: ModelKey, p: PredictionInput, t: number): ImageBins {
    const key = keyOf(model.name, model.version);
    let s = this.series.get(key);
    if (!s || s.model.classes.join('\u0000') !== model.classes.join('\u0000')) {
      s = new Series({ name: model.name, version: model.version, classes: [...model.classes] }, this.capacity);
      this.series.set(key, s);
    }
    const bins = imageBins(p, s.classIndex);
    s.push({ t, bins });
    return bins;
  }

  /** Model versions seen, in first-seen order. */
  models(): Array<{ name: string; version: string; classes: readonly string[] }> {
    return [...this.series.values()].map((s) => s.model);
  }

  /** The window of a model version, or null when it made no prediction yet. */
  window(name: string, version: string): WindowView | null {
    const s = this.series.get(keyOf(name, version));
    if (!s) return null;
    let from: number | null = null, to: number | null = null;
    for (const e of s.newestFirst()) { if (to === null) to = e.t; from = e.t; }
    return {
      model: s.model.name, version: s.model.version, classes: s.model.classes, images: s.size, capacity: this.capacity,
      observed: s.observed, from, to, histograms: clone(s.sums),
    };
  }

  /**
   * The newest images of the window: the last `last` of them, and/or those made at or after `since`
   * (ms). Both absent: the whole window.
   */
  select(name: string, version: string, opts: { last?: number; since?: number } = {}): Selection | null {
    const s = this.series.get(keyOf(name, version));
    if (!s) return null;
    const picked: Entry[] = [];
    for (const e of s.newestFirst()) {
      if (opts.last !== undefined && picked.length >= opts.last) break;
      if (opts.since !== undefined && e.t < opts.since) break;
      picked.push(e);
    }
    return {
      images: picked.length,
      from: picked.at(-1)?.t ?? null,
      to: picked[0]?.t ?? null,
      histograms: histogramsOf(s.model.classes, picked.map((e) => e.bins)),
    };
  }
}
