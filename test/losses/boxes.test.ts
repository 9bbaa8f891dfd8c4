/**
 * Box IoU, box coder and element losses: hand-derived cases (derivations inline) and fast-check
 * properties (IoU symmetric and in [0,1], encode/decode inverse, BCE/CE/smooth L1 >= 0).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { boxIou, decodeBoxes, encodeBoxes } from '../../src/losses/index.js';
import { bceWithLogits, crossEntropy, diceLoss, smoothL1 } from '../../src/losses/functional.js';

const f = Math.fround;
const box = fc
  .tuple(fc.float({ min: 0, max: 500, noNaN: true }), fc.float({ min: 0, max: 500, noNaN: true }),
    fc.float({ min: f(0.5), max: 300, noNaN: true }), fc.float({ min: f(0.5), max: 300, noNaN: true }))
  .map(([x, y, w, h]) => [x, y, f(x + w), f(y + h)]);

describe('box IoU (float32)', () => {
  it('hand cases', () => {
    // identical boxes: inter = area = 4, union = 4 + 4 - 4 = 4 -> 1
    assert.deepEqual(Array.from(boxIou([0, 0, 2, 2], [0, 0, 2, 2])), [1]);
    // [0,0,2,2] vs [1,1,3,3]: inter 1x1 = 1, union 4 + 4 - 1 = 7 -> f32(1/7)
    assert.equal(boxIou([0, 0, 2, 2], [1, 1, 3, 3])[0], f(1 / 7));
    // touching edges: width min(2,2) - max(0,2) = 0 -> inter 0 -> IoU 0
    assert.equal(boxIou([0, 0, 2, 2], [2, 0, 4, 2])[0], 0);
    // N x M layout: row i = a_i
    assert.deepEqual(Array.from(boxIou([0, 0, 2, 2, 0, 0, 1, 1], [0, 0, 2, 2, 1, 1, 3, 3])), [1, f(1 / 7), f(1 / 4), 0]);
  });

  it('float32 op order: inter/(areaA+areaB-inter) rounded per op', () => {
    // areas 0.1*0.1 etc. are not exact in f32; the result must equal the per-op fround chain
    const a = [0, 0, f(0.1), f(0.3)];
    const b = [f(0.05), 0, f(0.2), f(0.3)];
    const areaA = f(f(a[2]! - a[0]!) * f(a[3]! - a[1]!));
    const areaB = f(f(b[2]! - b[0]!) * f(b[3]! - b[1]!));
    const inter = f(f(f(0.1) - f(0.05)) * f(0.3));
    assert.equal(boxIou(a, b)[0], f(inter / f(f(areaA + areaB) - inter)));
  });

  it('property: symmetric and in [0, 1]', () => {
    fc.assert(fc.property(box, box, (a, b) => {
      const ab = boxIou(a, b)[0]!;
      const ba = boxIou(b, a)[0]!;
      return ab === ba && ab >= 0 && ab <= 1;
    }), { numRuns: 500 });
  });
});

describe('box coder', () => {
  it('encode of a box against itself is 0 (identical inputs give 0)', () => {
    const b = Float32Array.from([3.5, 7.25, 40, 90]);
    assert.deepEqual(Array.from(encodeBoxes(b, b, [10, 10, 5, 5])), [0, 0, 0, 0]);
  });

  it('hand case: gt twice as wide, centre shifted by one ref width', () => {
    // ref [0,0,10,10]: w = 10, ctr 5; gt [5,0,25,10]: w 20, ctr 15.
    // dx = 1*(15-5)/10 = 1, dy = 0, dw = log(20/10) = log 2, dh = log 1 = 0
    const t = encodeBoxes([5, 0, 25, 10], [0, 0, 10, 10], [1, 1, 1, 1]);
    assert.deepEqual(Array.from(t), [1, 0, f(Math.LN2), 0]);
  });

  it('property: decode(encode(gt, ref), ref) ~= gt', () => {
    fc.assert(fc.property(box, box, fc.constantFrom([1, 1, 1, 1], [10, 10, 5, 5]), (g, r, w) => {
      // encode is unclamped, decode clamps dw, dh at log(1000/16): keep size ratios inside the clamp
      if ((g[2]! - g[0]!) / (r[2]! - r[0]!) > 50 || (g[3]! - g[1]!) / (r[3]! - r[1]!) > 50) return true;
      const back = decodeBoxes(encodeBoxes(g, r, w), r, w);
      const scale = Math.max(...g.map(Math.abs), ...r.map(Math.abs), 1);
      return back.every((v, i) => Math.abs(v - g[i]!) <= 2e-5 * scale);
    }), { numRuns: 500 });
  });
});

describe('element losses', () => {
  it('smooth L1 at |d| = beta: both branches give beta/2 (continuity)', () => {
    const beta = 1 / 9;
    // quadratic: 0.5*beta^2/beta = beta/2; linear: beta - beta/2 = beta/2
    assert.ok(Math.abs(smoothL1(beta, beta) - beta / 2) < 1e-17);
    assert.ok(Math.abs(smoothL1(-beta, beta) - beta / 2) < 1e-17);
    assert.ok(Math.abs(smoothL1(beta * (1 - 1e-12), beta) - beta / 2) < 1e-12);
    assert.equal(smoothL1(0, beta), 0);
    // |d| = 1: linear branch, 1 - 1/18
    assert.equal(smoothL1(1, beta), 1 - 0.5 * beta);
  });

  it('BCE with logits hand values', () => {
    // x = 0: log 2 whatever t
    assert.ok(Math.abs(bceWithLogits(0, 0.3) - Math.LN2) < 1e-15);
    // x = 2, t = 1: log(1 + e^-2)
    assert.ok(Math.abs(bceWithLogits(2, 1) - Math.log1p(Math.exp(-2))) < 1e-15);
    // large |x| stays finite: x = -100, t = 1 -> 100 + log(1+e^-100) = 100
    assert.ok(Math.abs(bceWithLogits(-100, 1) - 100) < 1e-12);
  });

  it('softmax CE hand values: uniform logits give log C', () => {
    assert.ok(Math.abs(crossEntropy([5, 5, 5, 5], 0, 4, 2) - Math.log(4)) < 1e-15);
    // [0, ln 3] label 1: p = 3/4 -> -log(3/4)
    assert.ok(Math.abs(crossEntropy([0, Math.log(3)], 0, 2, 1) + Math.log(0.75)) < 1e-15);
  });

  it('properties: BCE >= 0 for t in [0,1], CE >= 0, smooth L1 >= 0, Dice in [0,1]', () => {
    const x = fc.double({ min: -50, max: 50, noNaN: true });
    fc.assert(fc.property(x, fc.double({ min: 0, max: 1, noNaN: true }), (v, t) => bceWithLogits(v, t) >= -1e-12));
    fc.assert(fc.property(fc.array(x, { minLength: 2, maxLength: 6 }), fc.nat(), (z, l) => crossEntropy(z, 0, z.length, l % z.length) >= -1e-12));
    fc.assert(fc.property(x, (d) => smoothL1(d, 1 / 9) >= 0));
    fc.assert(fc.property(fc.array(fc.tuple(x, fc.double({ min: 0, max: 1, noNaN: true })), { minLength: 1, maxLength: 20 }), (pairs) => {
      const d = diceLoss(pairs.map((p) => p[0]), 0, pairs.map((p) => p[1]));
      return d >= -1e-12 && d <= 1 + 1e-12;
    }));
  });
});
