/**
 * meanLosses averaging, diagnose shares and flags at the documented thresholds, mask-AP validation,
 * and the alias table (docs/losses.md#names).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../../src/eval/errors.js';
import { diagnose, LOSS_ALIASES, LOSS_KEYS, meanLosses, type ImageLosses } from '../../src/losses/index.js';

function losses(o: Partial<Record<(typeof LOSS_KEYS)[number], number>>): ImageLosses {
  const l = { loss_objectness: 0.05, loss_rpn_box_reg: 0.05, loss_classifier: 0.2, loss_box_reg: 0.2, loss_mask: 0.25, ...o };
  const loss = LOSS_KEYS.reduce((s, k) => s + l[k], 0);
  return { ...l, loss, mask_dice: 0.2, mask_bce_smooth: 0.3, counts: { anchors_pos: 10, anchors_neg: 100, rois_fg: 5, rois_bg: 50 } };
}
const ids = (d: ReturnType<typeof diagnose>) => d.flags.map((f) => f.id).sort();

describe('meanLosses', () => {
  it('averages losses, sums counts', () => {
    const m = meanLosses([losses({ loss_mask: 0.2 }), losses({ loss_mask: 0.4 })]);
    assert.ok(Math.abs(m.loss_mask - 0.3) < 1e-15);
    assert.equal(m.images, 2);
    assert.deepEqual(m.counts, { anchors_pos: 20, anchors_neg: 200, rois_fg: 10, rois_bg: 100 });
    assert.equal(meanLosses([]).images, 0);
    assert.equal(meanLosses([]).loss, 0);
  });
});

describe('diagnose', () => {
  it('shares sum to 1 and a healthy mix raises no flag', () => {
    // mask 0.25 of 0.75 = 33%
    const d = diagnose(losses({}), { maskAp: 0.5 });
    assert.ok(Math.abs(LOSS_KEYS.reduce((s, k) => s + d.shares[k], 0) - 1) < 1e-12);
    assert.ok(Math.abs(d.shares.loss_mask - 1 / 3) < 1e-12);
    assert.deepEqual(d.flags, []);
    for (const k of LOSS_KEYS) assert.ok(d.explanations[k].length > 20);
  });
  it('mask share < 20% and > 50%', () => {
    // 0.05 of 0.55 = 9%
    assert.deepEqual(ids(diagnose(losses({ loss_mask: 0.05 }))), ['mask_share_low']);
    // 0.55 of 1.05 = 52%
    assert.deepEqual(ids(diagnose(losses({ loss_mask: 0.55 }))), ['mask_share_high']);
  });
  it('high loss_mask with low mask AP; near-chance loss_mask', () => {
    // 0.4 of 0.9 = 44%: no share flag; 0.4 >= 0.35 and AP 0.1 < 0.25
    assert.deepEqual(ids(diagnose(losses({ loss_mask: 0.4 }), { maskAp: 0.1 })), ['mask_loss_high_low_ap']);
    assert.deepEqual(ids(diagnose(losses({ loss_mask: 0.4 }), { maskAp: 0.3 })), []);
    assert.deepEqual(ids(diagnose(losses({ loss_mask: 0.4 }))), []);
    // 0.65 >= 0.6 (ln 2 is chance); share 0.65/1.15 = 57% too
    assert.deepEqual(ids(diagnose(losses({ loss_mask: 0.65 }))), ['mask_loss_near_chance', 'mask_share_high']);
  });
  it('high RPN losses', () => {
    assert.deepEqual(ids(diagnose(losses({ loss_objectness: 0.12, loss_mask: 0.3 }))), ['rpn_objectness_high']);
    assert.deepEqual(ids(diagnose(losses({ loss_rpn_box_reg: 0.2, loss_mask: 0.3 }))), ['rpn_box_reg_high']);
  });
  it('sampling "all": thresholds not applied', () => {
    assert.deepEqual(ids(diagnose(losses({ loss_mask: 0.05 }), { sampling: 'all' })), ['thresholds_not_applicable']);
  });
  it('mask AP must be in [0, 1]', () => {
    assert.throws(() => diagnose(losses({}), { maskAp: 35 }), (e: unknown) => e instanceof InputError && e.path === 'mask_ap');
  });
});

describe('LOSS_ALIASES', () => {
  it('maps the five torchvision names (docs/losses.md#names)', () => {
    assert.deepEqual(LOSS_KEYS.map((k) => [LOSS_ALIASES[k].detectron2, LOSS_ALIASES[k].mmdetection, LOSS_ALIASES[k].matterport]), [
      ['loss_rpn_cls', 'loss_rpn_cls', 'rpn_class_loss'],
      ['loss_rpn_loc', 'loss_rpn_bbox', 'rpn_bbox_loss'],
      ['loss_cls', 'loss_cls', 'mrcnn_class_loss'],
      ['loss_box_reg', 'loss_bbox', 'mrcnn_bbox_loss'],
      ['loss_mask', 'loss_mask', 'mrcnn_mask_loss'],
    ]);
    for (const k of LOSS_KEYS) {
      assert.equal(LOSS_ALIASES[k].torchvision, k);
      for (const fw of ['torchvision', 'detectron2', 'mmdetection', 'matterport'] as const) assert.ok(LOSS_ALIASES[k].normalisation[fw].length > 10);
    }
  });
});
