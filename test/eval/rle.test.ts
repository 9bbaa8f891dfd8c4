/**
 * RLE primitives: hand-derived cases (derivations in comments) and fast-check properties against
 * brute-force pixel arithmetic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  countsToString, decodeToRowMajor, encodeColumnMajor, encodeRowMajor, encodeRowMajorRegion, frBbox, frPoly, frPolygons, frUncompressed,
  maskGeometry, maskIou, merge, parseCountsString, rleArea, rleIou, rleToBbox, stringToCounts,
} from '../../src/eval/index.js';

test('encodeRowMajor: 2x3 mask, column-major runs (hand-derived)', () => {
  // rows: [0 1 1] / [0 1 0]; column-major order reads x=0: 0,0; x=1: 1,1; x=2: 1,0
  // → 0,0,1,1,1,0 → runs [2 zeros, 3 ones, 1 zero]
  const counts = encodeRowMajor(Uint8Array.from([0, 1, 1, 0, 1, 0]), 2, 3);
  assert.deepEqual(Array.from(counts), [2, 3, 1]);
  assert.equal(rleArea(counts), 3);
  // the single run spans columns 1..2 (positions 2..4), so y widens to [0, h-1]
  assert.deepEqual(rleToBbox(counts, 2, 3), [1, 0, 2, 2]);
  assert.deepEqual(Array.from(decodeToRowMajor(counts, 2, 3)), [0, 1, 1, 0, 1, 0]);
  // column-major input of the same mask gives the same counts; a leading 1 gives a leading 0 run
  assert.deepEqual(Array.from(encodeColumnMajor(Uint8Array.from([0, 0, 1, 1, 1, 0]), 2, 3)), [2, 3, 1]);
  assert.deepEqual(Array.from(encodeRowMajor(Uint8Array.from([1, 1]), 1, 2)), [0, 2]);
  assert.deepEqual(Array.from(encodeRowMajor(new Uint8Array(6), 2, 3)), [6]);
});

test('rleToBbox: single-column runs give a tight y range; empty mask gives zeros', () => {
  // h=4, w=2: pixels (x=1, y=1..2) → positions 5,6 → counts [5, 2, 1]
  assert.deepEqual(rleToBbox(Uint32Array.from([5, 2, 1]), 4, 2), [1, 1, 1, 2]);
  assert.deepEqual(rleToBbox(Uint32Array.from([8]), 4, 2), [0, 0, 0, 0]);
});

test('countsToString / stringToCounts: hand-encoded values incl. delta coding from index 3', () => {
  // [2,3,1]: each value < 16 and >= 0 is one char 48+v → "231"
  assert.equal(countsToString(Uint32Array.from([2, 3, 1])), '231');
  // [5, 10, 20, 4]: 5 → '5'; 10 → ':' (58);
  // 20: c = 20 has bit 0x10 set and x>>5 = 0 != -1 → continue: c|0x20 = 52 → 'd', then 0 → '0';
  // index 3 is delta-coded: 4 - 10 = -6: c = -6 & 31 = 26, x>>5 = -1 and c&0x10 → stop → 48+26 = 'J'
  assert.equal(countsToString(Uint32Array.from([5, 10, 20, 4])), '5:d0J');
  assert.deepEqual(Array.from(stringToCounts('5:d0J')), [5, 10, 20, 4]);
  assert.equal(countsToString(new Uint32Array(0)), '');
});

test('parseCountsString rejects bad characters, truncated values and out-of-range counts', () => {
  assert.match(parseCountsString('12!') as string, /invalid character/);
  assert.match(parseCountsString('1p') as string, /invalid character/); // 'p' = 112 > 'o'
  assert.match(parseCountsString('1d') as string, /truncated/); // 'd' has the continuation bit
  assert.match(parseCountsString('5:J') as string, /out of range/); // index 2 is not delta-coded: -6
  assert.throws(() => stringToCounts('~'), RangeError);
});

test('merge and rleIou: hand-derived union, intersection and crowd IoU', () => {
  // h*w = 6. A = [1,2,3] → 0 1 1 0 0 0 ; B = [2,2,2] → 0 0 1 1 0 0
  const A = { h: 2, w: 3, counts: Uint32Array.from([1, 2, 3]) };
  const B = { h: 2, w: 3, counts: Uint32Array.from([2, 2, 2]) };
  assert.deepEqual(Array.from(merge([A, B]).counts), [1, 3, 2]); // 0 1 1 1 0 0
  assert.deepEqual(Array.from(merge([A, B], true).counts), [2, 1, 3]); // 0 0 1 0 0 0
  assert.equal(rleIou(A, B, false), 1 / 3); // |A∧B| = 1, |A∨B| = 3
  assert.equal(rleIou(A, B, true), 1 / 2); // crowd: 1 / |A|
  assert.equal(maskIou(maskGeometry(A), maskGeometry(B), false), 1 / 3);
  assert.equal(maskIou(maskGeometry(A), maskGeometry(B), true), 1 / 2);
  // different sizes with overlapping boxes: -1 (can never match); n=1 returns the input; size mismatch in merge → 0x0
  const C = { h: 3, w: 2, counts: Uint32Array.from([1, 2, 3]) };
  assert.equal(rleIou(A, C, false), -1);
  assert.equal(maskIou(maskGeometry(A), maskGeometry(C), false), -1);
  assert.deepEqual(merge([A]), A);
  assert.deepEqual(merge([A, C]), { h: 0, w: 0, counts: new Uint32Array(0) });
});

test('frPoly: square (1,1)-(3,3) in a 4x4 image (hand-derived)', () => {
  // Upsampled (x5, +0.5, trunc): X = 5,15,15,5; Y = 5,5,15,15. Edge walks emit u = 5..15 at v = 5
  // (top), u = 15 (right), u = 15..5 at v = 15 (bottom, flipped), u = 5 (left). Only u = 5k+2
  // transitions map to integer pixel columns: xd = (u+0.5)/5-0.5 ∈ {1, 2}.
  // Top: yd = ceil((5+.5)/5-.5) = ceil(0.6) = 1 → positions 1*4+1 = 5, 2*4+1 = 9.
  // Bottom: yd = ceil((15+.5)/5-.5) = ceil(2.6) = 3 → positions 2*4+3 = 11, 1*4+3 = 7.
  // Sorted with sentinel 16: [5,7,9,11,16] → diffs [5,2,2,2,5] → pixels x∈{1,2}, y∈{1,2}.
  const counts = frPoly([1, 1, 3, 1, 3, 3, 1, 3], 4, 4);
  assert.deepEqual(Array.from(counts), [5, 2, 2, 2, 5]);
  assert.deepEqual(Array.from(frBbox([1, 1, 2, 2], 4, 4)), [5, 2, 2, 2, 5]);
  // the fixture's axis-aligned 32x32 square at (10,10) has area exactly 1024 (gt.json annotation 20)
  assert.equal(rleArea(frPoly([10, 10, 42, 10, 42, 42, 10, 42], 64, 64)), 1024);
  // a polygon entirely outside the image is empty; an odd trailing number is ignored
  assert.deepEqual(Array.from(frPoly([-9, -9, -5, -9, -5, -5], 4, 4)), [16]);
  assert.deepEqual(Array.from(frPoly([1, 1, 3, 1, 3, 3, 1, 3, 99], 4, 4)), [5, 2, 2, 2, 5]);
});

test('frPoly uses C truncation toward zero, not floor (hand-derived)', () => {
  // Triangle A(4,0) B(1.5,0) C(-0.24,3) in a 4x4 image. Upsampled: A = (20,0), B = (8,0) and
  // C = (trunc(-1.2+.5) = trunc(-0.7) = 0, 15); floor would put C at x = -1.
  // Column transitions (u = 5k+2 <-> 5k+3 give pixel column k):
  //   A→B (v = 0, u 20..8): 18→17 → col 3, y 0 → pos 12;  13→12 → col 2, y 0 → pos 8
  //   B→C (s = -8/15, u = trunc(8.5 - 8t/15)): 8→7 (t 0→1, v min 0) → col 1, y 0 → pos 4;
  //        3→2 (t 10→11, v min 10: ceil(10.5/5-.5 = 1.6) = 2) → col 0 → pos 2
  //   C→A (s = -0.75, u = t, v = trunc(15.5 - .75t)): 2→3 (v min 13: ceil(2.2) = 3) → pos 3;
  //        7→8 (v min 9: ceil(1.4) = 2) → pos 6; 12→13 (v min 5: ceil(0.6) = 1) → pos 9;
  //        17→18 (v min 2: ceil(0) = 0) → pos 12
  // Sorted with sentinel 16: [2,3,4,6,8,9,12,12,16] → diffs [2,1,1,2,2,1,3,0,4]; the 0 folds the
  // following 4 into the previous run → counts [2,1,1,2,2,1,7]: pixels (0,2), (1,0), (1,1), (2,0).
  // With floor, C = (-1,15) moves both column-0 crossings to y = 2 (pos 2 twice) and (0,2) vanishes.
  const counts = frPoly([4, 0, 1.5, 0, -0.24, 3], 4, 4);
  assert.deepEqual(Array.from(counts), [2, 1, 1, 2, 2, 1, 7]);
  assert.deepEqual(Array.from(decodeToRowMajor(counts, 4, 4)), [0, 1, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
});

test('frUncompressed validates counts', () => {
  assert.deepEqual(Array.from(frUncompressed([1, 2, 3], 2, 3).counts), [1, 2, 3]);
  assert.throws(() => frUncompressed([1, 2, 4], 2, 3), /sum to 7/);
  assert.throws(() => frUncompressed([1, -2, 7], 2, 3), /uint32/);
  assert.throws(() => decodeToRowMajor([4, 4], 2, 3), /overrun/);
});

/** Random h, w in 1..maxSide and a row-major 0/1 mask. */
const maskArb = (maxSide = 12) =>
  fc.record({ h: fc.integer({ min: 1, max: maxSide }), w: fc.integer({ min: 1, max: maxSide }) }).chain(({ h, w }) =>
    fc.record({
      h: fc.constant(h),
      w: fc.constant(w),
      m: fc.uint8Array({ minLength: h * w, maxLength: h * w, min: 0, max: 1 }),
    }));

const twoMasksArb = fc.record({ h: fc.integer({ min: 1, max: 10 }), w: fc.integer({ min: 1, max: 10 }) }).chain(({ h, w }) =>
  fc.record({
    h: fc.constant(h),
    w: fc.constant(w),
    a: fc.uint8Array({ minLength: h * w, maxLength: h * w, min: 0, max: 1 }),
    b: fc.uint8Array({ minLength: h * w, maxLength: h * w, min: 0, max: 1 }),
    crowd: fc.boolean(),
  }));

test('property: encode/decode round trip and canonical form', () => {
  fc.assert(fc.property(maskArb(), ({ h, w, m }) => {
    const c = encodeRowMajor(m, h, w);
    assert.deepEqual(decodeToRowMajor(c, h, w), m);
    assert.equal(c.reduce((s, v) => s + v, 0), h * w);
    for (let j = 1; j < c.length; j++) assert.ok(c[j]! > 0, 'no zero run except the first');
    assert.equal(rleArea(c), m.reduce((s, v) => s + v, 0));
  }), { numRuns: 300 });
});

test('property: compressed string codec round trip (any uint32 counts)', () => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 40 }), (arr) => {
    const c = Uint32Array.from(arr);
    const s = countsToString(c);
    assert.match(s, /^[0-o]*$/);
    assert.deepEqual(stringToCounts(s), c);
  }), { numRuns: 500 });
});

test('property: mask IoU is symmetric (non-crowd), in [0,1], equals brute force and rleIou', () => {
  fc.assert(fc.property(twoMasksArb, ({ h, w, a, b, crowd }) => {
    const A = { h, w, counts: encodeRowMajor(a, h, w) }, B = { h, w, counts: encodeRowMajor(b, h, w) };
    let inter = 0, uni = 0, areaA = 0;
    for (let i = 0; i < h * w; i++) {
      inter += a[i]! & b[i]!;
      uni += a[i]! | b[i]!;
      areaA += a[i]!;
    }
    const brute = inter === 0 ? 0 : inter / (crowd ? areaA : uni);
    const v = maskIou(maskGeometry(A), maskGeometry(B), crowd);
    assert.equal(v, brute);
    assert.equal(rleIou(A, B, crowd), brute);
    assert.ok(v >= 0 && v <= 1);
    if (!crowd) assert.equal(maskIou(maskGeometry(B), maskGeometry(A), false), v);
    if (areaA > 0) assert.equal(maskIou(maskGeometry(A), maskGeometry(A), false), 1);
  }), { numRuns: 400 });
});

test('property: merge = OR/AND of the masks in canonical form; union area in [max, sum]', () => {
  fc.assert(fc.property(twoMasksArb, ({ h, w, a, b }) => {
    const A = { h, w, counts: encodeRowMajor(a, h, w) }, B = { h, w, counts: encodeRowMajor(b, h, w) };
    const or = a.map((v, i) => v | b[i]!), and = a.map((v, i) => v & b[i]!);
    const U = merge([A, B]), N = merge([A, B], true);
    assert.deepEqual(U.counts, encodeRowMajor(or, h, w));
    assert.deepEqual(N.counts, encodeRowMajor(and, h, w));
    const ua = rleArea(U.counts), aa = rleArea(A.counts), ba = rleArea(B.counts);
    assert.ok(ua <= aa + ba && ua >= Math.max(aa, ba));
  }), { numRuns: 300 });
});

test('property: rleToBbox contains every set pixel', () => {
  fc.assert(fc.property(maskArb(), ({ h, w, m }) => {
    const [x0, y0, bw, bh] = rleToBbox(encodeRowMajor(m, h, w), h, w);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        if (m[y * w + x]) assert.ok(x >= x0 && x < x0 + bw && y >= y0 && y < y0 + bh, `(${x},${y}) outside`);
      }
    }
  }), { numRuns: 300 });
});

test('property: rasterized polygons cover exactly h*w and merge parts like a union', () => {
  const pt = fc.tuple(fc.double({ min: -5, max: 25, noNaN: true }), fc.double({ min: -5, max: 25, noNaN: true }));
  const poly = fc.array(pt, { minLength: 3, maxLength: 8 }).map((ps) => ps.flat());
  fc.assert(fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 20 }), poly, poly, (h, w, p, q) => {
    const a = frPoly(p, h, w), b = frPoly(q, h, w);
    assert.equal(a.reduce((s, v) => s + v, 0), h * w);
    const u = frPolygons([p, q], h, w);
    const or = decodeToRowMajor(a, h, w).map((v, i) => v | decodeToRowMajor(b, h, w)[i]!);
    assert.deepEqual(u.counts, encodeRowMajor(or, h, w));
  }), { numRuns: 200 });
});

test('encodeRowMajorRegion: hand-derived cases equal encodeRowMajor', () => {
  // 3x4 (h x w), ones at (x=1..2, y=2): region [1,3) x [2,3), the bottom row
  // column-major: x=0: 0,0,0; x=1: 0,0,1; x=2: 0,0,1; x=3: 0,0,0 → [5, 1, 2, 1, 3]
  const m = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0]);
  assert.deepEqual(Array.from(encodeRowMajorRegion(m, 3, 4, 1, 2, 3, 3)), [5, 1, 2, 1, 3]);
  assert.deepEqual(Array.from(encodeRowMajor(m, 3, 4)), [5, 1, 2, 1, 3]);
  // a leading 1 (region at the origin) gives a leading 0 run; an empty region gives h*w zeros
  assert.deepEqual(Array.from(encodeRowMajorRegion(Uint8Array.from([1, 1]), 1, 2, 0, 0, 2, 1)), [0, 2]);
  assert.deepEqual(Array.from(encodeRowMajorRegion(new Uint8Array(6), 2, 3, 2, 1, 2, 2)), [6]);
  assert.deepEqual(Array.from(encodeRowMajorRegion(new Uint8Array(6), 2, 3, 1, 1, 3, 1)), [6]);
});

test('property: encodeRowMajorRegion (and encodeRowMajor) equal the column-major encoder for any mask zero outside the region', () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }),
    fc.tuple(fc.nat(10), fc.nat(10), fc.nat(10), fc.nat(10)), fc.array(fc.boolean(), { minLength: 81, maxLength: 81 }),
    (h, w, [a, b, c, d], bits) => {
      const x0 = Math.min(a, c), x1 = Math.max(a, c), y0 = Math.min(b, d), y1 = Math.max(b, d);
      const m = new Uint8Array(h * w);
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
        if (x >= x0 && x < x1 && y >= y0 && y < y1 && bits[y * 9 + x]) m[y * w + x] = 1;
      }
      const colMajor = new Uint8Array(h * w); // an independent encoder on the transposed pixels
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) colMajor[x * h + y] = m[y * w + x]!;
      const ref = Array.from(encodeColumnMajor(colMajor, h, w));
      assert.deepEqual(Array.from(encodeRowMajorRegion(m, h, w, x0, y0, x1, y1)), ref);
      assert.deepEqual(Array.from(encodeRowMajor(m, h, w)), ref);
    },
  ), { numRuns: 2000 });
});
