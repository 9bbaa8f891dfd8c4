/**
 * Matcher hand cases (derivations inline): first index wins argmax ties, the low-quality rule
 * restores every tied element to its own argmax GT, a GT overlapping nothing makes every IoU-0
 * element positive, and thresholds compare in float32 like torch.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { match } from '../../src/losses/index.js';

const m = (rows: number[][], high: number, low: number, lq: boolean): number[] =>
  Array.from(match(Float32Array.from(rows.flat()), rows.length, rows[0]!.length, high, low, lq).matches);

describe('Matcher', () => {
  it('argmax ties: the first GT wins', () => {
    // n0: 0.5 in both rows -> argmax g0, 0.5 in [0.3, 0.7) -> -2
    // n1: 0.8 in both -> g0; n2: max 0.2 (g1) < 0.3 -> -1
    const rows = [[0.5, 0.8, 0.1], [0.5, 0.8, 0.2]];
    assert.deepEqual(m(rows, 0.7, 0.3, false), [-2, 0, -1]);
    // low-quality: both GTs' best is n1 (0.8), restored to its argmax g0 -> unchanged
    assert.deepEqual(m(rows, 0.7, 0.3, true), [-2, 0, -1]);
    const r = match(Float32Array.from(rows.flat()), 2, 3, 0.7, 0.3, false);
    assert.deepEqual(Array.from(r.argmax), [0, 0, 1]);
  });

  it('low-quality restore: every tied element, each to its own argmax GT', () => {
    // argmax: n0 g0 (0.4), n1 g1 (0.6), n2 g1 (0.6), n3 g0 (0 tie), n4 g1 (0.9)
    // thresholds: n0 -2, n1 -2, n2 -2, n3 -1, n4 1
    // g0's best 0.4 is attained by n0 AND n1 -> n0 -> 0, n1 -> its own argmax g1 (not g0!)
    // g1's best 0.9 at n4 -> 1. n2 (0.6, not a best) stays ignored.
    const rows = [[0.4, 0.4, 0.1, 0.0, 0.2], [0.1, 0.6, 0.6, 0.0, 0.9]];
    assert.deepEqual(m(rows, 0.7, 0.3, false), [-2, -2, -2, -1, 1]);
    assert.deepEqual(m(rows, 0.7, 0.3, true), [0, 1, -2, -1, 1]);
  });

  it('a GT overlapping nothing: every element with IoU 0 becomes positive', () => {
    // g0 best = 0 attained everywhere; each restored to its argmax (g0: first index on the 0 tie,
    // except n1 whose argmax is g1 with 0.8)
    assert.deepEqual(m([[0, 0, 0], [0, 0.8, 0]], 0.7, 0.3, true), [0, 1, 0]);
    assert.deepEqual(m([[0, 0, 0]], 0.7, 0.3, true), [0, 0, 0]);
  });

  it('thresholds compare in float32: IoU f32(0.7) = 0.699999988 is >= 0.7', () => {
    // torch casts the python 0.7 to float32 before comparing; in float64 0.699999988 < 0.7
    assert.deepEqual(m([[Math.fround(0.7), 0.5]], 0.7, 0.3, false), [0, -2]);
    assert.deepEqual(m([[Math.fround(0.3), 0.29999998]], 0.7, 0.3, false), [-2, -1]);
  });

  it('RoI matcher (0.5, 0.5): no ignore band, 0.5 is fg', () => {
    assert.deepEqual(m([[0.5, 0.49999997, 0.9, 0]], 0.5, 0.5, false), [0, -1, 0, -1]);
  });

  it('G = 0: every element below the low threshold', () => {
    const r = match(new Float32Array(0), 0, 3, 0.7, 0.3, true);
    assert.deepEqual(Array.from(r.matches), [-1, -1, -1]);
  });
});
