/**
 * @file Test helpers for the eval core: fixture loading (the copies in test/fixtures/coco-eval, never a
 * path outside the repository) and numeric comparison.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { InputError } from '../../src/eval/errors.js';

export const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'coco-eval');

/** Parsed JSON of a fixture file, relative to test/fixtures/coco-eval. */
export function fixture<T = any>(name: string): T {
  return JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as T;
}

/** Flatten nested arrays (numpy `tolist()` output) in C order. */
export function flat(a: unknown): number[] {
  return (a as unknown[]).flat(Infinity) as number[];
}

/** max |a[i] - b[i]| after checking equal lengths. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'length mismatch');
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = d; // NaN propagates as NaN
  }
  return m;
}

/** Assert that `fn` throws an InputError at exactly `path` (optionally with a status and message). */
export function assertInputError(fn: () => unknown, path: string, status?: number, message?: RegExp): InputError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof InputError, `expected InputError at ${path}, got ${String(caught)}`);
  assert.equal(caught.path, path);
  if (status !== undefined) assert.equal(caught.statusCode, status, caught.message);
  if (message) assert.match(caught.message, message);
  return caught;
}
