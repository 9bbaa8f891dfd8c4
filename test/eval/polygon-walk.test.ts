/**
 * src/eval/polygon.ts finds the column crossings of `rleFrPoly`'s boundary walk without walking
 * every upsampled point; here it must give exactly the counts of the straightforward walk
 * (test/eval/frpoly-reference.ts) on random polygons: star shapes, thin slivers, repeated and
 * collinear vertices, coordinates outside the image (negative too), tiny and odd image sizes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { frPoly } from '../../src/eval/polygon.js';
import { frPolyReference } from './frpoly-reference.js';
import { mulberry32 } from '../prng.js';

test('frPoly equals the point-by-point walk on 6000 random polygons', () => {
  const rnd = mulberry32(7);
  for (let c = 0; c < 6000; c++) {
    const h = 1 + Math.floor(rnd() * (c % 3 === 0 ? 8 : 300)), w = 1 + Math.floor(rnd() * (c % 5 === 0 ? 8 : 300));
    const n = 3 + Math.floor(rnd() * (c % 7 === 0 ? 60 : 12));
    const xy: number[] = [];
    const kind = c % 4;
    for (let i = 0; i < n; i++) {
      let x: number, y: number;
      if (kind === 0) { x = rnd() * w; y = rnd() * h; }
      else if (kind === 1) { x = (rnd() - 0.3) * w * 1.6; y = (rnd() - 0.3) * h * 1.6; }
      else if (kind === 2) { x = Math.round(rnd() * w * 4) / 4; y = Math.round(rnd() * h * 4) / 4; }
      else { const a = (2 * Math.PI * i) / n; const r = (0.2 + rnd()) * Math.min(w, h) / 2; x = w / 2 + r * Math.cos(a); y = h / 2 + r * Math.sin(a); }
      if (i > 0 && rnd() < 0.05) { x = xy[xy.length - 2]!; y = xy[xy.length - 1]!; } // repeated vertex
      if (i > 0 && rnd() < 0.05) x = xy[xy.length - 2]!; // vertical edge
      if (i > 0 && rnd() < 0.05) y = xy[xy.length - 1]!; // horizontal edge
      xy.push(Math.round(x * 100) / 100, Math.round(y * 100) / 100);
    }
    if (c % 11 === 0) xy.push(3.5); // odd trailing coordinate
    assert.deepEqual(Array.from(frPoly(xy, h, w)), Array.from(frPolyReference(xy, h, w)), `polygon ${c}: ${JSON.stringify(xy)} in ${h}x${w}`);
  }
});

test('frPoly equals the point-by-point walk on degenerate polygons', () => {
  const cases: Array<[number[], number, number]> = [
    [[1, 1, 1, 1, 1, 1], 4, 4], [[0, 0, 10, 0, 20, 0], 5, 30], [[-5, -5, -1, -5, -1, -1, -5, -1], 8, 8],
    [[0.4, 0.4, 0.6, 0.4, 0.6, 0.6], 2, 2], [[-0.7, 2, 3.2, -0.9, 5.5, 7.1, 1, 9.9], 10, 6],
    [[100, 100, 200, 100, 200, 200], 50, 50], [[2, 0, 2, 9, 2.2, 4], 10, 10],
  ];
  for (const [xy, h, w] of cases) assert.deepEqual(Array.from(frPoly(xy, h, w)), Array.from(frPolyReference(xy, h, w)), JSON.stringify(xy));
});
