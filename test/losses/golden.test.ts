/**
 * Golden comparisons with torchvision 0.14 (fixtures from tools/model/golden_losses.py):
 * box_iou and Matcher bit-exact, BoxCoder within float32 rounding, anchors bit-exact (sha256 of
 * the float32 bytes), eager resized sizes and nearest-resize indices exact, roi_align exact, and
 * the full loss pipeline on synthetic graph outputs in both sampling modes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  boxIou, computeImageLosses, decodeBoxes, encodeBoxes, generateAnchors, LOSS_KEYS, match, nearestSourceIndex,
  resizedSize, roiAlign,
} from '../../src/losses/index.js';
import { b64f32, loadPipeline, loadUnit, relErr } from './helpers.js';

describe('golden: torchvision box_iou / Matcher / BoxCoder', () => {
  it('box_iou is bit-exact (float32 op order)', () => {
    for (const c of loadUnit('iou.json').cases) {
      const got = boxIou(Float32Array.from(c.a), Float32Array.from(c.b));
      assert.deepEqual(Array.from(got), c.iou.map(Math.fround));
    }
  });

  it('Matcher matches torchvision on tie-rich matrices (all configs)', () => {
    const cases = loadUnit('matcher.json').cases;
    assert.ok(cases.length > 40);
    for (const c of cases) {
      const m = match(Float32Array.from(c.iou), c.G, c.N, c.high, c.low, c.low_quality);
      assert.deepEqual(Array.from(m.matches), c.matches, JSON.stringify({ G: c.G, N: c.N, high: c.high, low: c.low }));
    }
  });

  it('encode within 2 float32 ulps; decode within 1e-6 (exp may differ by an ulp, then cancels)', () => {
    const j = loadUnit('coder.json');
    for (const c of j.cases) {
      const enc = encodeBoxes(Float32Array.from(j.gt), Float32Array.from(j.ref), c.weights);
      const dec = decodeBoxes(Float32Array.from(j.deltas), Float32Array.from(j.ref), c.weights);
      enc.forEach((v, i) => assert.ok(Math.abs(v - c.encode[i]) <= 2.5e-7 * Math.max(1, Math.abs(c.encode[i])), `encode ${i}: ${v} vs ${c.encode[i]}`));
      dec.forEach((v, i) => assert.ok(Math.abs(v - c.decode[i]) <= 1e-6 * Math.max(1, Math.abs(c.decode[i])), `decode ${i}: ${v} vs ${c.decode[i]}`));
    }
  });
});

describe('golden: geometry', () => {
  it('anchors are bit-exact for every padded size and both anchor sets', () => {
    for (const c of loadUnit('anchors.json').cases) {
      const a = generateAnchors(c.padded[0], c.padded[1], c.sizes, [0.5, 1, 2]);
      assert.equal(a.length / 4, c.count);
      assert.deepEqual(Array.from(a.subarray(0, 24)), c.head);
      const sha = createHash('sha256').update(Buffer.from(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
      assert.equal(sha, c.sha256, `padded ${c.padded}`);
    }
  });

  it('resized size equals eager GeneralizedRCNNTransform', () => {
    const sizes = loadUnit('resize.json').sizes;
    for (const s of sizes) assert.deepEqual(resizedSize(s.in[0], s.in[1], s.min_size, s.max_size), s.out, JSON.stringify(s));
  });

  it('nearest-resize source indices equal F.interpolate (incl. out == in and out == 2*in)', () => {
    for (const n of loadUnit('resize.json').nearest) {
      assert.deepEqual(n.ys, Array.from({ length: n.out[0] }, (_, d) => nearestSourceIndex(d, n.in[0], n.out[0])));
      assert.deepEqual(n.xs, Array.from({ length: n.out[1] }, (_, d) => nearestSourceIndex(d, n.in[1], n.out[1])));
    }
  });

  it('roi_align equals torchvision (adaptive, aligned False; sampling 2; aligned True)', () => {
    const j = loadUnit('roi_align.json');
    for (const c of j.cases) {
      const p = j.planes[c.plane];
      const plane = b64f32(p.data);
      const want = b64f32(c.out);
      const size = c.size;
      for (let b = 0; b < c.boxes.length / 4; b++) {
        const got = roiAlign(plane, p.h, p.w, c.boxes.map(Math.fround), b * 4, size, c.sampling_ratio, c.aligned);
        let maxd = 0;
        got.forEach((v, k) => (maxd = Math.max(maxd, Math.abs(v - want[b * size * size + k]!))));
        assert.ok(maxd <= 1e-6, `plane ${c.plane} sr ${c.sampling_ratio} aligned ${c.aligned} box ${b}: max diff ${maxd}`);
      }
    }
  });
});

describe('golden: the five losses on synthetic graph outputs', () => {
  for (const name of ['a', 'b', 'c', 'empty']) {
    it(`pipeline-${name}: "all" and "expected" within 1e-6 relative of torchvision, counts exact`, () => {
      const p = loadPipeline(name);
      for (const mode of ['all', 'expected'] as const) {
        const l = computeImageLosses(p.out, p.gt, p.c, mode);
        for (const k of LOSS_KEYS) {
          const want = p.torch[mode][k]!;
          assert.ok(relErr(l[k], want) <= 1e-6 || Math.abs(l[k] - want) < 1e-9, `${mode} ${k}: ${l[k]} vs torch ${want}`);
        }
        assert.deepEqual(l.counts, p.torch.counts);
        assert.ok(relErr(l.mask_dice, p.torch.mask_dice) <= 1e-5 || p.torch.mask_dice === 0, `dice ${l.mask_dice} vs ${p.torch.mask_dice}`);
        assert.ok(relErr(l.mask_bce_smooth, p.torch.mask_bce_smooth) <= 1e-6 || p.torch.mask_bce_smooth === 0);
      }
    });

    it(`pipeline-${name}: "expected" agrees with a seeded Monte-Carlo of the stock sampler (4 SE)`, () => {
      const p = loadPipeline(name);
      const l = computeImageLosses(p.out, p.gt, p.c, 'expected');
      for (const k of LOSS_KEYS) {
        const mean = p.torch.mc.mean[k]!;
        const se = p.torch.mc.se[k]!;
        assert.ok(Math.abs(l[k] - mean) <= 4 * se + 1e-6 * Math.abs(mean), `${k}: ${l[k]} vs MC ${mean} +- ${se}`);
      }
    });
  }
});
