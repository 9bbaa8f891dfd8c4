/**
 * paste-masks.ts: hand-derived cases (derivations in comments) and golden cases computed by
 * torchvision 0.14's own `paste_masks_in_image` (fixtures/make-paste-golden.py), compared pixel
 * for pixel after `> 0.5`, including probabilities a few ulps around 0.5.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { axisWeights, clearRegion, expandBox, pasteMask } from '../../src/pipeline/paste-masks.js';

test('expandBox: centre ± half-size·(M+2)/M in float32, truncated toward zero', () => {
  // [10,10,20,20], M=28: half = 5·30/28 = 5.357…, centre 15 → [9.64, 20.36] → trunc → [9, 20].
  assert.deepEqual(expandBox(10, 10, 20, 20, 28), { x0: 9, y0: 9, x1: 20, y1: 20 });
  // M=2: scale 2. [0,0,3,3]: half 1.5·2 = 3, centre 1.5 → [-1.5, 4.5] → trunc toward 0 → [-1, 4] (not floor: -2).
  assert.deepEqual(expandBox(0, 0, 3, 3, 2), { x0: -1, y0: -1, x1: 4, y1: 4 });
});

test('axisWeights: bilinear, align_corners=False, clamped at 0, identity when sizes match', () => {
  // 4 → 6: scale 2/3; src = (i+0.5)·2/3 − 0.5 = [−1/6→0, 0.5, 7/6, 11/6, 2.5, 19/6].
  const w = axisWeights(4, 6);
  assert.deepEqual([...w.i0], [0, 0, 1, 1, 2, 3]);
  assert.deepEqual([...w.i1], [1, 1, 2, 2, 3, 3]); // last index has no right neighbour
  assert.equal(w.l1[0], 0);
  assert.equal(w.l1[1], 0.5);
  // float32(4/6) = 0.66666669 rounds up, so src(4) = 2.5000001 and l1 = 0.50000012 (torch: same);
  // at i = 1 the excess (3e-8) is below half an ulp of 0.5 and l1 stays 0.5.
  assert.equal(w.l1[4], Math.fround(0.5000001192092896));
  const id = axisWeights(5, 5);
  assert.deepEqual([...id.i0], [0, 1, 2, 3, 4]);
  assert.deepEqual([...id.l0], [1, 1, 1, 1, 1]);
});

test('pasteMask: all-ones 2x2 mask in box [0,0,3,3] → exactly pixels x,y ∈ {1,2}', () => {
  // Padded 4×4 = zero border around ones; expanded box [-1, 4] → 6 px; the 1-D profile over the
  // 6 px is [0, .5, 1, 1, .49999988, 0] (weights above). Foreground needs the product > 0.5, so
  // only profile indices 2,3 on both axes: image pixels −1+2 = 1 and −1+3 = 2. (0.5 itself is not > 0.5.)
  const out = new Uint8Array(6 * 6);
  const region = pasteMask(new Float32Array([1, 1, 1, 1]), 2, [0, 0, 3, 3], out, 6, 6);
  assert.deepEqual(region, { x0: 0, y0: 0, x1: 5, y1: 5 });
  const fg: string[] = [];
  for (let y = 0; y < 6; y++) for (let x = 0; x < 6; x++) if (out[y * 6 + x]) fg.push(`${x},${y}`);
  assert.deepEqual(fg, ['1,1', '2,1', '1,2', '2,2']);
});

test('pasteMask: clipped by the image border, and nothing for a box outside the image', () => {
  const out = new Uint8Array(2 * 2);
  pasteMask(new Float32Array([1, 1, 1, 1]), 2, [0, 0, 3, 3], out, 2, 2);
  assert.deepEqual([...out], [0, 0, 0, 1]); // only (1,1) of the 4 survives in a 2×2 image
  const none = new Uint8Array(4 * 4);
  const r = pasteMask(new Float32Array(4).fill(1), 2, [50, 50, 60, 60], none, 4, 4);
  assert.ok(r.x1 <= r.x0);
  assert.equal(none.reduce((a, b) => a + b, 0), 0);
});

test('pasteMask: threshold is strict (> 0.5) and only the region is written; clearRegion resets it', () => {
  const out = new Uint8Array(10 * 10).fill(0);
  out[99] = 7; // outside any region below: must stay untouched
  const half = new Float32Array(28 * 28).fill(0.5);
  const r = pasteMask(half, 28, [2, 2, 6, 6], out, 10, 10);
  assert.equal(out.subarray(0, 99).reduce((a, b) => a + b, 0), 0, 'no pasted value exceeds 0.5');
  const ones = new Float32Array(28 * 28).fill(1);
  const r2 = pasteMask(ones, 28, [2, 2, 6, 6], out, 10, 10);
  assert.ok(out.subarray(0, 99).some((v) => v === 1));
  clearRegion(out, 10, r2);
  clearRegion(out, 10, r);
  assert.equal(out.subarray(0, 99).reduce((a, b) => a + b, 0), 0);
  assert.equal(out[99], 7);
});

interface GoldenCase { M: number; H: number; W: number; box: [number, number, number, number]; probs_b64: string; runs: number[]; area: number }

test('pasteMask matches torchvision paste_masks_in_image(...) > 0.5 on golden cases, pixel for pixel', () => {
  const golden = JSON.parse(readFileSync(new URL('./fixtures/paste-golden.json', import.meta.url), 'utf8')) as { cases: GoldenCase[] };
  assert.ok(golden.cases.length >= 20);
  for (const [k, c] of golden.cases.entries()) {
    const raw = Buffer.from(c.probs_b64, 'base64');
    const probs = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
    const expected = new Uint8Array(c.H * c.W);
    let p = 0, v = 0;
    for (const run of c.runs) { expected.fill(v, p, p + run); p += run; v ^= 1; }
    const out = new Uint8Array(c.H * c.W);
    pasteMask(probs, c.M, c.box, out, c.W, c.H);
    let diff = 0;
    for (let i = 0; i < out.length; i++) if (out[i] !== expected[i]) diff++;
    assert.equal(diff, 0, `case ${k} (M=${c.M}, ${c.W}x${c.H}, box ${c.box.join(',')}): ${diff} pixels differ`);
    assert.equal(out.reduce((a, b) => a + b, 0), c.area);
  }
});
