/**
 * @file Small validators for untrusted JSON handed to the eval core. Each throws an `InputError`
 * carrying the JSON path of the offending value (`ground_truth.annotations[3].bbox`), with 400 for a
 * wrong shape or type and 422 for a well-typed but invalid value. Used by `coco/load.ts`,
 * `coco/params.ts`, `coco/segmentation.ts` and `index.ts`.
 */
import { InputError, type Warning } from './errors.js';

export type JsonObject = Record<string, unknown>;

/** One kind of warning as {@link WarningCollector} holds it. */
export interface WarningEntry {
  kind: string;
  path: string;
  message: string;
  count: number;
}

/** Throw an `InputError` for `path`. */
export function fail(path: string, message: string, statusCode: 400 | 413 | 422 = 422): never {
  throw new InputError(path, message, statusCode);
}

/** A human name for a JSON value's type, for messages. */
export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function expectObject(v: unknown, path: string): JsonObject {
  if (!isObject(v)) fail(path, `must be an object, got ${typeName(v)}`, 400);
  return v;
}

export function expectArray(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) fail(path, `must be an array, got ${typeName(v)}`, 400);
  return v;
}

/** A required finite number (rejects NaN, ±Infinity, strings). */
export function expectNumber(v: unknown, path: string): number {
  if (typeof v !== 'number') fail(path, v === undefined ? 'is required' : `must be a number, got ${typeName(v)}`, 400);
  if (!Number.isFinite(v)) fail(path, `must be finite, got ${v}`);
  return v;
}

/** A required safe integer `>= min`. */
export function expectInteger(v: unknown, path: string, min: number): number {
  const n = expectNumber(v, path);
  if (!Number.isSafeInteger(n)) fail(path, `must be an integer, got ${n}`);
  if (n < min) fail(path, `must be >= ${min}, got ${n}`);
  return n;
}

/** A COCO box `[x, y, w, h]`: 4 finite numbers, non-negative width and height. */
export function expectXywh(v: unknown, path: string, out: Float64Array, offset: number): void {
  const a = expectArray(v, path);
  if (a.length !== 4) fail(path, `must be [x, y, width, height], got ${a.length} numbers`);
  for (let i = 0; i < 4; i++) out[offset + i] = expectNumber(a[i], `${path}[${i}]`);
  if (out[offset + 2]! < 0) fail(`${path}[2]`, `width must be >= 0, got ${out[offset + 2]}`);
  if (out[offset + 3]! < 0) fail(`${path}[3]`, `height must be >= 0, got ${out[offset + 3]}`);
}

/** `iscrowd`: 0/1 or a boolean, returned as 0/1. */
export function expectFlag(v: unknown, path: string): 0 | 1 {
  if (v === 0 || v === false) return 0;
  if (v === 1 || v === true) return 1;
  if (v === undefined) fail(path, 'is required (pycocotools raises KeyError without it)', 400);
  fail(path, `must be 0 or 1, got ${JSON.stringify(v)}`, typeof v === 'number' ? 422 : 400);
}

/** Python truthiness of a JSON value (`ann.get('ignore', False)` in mmdet). */
export function pyTruthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isObject(v)) return Object.keys(v).length > 0;
  return true;
}

/**
 * Collects non-fatal warnings, grouped by kind so that 10 000 detections with an unknown category
 * give one warning with a count (and the first offending path), not 10 000.
 */
export class WarningCollector {
  private readonly kinds = new Map<string, { path: string; message: string; count: number }>();

  /** Record one occurrence of `kind` at `path`. */
  add(kind: string, path: string, message: string): void {
    const k = this.kinds.get(kind);
    if (k) k.count++;
    else this.kinds.set(kind, { path, message, count: 1 });
  }

  /** Record `count` occurrences at once (a message that already states the count). */
  addSummary(kind: string, path: string, message: string): void {
    this.kinds.set(kind, { path, message, count: 1 });
  }

  /** Every kind with its first path, message and count (what {@link merge} takes; serialisable). */
  entries(): WarningEntry[] {
    return [...this.kinds.entries()].map(([kind, { path, message, count }]) => ({ kind, path, message, count }));
  }

  /**
   * Adds entries collected elsewhere (another batch of the same evaluation), as if they had been
   * recorded here in that order: a kind already present keeps its first path and adds the count.
   */
  merge(entries: readonly WarningEntry[]): void {
    for (const e of entries) {
      const k = this.kinds.get(e.kind);
      if (k) k.count += e.count;
      else this.kinds.set(e.kind, { path: e.path, message: e.message, count: e.count });
    }
  }

  /** One `Warning` per kind; the path is the first occurrence's. */
  list(): Warning[] {
    return [...this.kinds.values()].map(({ path, message, count }) => ({
      path,
      message: count > 1 ? `${message} (${count} occurrences; first shown)` : message,
    }));
  }
}
