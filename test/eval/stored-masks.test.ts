/**
 * The stored masks of src/eval/coco/gt-masks.ts: a compressed RLE decoded straight into runs
 * (storeRleString) equals parseCountsString + MaskSet.add, and refuses what parseCountsString
 * refuses (then the caller reports the error with its JSON path).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StoredMasks, storeRleString } from '../../src/eval/coco/gt-masks.js';
import { MaskSet } from '../../src/eval/coco/segmentation.js';
import { countsToString, parseCountsString } from '../../src/eval/rle.js';
import { mulberry32 } from '../prng.js';

test('storeRleString = parseCountsString + MaskSet.add on random RLEs; invalid strings are refused', () => {
  const rnd = mulberry32(5);
  const e = new StoredMasks(400);
  const m = new MaskSet();
  for (let i = 0; i < 400; i++) {
    const h = 1 + Math.floor(rnd() * 50), w = 1 + Math.floor(rnd() * 50);
    const counts: number[] = [];
    let left = h * w;
    while (left > 0) {
      const c = rnd() < 0.1 ? 0 : Math.min(left, 1 + Math.floor(rnd() * (rnd() < 0.2 ? 2000 : 30)));
      counts.push(c);
      left -= c;
    }
    let s = countsToString(counts);
    const mode = i % 5;
    if (mode === 1) s += '0'; // one more (zero) count: still sums to h*w
    if (mode === 2) s = s.slice(0, -1); // cut: invalid or short
    if (mode === 3) s = `${s.slice(0, 1)}~${s.slice(2)}`; // bad character
    const parsed = parseCountsString(s);
    const ok = typeof parsed !== 'string' && parsed.reduce((a, b) => a + b, 0) === h * w;
    const r = storeRleString(e, i, s, h, w);
    assert.equal(r, ok ? 'stored' : 'invalid', `case ${i}: ${s}`);
    if (!ok) {
      assert.equal(e.has(i), false);
      continue;
    }
    m.clear();
    m.add(parsed as Uint32Array, h, w);
    assert.deepEqual(Array.from(e.runs.subarray(e.start[i]!, e.start[i]! + e.len[i]!)), Array.from(m.src[0]!.subarray(m.rs[0]!, m.re[0]!)));
    assert.deepEqual([e.area[i], e.colLo[i], e.colHi[i], e.paired[i], e.h[i], e.w[i]], [m.area[0], m.colLo[0], m.colHi[0], m.paired[0], h, w]);
  }
});
