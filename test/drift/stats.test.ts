/**
 * src/drift/stats.ts: bins (Prometheus `le` semantics), the features of one prediction, and the
 * population stability index — hand-derived cases (the arithmetic is in each test) and properties
 * (fast-check): PSI ≥ 0, symmetric, 0 for proportional histograms, invariant to the order of bins
 * and to scaling the counts; and the collector's running sums equal a recount after evictions.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DriftCollector } from '../../src/drift/collector.js';
import {
  BUCKETS, FEATURES, PSI_EPSILON, SCORE_FLOOR, alignTo, binIndex, binNames, emptyHistograms, histogramsOf, imageBins, psi, psiAll, psiLevel,
} from '../../src/drift/stats.js';

const close = (a: number | null, b: number, tol = 1e-9): void => {
  assert.ok(a !== null && Math.abs(a - b) <= tol, `${a} ≈ ${b}`);
};

describe('PSI, hand-derived', () => {
  test('identical and proportional histograms: 0', () => {
    close(psi([50, 50], [50, 50]), 0);
    close(psi([1, 3, 0], [2, 6, 0]), 0); // same shares; the empty bin is ε on both sides: (ε − ε)·ln 1 = 0
  });

  test('50/50 against 80/20: 0.3·ln 1.6 + 0.3·ln 2.5 = 0.3·ln 4', () => {
    // a − e = ±0.3; ln(0.8/0.5) = ln 1.6, ln(0.2/0.5) = −ln 2.5; the sum is 0.3·(ln 1.6 + ln 2.5) = 0.3·ln 4
    close(psi([50, 50], [80, 20]), 0.3 * Math.log(4));
    close(psi([50, 50], [80, 20]), 0.41588830833596713);
  });

  test('an empty reference bin is raised to ε = 1e-4', () => {
    // e = (1, ε), a = (0.9, 0.1): (0.9 − 1)·ln 0.9 + (0.1 − 1e-4)·ln(0.1 / 1e-4)
    assert.equal(PSI_EPSILON, 1e-4);
    const expected = -0.1 * Math.log(0.9) + (0.1 - 1e-4) * Math.log(1000);
    close(psi([100, 0], [90, 10]), expected);
    close(psi([100, 0], [90, 10]), 0.7006208, 1e-7);
    // a different epsilon changes only the empty bin's term
    close(psi([100, 0], [90, 10], 1e-3), -0.1 * Math.log(0.9) + (0.1 - 1e-3) * Math.log(100));
  });

  test('three bins: 20/30/50 against 30/30/40', () => {
    // 0.1·ln 1.5 + 0 + (−0.1)·ln 0.8
    close(psi([20, 30, 50], [30, 30, 40]), 0.1 * Math.log(1.5) - 0.1 * Math.log(0.8));
  });

  test('an empty side, or bins that differ in number: null', () => {
    assert.equal(psi([0, 0], [1, 2]), null);
    assert.equal(psi([1, 2], [0, 0]), null);
    assert.equal(psi([1, 2], [1, 2, 3]), null);
    assert.equal(psi([], []), null);
  });

  test('levels: none < 0.1 ≤ warning ≤ 0.25 < critical', () => {
    assert.equal(psiLevel(0.0999), 'none');
    assert.equal(psiLevel(0.1), 'warning');
    assert.equal(psiLevel(0.25), 'warning');
    assert.equal(psiLevel(0.2501), 'critical');
    assert.equal(psiLevel(null), null);
  });
});

describe('PSI, properties', () => {
  const counts = (n: number) => fc.array(fc.nat({ max: 1000 }), { minLength: n, maxLength: n });
  const pair = fc.integer({ min: 1, max: 12 }).chain((n) => fc.tuple(counts(n), counts(n)))
    .filter(([a, b]) => a.some((x) => x > 0) && b.some((x) => x > 0));

  test('non-negative and symmetric', () => {
    fc.assert(fc.property(pair, ([e, a]) => {
      const p = psi(e, a)!;
      assert.ok(p >= 0, `psi ${p}`);
      close(psi(a, e), p, 1e-9 * Math.max(1, p));
    }));
  });

  test('0 for a histogram against any positive multiple of itself', () => {
    fc.assert(fc.property(counts(6).filter((a) => a.some((x) => x > 0)), fc.integer({ min: 1, max: 50 }), (a, k) => {
      close(psi(a, a.map((x) => x * k)), 0, 1e-12);
    }));
  });

  test('invariant to the order of the bins and to scaling both sides', () => {
    fc.assert(fc.property(pair, fc.integer({ min: 2, max: 20 }), ([e, a], k) => {
      const p = psi(e, a)!;
      const order = e.map((_, i) => i).reverse();
      close(psi(order.map((i) => e[i]!), order.map((i) => a[i]!)), p, 1e-9 * Math.max(1, p));
      close(psi(e.map((x) => x * k), a.map((x) => x * k)), p, 1e-9 * Math.max(1, p));
    }));
  });

  test('bounded by 2·ln(1/ε) (both sides sum to 1 and every share is at least ε)', () => {
    fc.assert(fc.property(pair, ([e, a]) => psi(e, a)! <= 2 * Math.log(1 / PSI_EPSILON) + 1e-9));
  });
});

describe('bins and features', () => {
  test('le semantics: a value on an edge belongs to that edge\'s bin; above the last edge, +Inf', () => {
    const edges = [0.6, 0.7];
    assert.equal(binIndex(edges, 0.5), 0);
    assert.equal(binIndex(edges, 0.6), 0);
    assert.equal(binIndex(edges, 0.61), 1);
    assert.equal(binIndex(edges, 0.7), 1);
    assert.equal(binIndex(edges, 0.71), 2);
    assert.deepEqual(binNames('score'), [...BUCKETS.score.map(String), '+Inf']);
  });

  test('binIndex agrees with a linear scan', () => {
    fc.assert(fc.property(fc.double({ min: -1, max: 2e7, noNaN: true }), (v) => {
      for (const edges of Object.values(BUCKETS)) {
        const linear = edges.findIndex((e) => v <= e);
        assert.equal(binIndex(edges, v), linear === -1 ? edges.length : linear);
      }
    }));
  });

  test('one prediction: detections under the score floor are left out; areas as fractions of the image', () => {
    const classIndex = new Map([['square', 0], ['circle', 1], ['triangle', 2]]);
    const b = imageBins({
      width: 100, height: 50, // 5000 px
      instances: [
        { label: 'circle', score: 0.97, area: 250 }, // 0.05 → bin of le 0.05
        { label: 'square', score: SCORE_FLOOR, area: 4 }, // 0.0008 → first bin; a score equal to the floor counts
        { label: 'square', score: 0.3, area: 1000 }, // under the floor: not counted
        { label: 'unicorn', score: 0.99, area: null }, // unknown class (-1), no area
      ],
    }, classIndex);
    assert.deepEqual(b.classes, [1, 0, -1]);
    assert.deepEqual(b.scores, [binIndex(BUCKETS.score, 0.97), 0, binIndex(BUCKETS.score, 0.99)]);
    assert.deepEqual(b.areas, [BUCKETS.mask_area.indexOf(0.05), 0]);
    assert.equal(b.detections, BUCKETS.detections_per_image.indexOf(3));
    assert.equal(b.imageSize, BUCKETS.image_size.indexOf(16_384));
    const h = histogramsOf(['square', 'circle', 'triangle'], [b]);
    assert.deepEqual(h.class_mix.counts, [1, 1, 0], 'unknown classes are not in the class mix');
    assert.equal(h.score.counts.reduce((s, c) => s + c, 0), 3);
  });

  test('psiAll compares the reference on the current bins by name', () => {
    const ref = emptyHistograms(['a', 'b']);
    ref.class_mix.counts = [10, 10];
    const cur = emptyHistograms(['b', 'a', 'c']); // another class order and a new class
    cur.class_mix.counts = [10, 10, 0];
    assert.deepEqual(alignTo(cur.class_mix.bins, ref.class_mix), [10, 10, 0]);
    const p = psiAll(ref, cur);
    close(p.class_mix, 0);
    for (const f of FEATURES.filter((x) => x !== 'class_mix')) assert.equal(p[f], null, `${f}: both empty`);
  });
});

describe('collector', () => {
  const model = { name: 'm', version: '1', classes: ['square', 'circle'] };
  const pred = (k: number) => ({
    width: 64 + k, height: 64,
    instances: Array.from({ length: k % 4 }, (_, i) => ({ label: i % 2 ? 'circle' : 'square', score: 0.5 + ((k * 7 + i) % 50) / 100, area: 10 * (i + 1) })),
  });

  test('the running sums equal a recount of the window after evictions', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 60 }), (cap, n) => {
      const c = new DriftCollector(cap);
      const all = [];
      for (let k = 0; k < n; k++) all.push(c.observe(model, pred(k), k));
      const w = c.window('m', '1');
      if (n === 0) { assert.equal(w, null); return; }
      assert.equal(w!.images, Math.min(cap, n));
      assert.equal(w!.observed, n);
      assert.deepEqual(w!.histograms, histogramsOf(model.classes, all.slice(-cap)));
      assert.equal(w!.to, n - 1);
      assert.equal(w!.from, n - Math.min(cap, n));
    }));
  });

  test('select: the last N, or those since a time', () => {
    const c = new DriftCollector(100);
    const bins = Array.from({ length: 10 }, (_, k) => c.observe(model, pred(k), 1000 + k));
    assert.deepEqual(c.select('m', '1', { last: 3 })!.histograms, histogramsOf(model.classes, bins.slice(-3)));
    const since = c.select('m', '1', { since: 1005 })!;
    assert.equal(since.images, 5);
    assert.equal(since.from, 1005);
    assert.equal(c.select('m', '1', { last: 2, since: 1000 })!.images, 2);
    assert.equal(c.select('m', '1', { since: 5000 })!.images, 0);
    assert.equal(c.select('m', '2'), null);
  });

  test('a model version whose class list changed starts a new window', () => {
    const c = new DriftCollector(10);
    c.observe(model, pred(1), 1);
    c.observe({ ...model, classes: ['square', 'circle', 'triangle'] }, pred(2), 2);
    const w = c.window('m', '1')!;
    assert.equal(w.images, 1);
    assert.deepEqual(w.classes, ['square', 'circle', 'triangle']);
  });
});
