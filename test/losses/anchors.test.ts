/**
 * Anchors: the cell-anchor table of docs/losses.md#anchors, round-half-even, level sizes/strides (incl. an
 * odd P5 whose P6 stride is Hp // ceil(P5/2)), the level/y/x/ratio order, and checkAnchors.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { anchorLevels, cellAnchors, checkAnchors, generateAnchors } from '../../src/losses/index.js';
import { roundHalfEven } from '../../src/losses/tensors.js';

const R = [0.5, 1, 2];

describe('anchors', () => {
  it('cell anchors match the docs/losses.md table (sizes 32..512)', () => {
    const table: Record<number, number[]> = {
      32: [-23, -11, 23, 11, -16, -16, 16, 16, -11, -23, 11, 23],
      64: [-45, -23, 45, 23, -32, -32, 32, 32, -23, -45, 23, 45],
      128: [-91, -45, 91, 45, -64, -64, 64, 64, -45, -91, 45, 91],
      256: [-181, -91, 181, 91, -128, -128, 128, 128, -91, -181, 91, 181],
      512: [-362, -181, 362, 181, -256, -256, 256, 256, -181, -362, 181, 362],
    };
    for (const [s, want] of Object.entries(table)) assert.deepEqual(Array.from(cellAnchors(Number(s), R)), want);
  });

  it('size 16 by hand', () => {
    // hr = f32(sqrt .5) = 0.70710677, wr = f32(1/hr) = 1.4142135; w = 22.627417 -> /2 = 11.31 -> 11;
    // h = 11.313708 -> /2 = 5.657 -> 6
    assert.deepEqual(Array.from(cellAnchors(16, R)), [-11, -6, 11, 6, -8, -8, 8, 8, -6, -11, 6, 11]);
  });

  it('round half to even', () => {
    assert.deepEqual([2.5, -2.5, 3.5, -3.5, 0.5, -0.5, 1.49999, 2.5000001].map(roundHalfEven), [2, -2, 4, -4, 0, -0, 1, 3]);
  });

  it('levels: 96 x 64 canvas, odd P5 (3) -> P6 2 rows with stride 96 // 2 = 48', () => {
    const lv = anchorLevels(96, 64, 5, 3);
    assert.deepEqual(lv.map((l) => [l.featH, l.featW, l.strideH, l.strideW]), [
      [24, 16, 4, 4], [12, 8, 8, 8], [6, 4, 16, 16], [3, 2, 32, 32], [2, 1, 48, 64],
    ]);
    assert.deepEqual(lv.map((l) => l.offset), [0, 1152, 1440, 1512, 1530]);
    assert.equal(generateAnchors(96, 64, [16, 32, 64, 128, 256], R).length / 4, 1536);
  });

  it('order: level-major, y, x, ratio; index (y*W + x)*3 + a', () => {
    const a = generateAnchors(96, 64, [16, 32, 64, 128, 256], R);
    // level 0 (stride 4, W 16), y = 1, x = 2, a = 1 (ratio 1, [-8,-8,8,8]) -> index 55
    assert.deepEqual(Array.from(a.subarray(55 * 4, 56 * 4)), [0, -4, 16, 12]);
    // level 4 (offset 1530, W 1, stride 48 x 64), y = 1, x = 0, a = 0 (size 256 ratio .5: [-181,-91,181,91])
    const i = 1530 + (1 * 1 + 0) * 3 + 0;
    assert.deepEqual(Array.from(a.subarray(i * 4, i * 4 + 4)), [-181, 48 - 91, 181, 48 + 91]);
  });

  it('checkAnchors flags any difference', () => {
    const a = generateAnchors(64, 64, [16, 32, 64, 128, 256], R);
    assert.equal(checkAnchors(a.slice(), a).equal, true);
    const b = a.slice();
    b[4 * 10 + 2] = b[4 * 10 + 2]! + 0.5;
    assert.deepEqual(checkAnchors(b, a), { equal: false, maxAbsDiff: 0.5, firstMismatch: 10, graphCount: a.length / 4, expectedCount: a.length / 4 });
    assert.equal(checkAnchors(a.subarray(4), a).equal, false);
  });
});
