/**
 * RoIAlign (aligned=False, adaptive sampling) on planes whose answer is known by hand:
 * a constant plane gives the constant, an x-ramp gives the mean sample x, edges clamp.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { roiAlign } from '../../src/losses/index.js';

const ramp = (h: number, w: number): Float32Array => Float32Array.from({ length: h * w }, (_, k) => k % w);

describe('roiAlign', () => {
  it('constant plane -> the constant (box inside, or in the [-1, size] border band)', () => {
    const p = new Float32Array(30 * 40).fill(0.625);
    for (const b of [[3.3, 2.1, 31.7, 25.2], [-0.9, -0.5, 39.5, 29.9], [10, 10, 10.2, 10.3]]) {
      const out = roiAlign(p, 30, 40, b, 0, 28);
      assert.ok(out.every((v) => Math.abs(v - 0.625) < 1e-6), JSON.stringify(b));
    }
  });

  it('x-ramp, box [0,0,28,28]: bin 1, 1 sample at pw + 0.5 -> value pw + 0.5', () => {
    const out = roiAlign(ramp(40, 40), 40, 40, [0, 0, 28, 28], 0, 28);
    for (let ph = 0; ph < 28; ph++) for (let pw = 0; pw < 28; pw++) assert.equal(out[ph * 28 + pw], pw + 0.5);
  });

  it('x-ramp, box [0,0,56,56]: bin 2, adaptive grid ceil(56/28) = 2, samples 2pw+.5, 2pw+1.5 -> 2pw + 1', () => {
    const out = roiAlign(ramp(60, 60), 60, 60, [0, 0, 56, 56], 0, 28);
    for (let pw = 0; pw < 28; pw++) assert.equal(out[5 * 28 + pw], 2 * pw + 1);
  });

  it('aligned=False clamps a 0.5-wide RoI to width 1: samples at x1 + (pw + .5)/28', () => {
    const out = roiAlign(ramp(20, 20), 20, 20, [4, 4, 4.5, 4.5], 0, 28);
    for (let pw = 0; pw < 28; pw++) assert.ok(Math.abs(out[pw]! - (4 + (pw + 0.5) / 28)) < 1e-5);
  });

  it('right edge: x >= W-1 clamps to the last column, x > W contributes 0', () => {
    // W 10, box x [8, 11], out 2: bin 1.5, grid ceil(1.5) = 2 -> x samples
    // 8 + .75/2 = 8.375, 8 + 2.25/2 = 9.125 | 9.5 + .375 = 9.875, 9.5 + 1.125 = 10.625
    // 8.375 -> 8.375; 9.125 -> low 9 >= W-1 -> 9; 9.875 -> 9; 10.625 > W -> 0
    // bin 0 = (8.375 + 9)/2 = 8.6875, bin 1 = (9 + 0)/2 = 4.5 (y samples inside); torch agrees
    const out = roiAlign(ramp(10, 10), 10, 10, [8, 0, 11, 4], 0, 2);
    assert.deepEqual(Array.from(out), [8.6875, 4.5, 8.6875, 4.5]);
  });

  it('box entirely outside -> 0', () => {
    const out = roiAlign(new Float32Array(100).fill(1), 10, 10, [-30, -30, -12, -11], 0, 28);
    assert.ok(out.every((v) => v === 0));
  });
});
