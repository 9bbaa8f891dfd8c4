/**
 * Diagnosis over time (src/evaluation/trends.ts): each rule fires on a series made for it, with a
 * one-line message naming the metric, and stays quiet just inside its threshold.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { diagnoseTrend, type TrendPoint } from '../../src/evaluation/trends.js';

const LOSSES = { loss_objectness: 0.01, loss_rpn_box_reg: 0.01, loss_classifier: 0.05, loss_box_reg: 0.05, loss_mask: 0.08, loss: 0.2 };
const classes = (square: number, circle: number, triangle: number): TrendPoint['classes'] => [
  { category_id: 1, name: 'square', box_ap: square, mask_ap: square },
  { category_id: 2, name: 'circle', box_ap: circle, mask_ap: circle },
  { category_id: 3, name: 'triangle', box_ap: triangle, mask_ap: triangle },
];
const point = (id: string, over: Partial<TrendPoint> = {}): TrendPoint => ({
  id, losses: { ...LOSSES }, box: { ap: 0.9 }, mask: { ap: 0.85 }, classes: classes(0.9, 0.9, 0.9), ...over,
});
const codes = (flags: ReturnType<typeof diagnoseTrend>): string[] => flags.map((f) => `${f.code}:${f.metric}`).sort();

describe('diagnosis over time', () => {
  test('a steady series raises nothing; an empty one neither', () => {
    assert.deepEqual(diagnoseTrend([point('a'), point('b'), point('c')]), []);
    assert.deepEqual(diagnoseTrend([]), []);
  });

  test('loss_nan: a loss that is not finite (stored as null)', () => {
    const f = diagnoseTrend([point('a'), point('b', { losses: { ...LOSSES, loss_mask: null, loss: null } })]);
    assert.deepEqual(codes(f), ['loss_nan:loss', 'loss_nan:loss_mask']);
    assert.equal(f[0]!.severity, 'critical');
    assert.equal(f[0]!.evaluation_id, 'b');
    assert.match(f[0]!.message, /not finite/);
  });

  test('loss_jump: ×3 against the previous evaluation, not ×2.9', () => {
    const jumped = diagnoseTrend([point('a'), point('b', { losses: { ...LOSSES, loss_classifier: 0.15 } })]);
    assert.deepEqual(codes(jumped), ['loss_jump:loss_classifier']);
    assert.match(jumped[0]!.message, /loss_classifier jumped ×3\.0/);
    assert.deepEqual(diagnoseTrend([point('a'), point('b', { losses: { ...LOSSES, loss_classifier: 0.145 } })]), []);
  });

  test('loss_rising: up at every step over the last 5 and by more than 10% in all', () => {
    const rising = [0.05, 0.052, 0.054, 0.056, 0.058].map((v, i) => point(`p${i}`, { losses: { ...LOSSES, loss_box_reg: v } }));
    const f = diagnoseTrend(rising);
    assert.deepEqual(codes(f), ['loss_rising:loss_box_reg']);
    assert.equal(f[0]!.reference, 0.05);
    const flatter = [0.05, 0.051, 0.052, 0.053, 0.054].map((v, i) => point(`p${i}`, { losses: { ...LOSSES, loss_box_reg: v } }));
    assert.deepEqual(diagnoseTrend(flatter), [], '+8%: below the 10% rise');
    const dip = [0.05, 0.06, 0.055, 0.07, 0.08].map((v, i) => point(`p${i}`, { losses: { ...LOSSES, loss_box_reg: v } }));
    assert.deepEqual(diagnoseTrend(dip), [], 'not monotone');
  });

  test('mask_share: loss_mask outside 20-50% of the five-loss total', () => {
    const high = diagnoseTrend([point('a', { losses: { ...LOSSES, loss_mask: 0.2 } })]);
    assert.deepEqual(codes(high), ['mask_share:loss_mask']);
    assert.match(high[0]!.message, /> 50%/);
    const low = diagnoseTrend([point('a', { losses: { ...LOSSES, loss_mask: 0.02 } })]);
    assert.match(low[0]!.message, /< 20%/);
    assert.equal(diagnoseTrend([point('a', { losses: null })]).length, 0, 'no losses: nothing to say');
  });

  test('ap_drop against the pinned baseline (else the first point), beyond 2 AP points', () => {
    const base = point('base', { box: { ap: 0.9 }, mask: { ap: 0.85 } });
    const f = diagnoseTrend([point('a'), point('b', { box: { ap: 0.87 }, mask: { ap: 0.84 }, classes: classes(0.87, 0.87, 0.87) })], base);
    assert.deepEqual(codes(f), ['ap_drop:box_ap']);
    assert.equal(f[0]!.reference, 0.9);
    assert.match(f[0]!.message, /Box AP fell by 3\.0 points/);
    assert.deepEqual(codes(diagnoseTrend([point('a'), point('b', { box: { ap: 0.885 }, classes: classes(0.885, 0.885, 0.885) })])), [], '1.5 points: within');
  });

  test('class_drop: one class falls while the others hold', () => {
    const f = diagnoseTrend([point('a'), point('b', { classes: classes(0.9, 0.8, 0.905) })]);
    assert.deepEqual(codes(f), ['class_drop:box_ap:circle', 'class_drop:mask_ap:circle']);
    assert.equal(f[0]!.class, 'circle');
    assert.match(f[0]!.message, /"circle" fell by 10\.0 points/);
    assert.deepEqual(codes(diagnoseTrend([point('a'), point('b', { classes: classes(0.85, 0.8, 0.85) })])), [], 'every class fell: not one class');
  });
});
