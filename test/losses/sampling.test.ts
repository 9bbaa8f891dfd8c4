/**
 * `expected` mode = the exact expectation of torchvision's BalancedPositiveNegativeSampler.
 * Checked against a brute-force enumeration of every subset the sampler can draw (each equally
 * likely: kP of nP positives x kN of nN negatives), where the sampled loss of one subset is the
 * `all`-mode loss with the unsampled elements relabelled "ignore".
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { samplingWeights, weightedMean } from '../../src/losses/functional.js';
import { boxHeadLosses, roiTargets } from '../../src/losses/roi.js';
import { rpnLosses, rpnTargets, type RpnTargets } from '../../src/losses/rpn.js';
import { mulberry32 } from '../prng.js';

/** All k-subsets of items. */
function combos<T>(items: T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (items.length < k) return [];
  const [head, ...rest] = items as [T, ...T[]];
  return [...combos(rest, k - 1).map((c) => [head, ...c]), ...combos(rest, k)];
}

const rng = mulberry32;

describe('sampling normalisers', () => {
  it('kP = min(nP, floor(B*f)), kN = min(nN, B - kP)', () => {
    assert.deepEqual(samplingWeights(3, 5, 4, 0.5, 'expected'), { wPos: 2 / 3, wNeg: 2 / 5, denom: 4, kPos: 2, kNeg: 2 });
    // few negatives: B - kP = 3 but only 1 negative
    assert.deepEqual(samplingWeights(4, 1, 4, 0.25, 'expected'), { wPos: 1 / 4, wNeg: 1, denom: 2, kPos: 1, kNeg: 1 });
    // B*f = 2.5 -> 2 positives
    assert.equal(samplingWeights(9, 9, 5, 0.5, 'expected').kPos, 2);
    // nothing labelled -> denominator 0 -> loss 0 (torch: NaN on an empty sample)
    assert.equal(weightedMean(samplingWeights(0, 0, 4, 0.5, 'expected'), 0, 0), 0);
    assert.deepEqual(samplingWeights(3, 5, 4, 0.5, 'all'), { wPos: 1, wNeg: 1, denom: 8, kPos: 3, kNeg: 5 });
  });

  it('formula == brute-force mean over all sampler subsets (element sums)', () => {
    const r = rng(7);
    for (const [nP, nN, B, f] of [[3, 5, 4, 0.5], [1, 6, 4, 0.5], [4, 1, 4, 0.25], [0, 4, 3, 0.5], [2, 2, 10, 0.5], [5, 4, 5, 0.5]] as const) {
      const lp = Array.from({ length: nP }, r);
      const ln = Array.from({ length: nN }, r);
      const w = samplingWeights(nP, nN, B, f, 'expected');
      let sum = 0, n = 0;
      for (const sp of combos([...lp.keys()], w.kPos)) {
        for (const sn of combos([...ln.keys()], w.kNeg)) {
          sum += (sp.reduce((s, i) => s + lp[i]!, 0) + sn.reduce((s, i) => s + ln[i]!, 0)) / (w.kPos + w.kNeg);
          n++;
        }
      }
      const sumP = lp.reduce((s, v) => s + v, 0);
      const sumN = ln.reduce((s, v) => s + v, 0);
      assert.ok(Math.abs(weightedMean(w, sumP, sumN) - sum / n) < 1e-12, `${nP},${nN},${B},${f}`);
    }
  });
});

describe('expected mode through the loss functions (tiny synthetic inputs)', () => {
  it('RPN: expected == mean over every (kP, kN) subset of the all-mode loss', () => {
    const r = rng(11);
    // 1 GT and 8 anchors around it -> a few positives, negatives, maybe ignored
    const gt = Float32Array.from([10, 10, 30, 30]);
    const anchors = Float32Array.from([10, 10, 30, 30, 11, 9, 31, 29, 12, 12, 32, 32, 0, 0, 8, 8, 40, 40, 60, 60,
      9, 11, 29, 31, 20, 20, 40, 40, 50, 0, 70, 20]);
    const A = anchors.length / 4;
    const objectness = Float32Array.from({ length: A }, () => r() * 4 - 2);
    const deltas = Float32Array.from({ length: A * 4 }, () => r() - 0.5);
    const t = rpnTargets(gt, anchors, 0.7, 0.3);
    assert.ok(t.numPos >= 2 && t.numNeg >= 3, JSON.stringify(t));
    const base = { objectness, deltas, anchors, gt, weights: [1, 1, 1, 1], beta: 1 / 9, positiveFraction: 0.5 };
    const B = 4;
    const exp = rpnLosses({ ...base, targets: t, batchSize: B, mode: 'expected' });
    const pos = [...t.labels.keys()].filter((a) => t.labels[a] === 1);
    const neg = [...t.labels.keys()].filter((a) => t.labels[a] === 0);
    const w = samplingWeights(pos.length, neg.length, B, 0.5, 'expected');
    let obj = 0, box = 0, n = 0;
    for (const sp of combos(pos, w.kPos)) {
      for (const sn of combos(neg, w.kNeg)) {
        const labels = new Int8Array(A).fill(-1);
        for (const a of sp) labels[a] = 1;
        for (const a of sn) labels[a] = 0;
        const sub: RpnTargets = { labels, matched: t.matched, numPos: sp.length, numNeg: sn.length };
        const l = rpnLosses({ ...base, targets: sub, batchSize: B, mode: 'all' });
        obj += l.loss_objectness;
        box += l.loss_rpn_box_reg;
        n++;
      }
    }
    assert.ok(Math.abs(exp.loss_objectness - obj / n) < 1e-12);
    assert.ok(Math.abs(exp.loss_rpn_box_reg - box / n) < 1e-12);
  });

  it('RoI head: expected == mean over every subset; seeded Monte-Carlo agrees too', () => {
    const r = rng(5);
    const C = 3;
    const gt = Float32Array.from([10, 10, 40, 40, 50, 20, 90, 60]);
    const labelsGt = Int32Array.from([1, 2]);
    const rois = Float32Array.from([12, 11, 41, 42, 0, 0, 20, 20, 52, 22, 88, 61, 60, 60, 90, 90, 9, 9, 38, 39,
      30, 30, 60, 60, 48, 18, 92, 58, 10, 10, 40, 40, 50, 20, 90, 60]);
    const R = rois.length / 4;
    const logits = Float32Array.from({ length: R * C }, () => r() * 4 - 2);
    const deltas = Float32Array.from({ length: R * 4 * C }, () => r() - 0.5);
    const t = roiTargets(gt, labelsGt, rois, 0.5, 0.5);
    const base = { logits, deltas, C, rois, gt, weights: [10, 10, 5, 5], beta: 1 / 9, positiveFraction: 0.5 };
    const B = 4; // kP = min(#fg, floor(4 * .5) = 2), kN = min(#bg = 3, 2)
    const exp = boxHeadLosses({ ...base, targets: t, batchSize: B, mode: 'expected' });
    const fg = t.fg;
    const bg = [...t.labels.keys()].filter((i) => t.labels[i] === 0);
    const w = samplingWeights(fg.length, bg.length, B, 0.5, 'expected');
    assert.ok(w.kPos < fg.length && w.kNeg < bg.length, 'both sides subsampled');
    const sampled = (sp: number[], sn: number[]) => {
      const labels = new Int32Array(R).fill(-1);
      for (const i of sp) labels[i] = t.labels[i]!;
      for (const i of sn) labels[i] = 0;
      return boxHeadLosses({ ...base, targets: { ...t, labels, numFg: sp.length, numBg: sn.length }, batchSize: B, mode: 'all' });
    };
    let cls = 0, box = 0, n = 0;
    for (const sp of combos(fg, w.kPos)) {
      for (const sn of combos(bg, w.kNeg)) {
        const l = sampled(sp, sn);
        cls += l.loss_classifier;
        box += l.loss_box_reg;
        n++;
      }
    }
    assert.ok(Math.abs(exp.loss_classifier - cls / n) < 1e-12);
    assert.ok(Math.abs(exp.loss_box_reg - box / n) < 1e-12);
    // seeded Monte-Carlo of randperm-style draws: within 4 standard errors
    const draw = (arr: number[], k: number, u: () => number) => {
      const a = [...arr];
      for (let i = a.length - 1; i > 0; i--) {
        const j = Math.floor(u() * (i + 1));
        [a[i], a[j]] = [a[j]!, a[i]!];
      }
      return a.slice(0, k);
    };
    const u = rng(99);
    const vals: number[] = [];
    for (let i = 0; i < 4000; i++) vals.push(sampled(draw(fg, w.kPos, u), draw(bg, w.kNeg, u)).loss_classifier);
    const mean = vals.reduce((s, v) => s + v, 0) / vals.length;
    const sd = Math.sqrt(vals.reduce((s, v) => s + (v - mean) ** 2, 0) / (vals.length - 1));
    assert.ok(Math.abs(mean - exp.loss_classifier) < 4 * sd / Math.sqrt(vals.length), `${mean} vs ${exp.loss_classifier}`);
  });
});
