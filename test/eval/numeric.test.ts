/**
 * Numerics that decide last-bit agreement (docs/evaluation.md#parameters and #numerics): numpy's linspace
 * thresholds, pairwise summation, stable score order, Python's half-even formatting.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { argsortDesc, formatFixed, formatFixed3, linspace, pairwiseSum, pairwiseSumF32 } from '../../src/eval/numeric.js';
import { defaultParams } from '../../src/eval/index.js';

test('COCO thresholds are numpy linspace values, not i/100', () => {
  const p = defaultParams('bbox');
  assert.deepEqual(Array.from(p.iouThrs), [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.8999999999999999, 0.95]);
  assert.equal(p.recThrs.length, 101);
  assert.equal(p.recThrs[35], 0.35000000000000003);
  assert.equal(p.recThrs[70], 0.7000000000000001);
  assert.equal(p.recThrs[100], 1);
  const differ = [...p.recThrs].flatMap((v, i) => (v !== i / 100 ? [i] : []));
  assert.deepEqual(differ, [35, 41, 47, 57, 69, 70, 82, 83, 94, 95]);
  assert.equal(p.iouThrs[5], 0.75, 'AP75 is found by exact equality');
  assert.deepEqual(Array.from(linspace(0, 1, 1)), [0]);
});

test('pairwiseSum reproduces numpy blocking (golden values from numpy 2.x np.sum)', () => {
  // 0.1 x 10: naive left-to-right gives 0.9999999999999999; numpy's 8 accumulators give 1.0
  const tenth = new Array(10).fill(0.1);
  assert.equal(tenth.reduce((s, v) => s + v, 0), 0.9999999999999999);
  assert.equal(pairwiseSum(tenth), 1);
  // harmonic vectors 1/(i+1): np.sum(a) / np.sum(a.astype(float32)), where a naive sum differs
  const harm = (n: number) => Array.from({ length: n }, (_, i) => 1 / (i + 1));
  const harm32 = (n: number) => harm(n).map(Math.fround);
  assert.equal(pairwiseSum(harm(130)), 5.4485913382659765); // naive: 5.448591338265977
  assert.equal(pairwiseSum(harm(1001)), 7.486469861549347); // naive: 7.486469861549344
  assert.equal(pairwiseSum(harm(1001)) / 1001, 0.0074789908706786685); // np.mean
  assert.equal(pairwiseSumF32(harm32(130)), 5.448592185974121); // float32 cumsum: 5.448591709136963
  assert.equal(pairwiseSumF32(harm32(1001)), 7.486470699310303); // float32 cumsum: 7.486477375030518
  // < 8 elements: plain left-to-right from 0; offsets
  assert.equal(pairwiseSum([0.1, 0.2, 0.3]), (0.1 + 0.2) + 0.3);
  assert.equal(pairwiseSum([1, 2, 3, 4], 1, 2), 5);
  assert.equal(pairwiseSumF32(new Array(10).fill(Math.fround(0.1))), 1); // float32 cumsum: 1.0000001
});

test('property: pairwise sums of small integers are exact in both precisions', () => {
  fc.assert(fc.property(fc.array(fc.integer({ min: -1000, max: 1000 }), { maxLength: 400 }), (a) => {
    const exact = a.reduce((s, v) => s + v, 0);
    assert.equal(pairwiseSum(a), exact);
    assert.equal(pairwiseSumF32(a), exact);
  }));
});

test('argsortDesc is stable and treats -0 as 0', () => {
  assert.deepEqual(Array.from(argsortDesc([0.5, 0.9, 0.5, 0, -0, 0.9])), [1, 5, 0, 2, 3, 4]);
});

test('formatFixed rounds exact ties half to even like Python, otherwise like toFixed', () => {
  assert.equal(formatFixed3(0.0625), '0.062'); // JS toFixed: 0.063
  assert.equal(formatFixed3(0.5625), '0.562');
  assert.equal(formatFixed3(0.1875), '0.188');
  assert.equal(formatFixed3(-0.0625), '-0.062');
  assert.equal(formatFixed3(0.4545454680919647), '0.455');
  assert.equal(formatFixed3(-1), '-1.000');
  assert.equal(formatFixed(0.125, 2), '0.12');
  assert.equal(formatFixed(0.375, 2), '0.38');
  assert.equal(formatFixed(0.95, 2), '0.95');
  // 0.0005000000000000001 is above the tie: rounds up
  assert.equal(formatFixed3(0.0005000000000000001), '0.001');
});

test('argsortDesc is the stable order of the comparator sort on random scores with many ties', async () => {
  const { mulberry32 } = await import('../prng.js');
  const rnd = mulberry32(11);
  for (let c = 0; c < 300; c++) {
    const n = Math.floor(rnd() * (c % 10 === 0 ? 3000 : 70));
    const s = Float64Array.from({ length: n }, () => (c % 3 === 0 ? Math.floor(rnd() * 5) / 4 : Math.round(rnd() * 1000) / 1000) * (rnd() < 0.05 ? -1 : 1));
    const ref = Array.from({ length: n }, (_, i) => i).sort((a, b) => s[b]! - s[a]! || a - b);
    assert.deepEqual(Array.from(argsortDesc(s)), ref);
  }
});
