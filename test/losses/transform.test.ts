/**
 * GT transform: eager resized size, GT box scaling with the integer-size ratios, and the nearest
 * mask resize index rule (out == in, out == 2*in, generic float32 scale).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nearestSourceIndex, resizedSize, resizeMaskNearest, scaleBoxes } from '../../src/losses/index.js';

const f = Math.fround;
const idx = (inS: number, outS: number): number[] => Array.from({ length: outS }, (_, d) => nearestSourceIndex(d, inS, outS));

describe('resized size', () => {
  it('hand cases', () => {
    // 128 x 128: scale = min(256/128, 320/128) = 2 -> 256 x 256
    assert.deepEqual(resizedSize(128, 128, 256, 320), [256, 256]);
    // 96 x 518: scale = f32(f32(1/518) * 320) = 0.6177606 < 320/518, so 518 * scale = 319.99999 -> 319
    // (torch eager agrees: test/fixtures/losses resized [59, 319]); 96 * scale = 59.3 -> 59
    assert.deepEqual(resizedSize(96, 518, 256, 320), [59, 319]);
    // 160 x 200: f32(f32(1/160) * 256) = 1.6000000238, f32(f32(1/200) * 320) = 1.5999999046 -> the min
    // is just below 1.6: 160 * s = 255.99998 -> 255, 200 * s = 319.99998 -> 319 (eager torch agrees, resize.json)
    assert.deepEqual(resizedSize(160, 200, 256, 320), [255, 319]);
  });
});

describe('GT box scaling', () => {
  it('multiplies x by f32(w\'/W) and y by f32(h\'/H), float32, no clipping', () => {
    // H 100 -> 128 (ratio f32(1.28)), W 200 -> 256 (ratio f32(1.28))
    const r = f(128 / 100);
    const s = scaleBoxes([50, 10, 200, 100], 100, 200, 128, 256);
    assert.deepEqual(Array.from(s), [f(50 * r), f(10 * r), f(200 * r), f(100 * r)]);
    // anisotropic: H 96 -> 59, W 518 -> 319
    const t = scaleBoxes([518, 96, 518, 96], 96, 518, 59, 319);
    assert.deepEqual(Array.from(t), [f(518 * f(319 / 518)), f(96 * f(59 / 96)), f(518 * f(319 / 518)), f(96 * f(59 / 96))]);
  });
});

describe('nearest resize index rule', () => {
  it('out == in: identity', () => assert.deepEqual(idx(4, 4), [0, 1, 2, 3]));
  it('out == 2*in: dst >> 1', () => assert.deepEqual(idx(3, 6), [0, 0, 1, 1, 2, 2]));
  it('downscale 5 -> 3: scale f32(5/3) = 1.6666666; floor(0, 1.67, 3.33) = 0, 1, 3', () => assert.deepEqual(idx(5, 3), [0, 1, 3]));
  it('upscale 2 -> 5: scale 0.4; floor(0, .4, .8, 1.2, 1.6) = 0, 0, 0, 1, 1', () => assert.deepEqual(idx(2, 5), [0, 0, 0, 1, 1]));
  it('clamped to in - 1', () => {
    // in 3, out 7: scale f32(3/7) = 0.42857143; dst 6 -> f32(2.5714285) -> 2 (never 3)
    assert.equal(Math.max(...idx(3, 7)), 2);
  });
  it('resizeMaskNearest applies the rule per axis', () => {
    // 2 x 3 mask [[1,0,1],[0,1,0]] -> 4 x 6: rows 0,0,1,1 and cols 0,0,1,1,2,2 (out == 2*in)
    const m = resizeMaskNearest(Uint8Array.from([1, 0, 1, 0, 1, 0]), 2, 3, 4, 6);
    assert.deepEqual(Array.from(m), [1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0]);
  });
});
