/**
 * @file COCOeval parameters, exactly as `cocoeval.py: Params.setDetParams` builds them
 * (docs/evaluation.md#parameters), plus validation of user overrides (`params.maxDets`, `params.iouThrs`,
 * `params.areaRng`). Shapes follow pycocotools: T = iouThrs, R = recThrs, K = categories, A = area ranges,
 * M = maxDets.
 */
import { expectArray, expectInteger, expectNumber, fail, isObject, typeName } from '../json-check.js';
import { linspace } from '../numeric.js';

export type IouType = 'bbox' | 'segm';

/** Evaluation parameters (pycocotools `Params`, `useCats = 1`). */
export interface CocoParams {
  iouType: IouType;
  /** [T] IoU thresholds; default numpy `linspace(.5, .95, 10)` (index 8 is 0.8999999999999999). */
  iouThrs: Float64Array;
  /** [R] recall thresholds; default `linspace(0, 1, 101)` (i*0.01, not i/100). */
  recThrs: Float64Array;
  /** [M] max detections per image, ascending; default [1, 10, 100]. */
  maxDets: number[];
  /** [A] inclusive area ranges `[lo, hi]`; default all, small, medium, large. */
  areaRng: Array<[number, number]>;
  /** [A] labels of `areaRng` (fixed, as in pycocotools). */
  areaRngLbl: string[];
}

/** pycocotools' area range labels; summarize() looks ranges up by these names. */
export const AREA_LABELS: readonly string[] = ['all', 'small', 'medium', 'large'];

const DEFAULT_AREA_RNG: Array<[number, number]> = [
  [0, 1e5 ** 2],
  [0, 32 ** 2],
  [32 ** 2, 96 ** 2],
  [96 ** 2, 1e5 ** 2],
];

/** Default parameters for bbox/segm evaluation. Mirrors `cocoeval.py: Params.setDetParams`. */
export function defaultParams(iouType: IouType): CocoParams {
  return {
    iouType,
    iouThrs: linspace(0.5, 0.95, Math.round((0.95 - 0.5) / 0.05) + 1),
    recThrs: linspace(0, 1, Math.round((1 - 0) / 0.01) + 1),
    maxDets: [1, 10, 100],
    areaRng: DEFAULT_AREA_RNG.map(([lo, hi]) => [lo, hi] as [number, number]),
    areaRngLbl: [...AREA_LABELS],
  };
}

/** User overrides, as they arrive in a request (validated by {@link resolveParams}). */
export interface CocoParamsInput {
  maxDets?: unknown;
  iouThrs?: unknown;
  areaRng?: unknown;
}

/**
 * Defaults with validated overrides applied. `maxDets` must be exactly 3 positive integers (summarize
 * reads maxDets[0..2]) and is sorted ascending as `COCOeval.evaluate` does; `iouThrs` is 1..100
 * numbers in [0, 1] kept in the given order; `areaRng` is 4 `[lo, hi]` pairs (all, small, medium,
 * large) with 0 <= lo <= hi. Throws InputError with paths under `path`.
 */
export function resolveParams(iouType: IouType, input: unknown, path = 'params'): CocoParams {
  const p = defaultParams(iouType);
  if (input === undefined || input === null) return p;
  if (!isObject(input)) fail(path, `must be an object, got ${typeName(input)}`, 400);
  const known = new Set(['maxDets', 'iouThrs', 'areaRng']);
  for (const k of Object.keys(input)) if (!known.has(k)) fail(`${path}.${k}`, 'unknown parameter (expected maxDets, iouThrs or areaRng)', 400);
  if (input.maxDets !== undefined) {
    const a = expectArray(input.maxDets, `${path}.maxDets`);
    if (a.length !== 3) fail(`${path}.maxDets`, `must have exactly 3 entries (pycocotools summarize reads maxDets[0..2]), got ${a.length}`);
    p.maxDets = a.map((v, i) => expectInteger(v, `${path}.maxDets[${i}]`, 1)).sort((x, y) => x - y);
  }
  if (input.iouThrs !== undefined) {
    const a = expectArray(input.iouThrs, `${path}.iouThrs`);
    if (a.length < 1 || a.length > 100) fail(`${path}.iouThrs`, `must have 1..100 thresholds, got ${a.length}`);
    p.iouThrs = Float64Array.from(a, (v, i) => {
      const t = expectNumber(v, `${path}.iouThrs[${i}]`);
      if (t < 0 || t > 1) fail(`${path}.iouThrs[${i}]`, `must be in [0, 1], got ${t}`);
      return t;
    });
  }
  if (input.areaRng !== undefined) {
    const a = expectArray(input.areaRng, `${path}.areaRng`);
    if (a.length !== 4) fail(`${path}.areaRng`, `must have 4 ranges (${AREA_LABELS.join(', ')}), got ${a.length}`);
    p.areaRng = a.map((r, i) => {
      const q = expectArray(r, `${path}.areaRng[${i}]`);
      if (q.length !== 2) fail(`${path}.areaRng[${i}]`, `must be [lo, hi], got ${q.length} numbers`);
      const lo = expectNumber(q[0], `${path}.areaRng[${i}][0]`);
      const hi = expectNumber(q[1], `${path}.areaRng[${i}][1]`);
      if (lo < 0) fail(`${path}.areaRng[${i}][0]`, `must be >= 0, got ${lo}`);
      if (hi < lo) fail(`${path}.areaRng[${i}][1]`, `must be >= lo (${lo}), got ${hi}`);
      return [lo, hi] as [number, number];
    });
  }
  return p;
}

/** True if two parameter sets evaluate identically (used before merging partial results). */
export function sameParams(a: CocoParams, b: CocoParams): boolean {
  const eq = (x: ArrayLike<number>, y: ArrayLike<number>): boolean =>
    x.length === y.length && Array.prototype.every.call(x, (v: number, i: number) => Object.is(v, y[i]));
  return (
    a.iouType === b.iouType &&
    eq(a.iouThrs, b.iouThrs) &&
    eq(a.recThrs, b.recThrs) &&
    eq(a.maxDets, b.maxDets) &&
    eq(a.areaRng.flat(), b.areaRng.flat())
  );
}
