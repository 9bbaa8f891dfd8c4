/**
 * The paired bootstrap core (src/eval/bootstrap.ts):
 * - a hand-computed case: two images, one GT each; A finds image 0's object and puts a false
 *   positive in image 1, B the reverse. The only resamples of two images are {0,0}, {1,1} and {0,1}
 *   (probabilities 1/4, 1/4, 1/2) with AP deltas −1, +1 and −25.5/101, enumerated by hand;
 * - a case with a verdict (B loses every object: the interval is [−1, −1], `worse`);
 * - the same evaluation against itself: every delta and every bound exactly 0 (fast-check over random
 *   tables), and the interval contains the point estimate's delta;
 * - weights = duplicated images: evaluating with integer weights equals evaluating the table where each
 *   image's detections and GT are repeated that many times (fast-check, distinct scores);
 * - percentiles (numpy `linear`), verdicts, the seeded draws repeat.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ApEvaluator, pairedBootstrap, quantileSorted, verdict, type CategoryTable, type MatchTable } from '../../src/eval/bootstrap.js';
import { resolveParams } from '../../src/eval/index.js';

const REC = Array.from(resolveParams('bbox', undefined).recThrs);
/** Equal up to the ε pycocotools adds to the precision denominator (tp / (tp + fp + 2^-52)). */
const close = (a: number, b: number, msg?: string): void => assert.ok(Math.abs(a - b) < 1e-12, msg ?? `${a} vs ${b}`);

/** One category, T = 1 (IoU 0.5); dets given in rank order as [image, tp?]. */
function table(n: number, gts: number[], dets: Array<[number, boolean]>, iouThrs = [0.5]): MatchTable {
  const T = iouThrs.length;
  const D = dets.length;
  const flags = new Uint8Array(T * D);
  for (let t = 0; t < T; t++) dets.forEach(([, tp], j) => { flags[t * D + j] = tp ? 1 : 2; });
  const cat: CategoryTable = { id: 1, name: 'square', npig: Float64Array.from(gts), image: Int32Array.from(dets.map(([i]) => i)), flags };
  return { n, iouThrs, recThrs: REC, categories: [cat] };
}

/**
 * pycocotools' accumulate written out plainly for one category (all weights 1): cumulative TP/FP
 * over the ranked detections (ignored ones repeat the previous point), precision envelope from the
 * right, `searchsorted` left at the recall thresholds, mean over R then over T.
 */
function naiveAp(t: MatchTable): { ap: number; ap50: number } {
  const c = t.categories[0]!;
  const npig = c.npig.reduce((a, b) => a + b, 0);
  if (npig === 0) return { ap: Number.NaN, ap50: Number.NaN };
  const D = c.image.length;
  const perT = t.iouThrs.map((_, ti) => {
    let tp = 0, fp = 0;
    const rc: number[] = [], pr: number[] = [];
    for (let j = 0; j < D; j++) {
      const f = c.flags[ti * D + j]!;
      if (f === 1) tp++;
      if (f === 2) fp++;
      rc.push(tp / npig);
      pr.push(tp / (tp + fp + 2 ** -52));
    }
    for (let j = D - 1; j > 0; j--) if (pr[j]! > pr[j - 1]!) pr[j - 1] = pr[j]!;
    const q = t.recThrs.map((r) => {
      const j = rc.findIndex((x) => x >= r);
      return j < 0 ? 0 : pr[j]!;
    });
    return q.reduce((a, b) => a + b, 0) / q.length;
  });
  return { ap: perT.reduce((a, b) => a + b, 0) / perT.length, ap50: perT[0]! };
}

describe('paired bootstrap', () => {
  test('hand case: AP of every possible resample of two images, and the interval', () => {
    const A = new ApEvaluator(table(2, [1, 1], [[0, true], [1, false]]));
    const B = new ApEvaluator(table(2, [1, 1], [[0, false], [1, true]]));
    const upTo05 = REC.filter((r) => r <= 0.5).length;
    assert.equal(upTo05, 51);
    // by hand: {0,0}: A finds both copies (AP 1), B none (0); {1,1}: the reverse; {0,1}: A is
    // precise up to recall 0.5 (51 thresholds of 101), B has precision 0.5 up to recall 0.5
    close(A.evaluate([2, 0]).ap, 1);
    close(B.evaluate([2, 0]).ap, 0);
    close(A.evaluate([0, 2]).ap, 0);
    close(B.evaluate([0, 2]).ap, 1);
    close(A.evaluate([1, 1]).ap, 51 / 101);
    close(B.evaluate([1, 1]).ap, 25.5 / 101);
    const mid = 25.5 / 101 - 51 / 101;
    const counts = { minus: 0, mid: 0, plus: 0 };
    let first = true;
    const res = pairedBootstrap(2, (w) => {
      const d = B.evaluate(w).ap - A.evaluate(w).ap;
      if (!first) {
        if (Math.abs(d + 1) < 1e-12) counts.minus++;
        else if (Math.abs(d - 1) < 1e-12) counts.plus++;
        else if (Math.abs(d - mid) < 1e-12) counts.mid++;
        else assert.fail(`a delta no resample of two images can give: ${d}`);
      }
      first = false;
      return [d];
    }, { resamples: 4000, seed: 42, confidence: 0.95 });
    close(res.point[0]!, mid);
    assert.equal(counts.minus + counts.mid + counts.plus, 4000);
    // frequencies near 1/4, 1/2, 1/4 (a fixed seed: this is one deterministic draw)
    assert.ok(Math.abs(counts.minus / 4000 - 0.25) < 0.03, JSON.stringify(counts));
    assert.ok(Math.abs(counts.plus / 4000 - 0.25) < 0.03, JSON.stringify(counts));
    // each tail holds a quarter of the mass: the 2.5% and 97.5% points are −1 and +1
    close(res.lo[0]!, -1);
    close(res.hi[0]!, 1);
    assert.equal(res.valid[0], 4000);
    assert.equal(verdict(res.lo[0]!, res.hi[0]!), 'no_evidence');
  });

  test('hand case with a verdict: B misses everything A finds', () => {
    const A = new ApEvaluator(table(4, [1, 1, 1, 1], [[0, true], [1, true], [2, true], [3, true]]));
    const B = new ApEvaluator(table(4, [1, 1, 1, 1], [[0, false], [1, false], [2, false], [3, false]]));
    const res = pairedBootstrap(4, (w) => [B.evaluate(w).ap - A.evaluate(w).ap], { resamples: 1000, seed: 1, confidence: 0.95 });
    for (const v of [res.point[0]!, res.lo[0]!, res.hi[0]!]) close(v, -1);
    assert.equal(verdict(res.lo[0]!, res.hi[0]!), 'worse');
    assert.equal(verdict(-res.hi[0]!, -res.lo[0]!), 'better');
    assert.equal(verdict(0.1, 0.2, false), 'worse', 'a loss that rose');
  });

  test('a class without GT in a resample is left out of that resample (and of the overall mean)', () => {
    const ev = new ApEvaluator(table(2, [1, 0], [[0, true], [1, false]]));
    const v = ev.evaluate([0, 2]);
    assert.ok(Number.isNaN(v.classAp[0]!));
    assert.ok(Number.isNaN(v.ap));
    const res = pairedBootstrap(2, (w) => [ev.evaluate(w).ap - ev.evaluate(w).ap], { resamples: 1000, seed: 3, confidence: 0.95 });
    assert.ok(res.valid[0]! > 600 && res.valid[0]! < 900, `about 3/4 of the resamples have the GT (got ${res.valid[0]})`);
  });

  const arbTable = fc.integer({ min: 1, max: 6 }).chain((n) => fc.record({
    n: fc.constant(n),
    gts: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: n, maxLength: n }),
    dets: fc.array(fc.tuple(fc.integer({ min: 0, max: n - 1 }), fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 2, maxLength: 2 })), { maxLength: 12 }),
  }));
  const build = (x: { n: number; gts: number[]; dets: Array<[number, number[]]> }): MatchTable => {
    const D = x.dets.length;
    const flags = new Uint8Array(2 * D);
    x.dets.forEach(([, f], j) => { flags[j] = f[0]!; flags[D + j] = f[1]!; });
    return { n: x.n, iouThrs: [0.5, 0.75], recThrs: REC, categories: [{ id: 1, name: 'c', npig: Float64Array.from(x.gts), image: Int32Array.from(x.dets.map(([i]) => i)), flags }] };
  };

  test('identical evaluations: every delta and bound is exactly 0, and the interval holds the point estimate', () => {
    fc.assert(fc.property(arbTable, fc.integer({ min: 0, max: 2 ** 32 - 1 }), (x, seed) => {
      const a = new ApEvaluator(build(x)), b = new ApEvaluator(build(x));
      const res = pairedBootstrap(x.n, (w) => {
        const va = a.evaluate(w), vb = b.evaluate(w);
        return [vb.ap - va.ap, vb.ap50 - va.ap50];
      }, { resamples: 50, seed, confidence: 0.95 });
      for (let s = 0; s < 2; s++) {
        if (res.valid[s] === 0) continue;
        const p = res.point[s]!;
        if (!Number.isNaN(p)) {
          assert.equal(p, 0);
          assert.ok(res.lo[s]! <= p && p <= res.hi[s]!);
        }
        assert.equal(res.lo[s], 0);
        assert.equal(res.hi[s], 0);
      }
    }), { numRuns: 200, seed: 20261130 });
  });

  test('integer weights = images repeated, against accumulate written out plainly (distinct scores, ignored detections)', () => {
    fc.assert(fc.property(arbTable, fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 6, maxLength: 6 }), (x, ws) => {
      const t = build(x);
      const w = ws.slice(0, x.n);
      // the resample written out: image i repeated w[i] times, each detection kept in rank order
      // (copies of a detection are adjacent: its score is unique)
      const D = x.dets.length;
      const rows: Array<{ img: number; f: [number, number] }> = [];
      for (let j = 0; j < D; j++) {
        const img = x.dets[j]![0];
        for (let c = 0; c < w[img]!; c++) rows.push({ img, f: [t.categories[0]!.flags[j]!, t.categories[0]!.flags[D + j]!] });
      }
      const flags = new Uint8Array(2 * rows.length);
      rows.forEach((r, j) => { flags[j] = r.f[0]; flags[rows.length + j] = r.f[1]; });
      const npig = x.gts.reduce((s, g, i) => s + g * w[i]!, 0);
      const dup: MatchTable = { n: 1, iouThrs: t.iouThrs, recThrs: REC, categories: [{ id: 1, name: 'c', npig: Float64Array.of(npig), image: new Int32Array(rows.length), flags }] };
      const got = new ApEvaluator(t).evaluate(w), want = naiveAp(dup);
      if (Number.isNaN(want.ap)) return Number.isNaN(got.ap);
      assert.ok(Math.abs(got.ap - want.ap) < 1e-12, `${got.ap} vs ${want.ap}`);
      assert.ok(Math.abs(got.ap50 - want.ap50) < 1e-12);
      return true;
    }), { numRuns: 300, seed: 7 });
  });

  test('percentiles interpolate like numpy; the same seed draws the same resamples', () => {
    assert.equal(quantileSorted([1, 2, 3, 4], 0.5), 2.5);
    assert.equal(quantileSorted([1, 2, 3, 4], 0.025), 1.075);
    assert.equal(quantileSorted([5], 0.975), 5);
    assert.ok(Number.isNaN(quantileSorted([], 0.5)));
    const draws = (seed: number) => {
      const out: number[] = [];
      pairedBootstrap(5, (w) => { out.push(...w); return [0]; }, { resamples: 20, seed, confidence: 0.95 });
      return out;
    };
    assert.deepEqual(draws(9), draws(9));
    assert.notDeepEqual(draws(9), draws(10));
    assert.throws(() => pairedBootstrap(2, () => [0], { resamples: 0, seed: 1, confidence: 0.95 }), RangeError);
  });
});
