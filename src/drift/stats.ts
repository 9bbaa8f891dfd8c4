/**
 * @file Drift statistics without labels (docs/drift.md), pure: what one prediction contributes
 * (its features), the fixed bins of each feature, histograms over those bins, and the population
 * stability index (PSI) between a reference and a current histogram. No HTTP, no clock, no store.
 *
 * Features of a prediction (only instances with score ≥ {@link SCORE_FLOOR} count):
 * - `class_mix`: the class of each detection (bins: the model's classes);
 * - `score`: each detection's score;
 * - `detections_per_image`: how many detections the image got;
 * - `mask_area`: each detection's mask area as a fraction of the image area;
 * - `image_size`: the image's pixel count (width × height).
 *
 * Numeric bins follow Prometheus' `le` convention: bin i holds values v with edge[i-1] < v ≤ edge[i]
 * (the first bin everything ≤ edge[0]), and a last bin `+Inf` holds the rest, so the JSON
 * histograms and the `_bucket` series of the Prometheus histograms use the same edges.
 */

/** A feature whose distribution is watched. The only values of the `feature` label. */
export type Feature = 'class_mix' | 'score' | 'detections_per_image' | 'mask_area' | 'image_size';
export const FEATURES: readonly Feature[] = ['class_mix', 'score', 'detections_per_image', 'mask_area', 'image_size'];

/**
 * Lowest score a detection needs to count. The default `score_threshold` of /predict: a request
 * asking for a higher threshold would hide part of the distribution, so its image is not counted;
 * a request with a lower threshold has its detections below the floor left out.
 */
export const SCORE_FLOOR = 0.5;

/**
 * What an empty bin's proportion is raised to before PSI's logarithm: ln(0) is undefined, and
 * with 1e-4 a bin that is empty on one side and holds a share p on the other adds
 * (p − 1e-4)·ln(p / 1e-4) — about 0.37 for p = 5%, 0.05 for p = 1%.
 */
export const PSI_EPSILON = 1e-4;

/** PSI below this: no significant change; from it: moderate shift (warning). */
export const PSI_WARN = 0.1;
/** PSI above this: significant shift (critical). */
export const PSI_CRITICAL = 0.25;

/** Upper bin edges (`le`) of the numeric features; a `+Inf` bin follows the last. */
export const BUCKETS = {
  /** Mask R-CNN scores crowd near 1: finer bins there. */
  score: [0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999],
  detections_per_image: [0, 1, 2, 3, 5, 10, 20, 50, 100],
  mask_area: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
  /** 128², 256², 512², 640², 1024², 1920×1080, 2048², 4096². */
  image_size: [16_384, 65_536, 262_144, 409_600, 1_048_576, 2_073_600, 4_194_304, 16_777_216],
} as const satisfies Record<Exclude<Feature, 'class_mix'>, readonly number[]>;

export type NumericFeature = keyof typeof BUCKETS;
export const NUMERIC_FEATURES: readonly NumericFeature[] = ['score', 'detections_per_image', 'mask_area', 'image_size'];

/** Counts over named bins. */
export interface Histogram {
  /** Bin names: class names for `class_mix`; the upper edges (`"0.6"`, …, `"+Inf"`) otherwise. */
  bins: string[];
  counts: number[];
}

/** One histogram per feature. */
export type Histograms = Record<Feature, Histogram>;

/** What one prediction is reduced to (the input of the features). */
export interface PredictionInput {
  width: number;
  height: number;
  /** Detections; `area` is the mask's pixel count (box area without masks), null when unknown. */
  instances: ReadonlyArray<{ label: string; score: number; area?: number | null }>;
}

/** The bins (as indices) one image falls into: what a collector keeps per image. */
export interface ImageBins {
  imageSize: number;
  detections: number;
  /** Class index (into the model's classes) per counted detection; -1 for a class not in the list. */
  classes: number[];
  scores: number[];
  /** One per counted detection with a known area. */
  areas: number[];
}

/** Bin names of a numeric feature. */
export function binNames(feature: NumericFeature): string[] {
  return [...BUCKETS[feature].map(String), '+Inf'];
}

/** Index of the bin of `v` under `le` edges (NaN goes to the last bin). */
export function binIndex(edges: readonly number[], v: number): number {
  let lo = 0, hi = edges.length;
  // first edge ≥ v (binary search); none → the +Inf bin (edges.length)
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (v <= edges[mid]!) hi = mid; else lo = mid + 1;
  }
  return lo;
}

/** An empty histogram set for a model with `classes`. */
export function emptyHistograms(classes: readonly string[]): Histograms {
  const zero = (n: number): number[] => new Array<number>(n).fill(0);
  return {
    class_mix: { bins: [...classes], counts: zero(classes.length) },
    score: { bins: binNames('score'), counts: zero(BUCKETS.score.length + 1) },
    detections_per_image: { bins: binNames('detections_per_image'), counts: zero(BUCKETS.detections_per_image.length + 1) },
    mask_area: { bins: binNames('mask_area'), counts: zero(BUCKETS.mask_area.length + 1) },
    image_size: { bins: binNames('image_size'), counts: zero(BUCKETS.image_size.length + 1) },
  };
}

/** The detections of a prediction that count (score ≥ SCORE_FLOOR, finite). */
export function countedInstances<T extends { score: number }>(instances: readonly T[]): T[] {
  return instances.filter((i) => Number.isFinite(i.score) && i.score >= SCORE_FLOOR);
}

/** Reduces one prediction to its bins. `classIndex` maps a label to its index in the model's classes. */
export function imageBins(p: PredictionInput, classIndex: ReadonlyMap<string, number>): ImageBins {
  const counted = countedInstances(p.instances);
  const pixels = p.width * p.height;
  const areas: number[] = [];
  for (const i of counted) {
    if (typeof i.area === 'number' && Number.isFinite(i.area) && i.area >= 0 && pixels > 0) {
      areas.push(binIndex(BUCKETS.mask_area, i.area / pixels));
    }
  }
  return {
    imageSize: binIndex(BUCKETS.image_size, pixels),
    detections: binIndex(BUCKETS.detections_per_image, counted.length),
    classes: counted.map((i) => classIndex.get(i.label) ?? -1),
    scores: counted.map((i) => binIndex(BUCKETS.score, i.score)),
    areas,
  };
}

/** Adds (sign 1) or removes (sign -1) one image's bins to/from `h`. */
export function addImage(h: Histograms, b: ImageBins, sign: 1 | -1 = 1): void {
  h.image_size.counts[b.imageSize]! += sign;
  h.detections_per_image.counts[b.detections]! += sign;
  for (const c of b.classes) if (c >= 0 && c < h.class_mix.counts.length) h.class_mix.counts[c]! += sign;
  for (const s of b.scores) h.score.counts[s]! += sign;
  for (const a of b.areas) h.mask_area.counts[a]! += sign;
}

/** The histograms of a list of images. */
export function histogramsOf(classes: readonly string[], images: Iterable<ImageBins>): Histograms {
  const h = emptyHistograms(classes);
  for (const b of images) addImage(h, b);
  return h;
}

/** Sum of the counts. */
export function total(h: Histogram): number {
  let n = 0;
  for (const c of h.counts) n += c;
  return n;
}

/**
 * Population stability index of `actual` against `expected` (same bins):
 * PSI = Σᵢ (aᵢ − eᵢ) · ln(aᵢ / eᵢ), with aᵢ, eᵢ each bin's share of its histogram's total, each
 * raised to at least `epsilon` (empty bins). Every term is ≥ 0; PSI is symmetric in its arguments.
 * @returns null when either histogram is empty (nothing to compare) or the bins differ in number
 */
export function psi(expected: readonly number[], actual: readonly number[], epsilon = PSI_EPSILON): number | null {
  if (expected.length !== actual.length || expected.length === 0) return null;
  let ne = 0, na = 0;
  for (let i = 0; i < expected.length; i++) { ne += expected[i]!; na += actual[i]!; }
  if (!(ne > 0) || !(na > 0)) return null;
  let sum = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.max(expected[i]! / ne, epsilon);
    const a = Math.max(actual[i]! / na, epsilon);
    sum += (a - e) * Math.log(a / e);
  }
  return sum;
}

/**
 * `expected`'s counts re-aligned to `bins` by name (a reference recorded when the model had other
 * classes, or other edges): missing bins count 0, bins not in `bins` are dropped.
 */
export function alignTo(bins: readonly string[], h: Histogram): number[] {
  const at = new Map(h.bins.map((b, i) => [b, h.counts[i] ?? 0]));
  return bins.map((b) => at.get(b) ?? 0);
}

/** Severity of a PSI value (docs/drift.md): none < 0.1 ≤ warning ≤ 0.25 < critical. */
export function psiLevel(v: number | null): 'none' | 'warning' | 'critical' | null {
  if (v === null) return null;
  return v > PSI_CRITICAL ? 'critical' : v >= PSI_WARN ? 'warning' : 'none';
}

/** PSI of every feature (null where either side is empty). */
export function psiAll(reference: Histograms, current: Histograms): Record<Feature, number | null> {
  const out = {} as Record<Feature, number | null>;
  for (const f of FEATURES) {
    const cur = current[f];
    out[f] = psi(alignTo(cur.bins, reference[f]), cur.counts);
  }
  return out;
}
