/**
 * The resized image size against torchvision's own GeneralizedRCNNTransform: 100,000 (H, W) pairs in
 * 1..2000 px for each of five (min_size, max_size) settings, plus the common COCO sizes
 * (test/fixtures/transform, made by tools/model/size_table.py). Checked twice: the service's rule
 * (resizedSize, used for the GT side of the losses and the elongation check) and the exporter's
 * in-graph rule (size-rule.onnx, the same `resized_hw` every exported graph computes) under
 * onnxruntime-node. A pair torchvision refuses (a side resized to 0) is stored as 0 x 0.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { resizedSize } from '../../src/losses/index.js';

const dir = new URL('../fixtures/transform/', import.meta.url);
interface Meta {
  settings: Array<{ min_size: number; max_size: number }>;
  pairs_per_setting: number;
  common: Array<{ min_size: number; max_size: number; in: [number, number]; out: [number, number] }>;
}
const meta = JSON.parse(readFileSync(new URL('size-table.json', dir), 'utf8')) as Meta;
const raw = gunzipSync(readFileSync(new URL('size-table.u16.gz', dir)));
const table = new Uint16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2);

/** The grid of size_table.py: H in 1..2000, k in 0..49, W = 1 + ((H * 7919 + k * 40) mod 2000). */
function grid(): Int32Array {
  const hw = new Int32Array(meta.pairs_per_setting * 2);
  let i = 0;
  for (let h = 1; h <= 2000; h++) for (let k = 0; k < 50; k++) { hw[i++] = h; hw[i++] = 1 + ((h * 7919 + k * 40) % 2000); }
  return hw;
}
const pairs = grid();
const n = meta.pairs_per_setting;
const refused = (h: number, w: number): boolean => h === 0 || w === 0;

/** Compare a rule with the table; returns the mismatches (at most 5 kept for the message). */
function mismatches(rule: (H: number, W: number, mn: number, mx: number) => [number, number]) {
  const bad: string[] = [];
  let count = 0;
  meta.settings.forEach(({ min_size: mn, max_size: mx }, s) => {
    for (let i = 0; i < n; i++) {
      const H = pairs[2 * i]!, W = pairs[2 * i + 1]!;
      const eh = table[(s * n + i) * 2]!, ew = table[(s * n + i) * 2 + 1]!;
      const [h, w] = rule(H, W, mn, mx);
      const ok = refused(eh, ew) ? refused(h, w) : h === eh && w === ew;
      if (!ok) { count++; if (bad.length < 5) bad.push(`${mn}/${mx} ${H}x${W}: ${h}x${w}, torchvision ${eh}x${ew}`); }
    }
  });
  return { count, bad };
}

describe('resized size = torchvision GeneralizedRCNNTransform (golden table)', () => {
  it('the table is whole: 5 settings x 100,000 pairs, every W in 1..2000 covered', () => {
    assert.equal(meta.settings.length, 5);
    assert.equal(n, 100_000);
    assert.equal(table.length, 5 * n * 2);
    assert.equal(new Set(Array.from({ length: n }, (_, i) => pairs[2 * i + 1])).size, 2000);
  });

  it('resizedSize agrees on every pair of every setting', () => {
    const { count, bad } = mismatches(resizedSize);
    assert.equal(count, 0, bad.join('; '));
  });

  it('resizedSize agrees on the common COCO sizes (480x640 -> 800x1066, 427x640 -> 799x1199, ...)', () => {
    assert.ok(meta.common.length >= 100);
    for (const c of meta.common) assert.deepEqual(resizedSize(c.in[0], c.in[1], c.min_size, c.max_size), c.out, JSON.stringify(c));
    const at = (h: number, w: number) => meta.common.find((c) => c.min_size === 800 && c.in[0] === h && c.in[1] === w)!.out;
    assert.deepEqual(at(480, 640), [800, 1066]);
    assert.deepEqual(at(427, 640), [799, 1199]);
  });

  it('the table tells the rules apart: a float32 division (the rule of earlier exports) fails it', () => {
    // scale = f32(min_size / side): what graphs exported before the fix computed. torchvision runs
    // `min_size / tensor` as reciprocal(tensor) * min_size, two float32 roundings.
    const division = (H: number, W: number, mn: number, mx: number): [number, number] => {
      const s = Math.min(Math.fround(mn / Math.min(H, W)), Math.fround(mx / Math.max(H, W)));
      return [Math.floor(H * s), Math.floor(W * s)];
    };
    const { count } = mismatches(division);
    assert.ok(count > 1000, `only ${count} mismatches`);
    assert.deepEqual(division(480, 640, 800, 1333), [799, 1066]);
  });

  it('the exporter\'s in-graph rule (size-rule.onnx) agrees under onnxruntime-node on every pair', async () => {
    const session = await ort.InferenceSession.create(new URL('size-rule.onnx', dir).pathname);
    const hw = new ort.Tensor('int64', BigInt64Array.from(pairs, (v) => BigInt(v)), [n, 2]);
    const bad: string[] = [];
    for (const [s, { min_size: mn, max_size: mx }] of meta.settings.entries()) {
      const out = await session.run({
        hw, min_size: new ort.Tensor('float32', Float32Array.of(mn), []), max_size: new ort.Tensor('float32', Float32Array.of(mx), []),
      });
      const got = out.resized!.data as BigInt64Array;
      for (let i = 0; i < n; i++) {
        const eh = table[(s * n + i) * 2]!, ew = table[(s * n + i) * 2 + 1]!;
        const h = Number(got[2 * i]), w = Number(got[2 * i + 1]);
        if (refused(eh, ew) ? !refused(h, w) : h !== eh || w !== ew) bad.push(`${mn}/${mx} ${pairs[2 * i]}x${pairs[2 * i + 1]}: ${h}x${w} vs ${eh}x${ew}`);
      }
    }
    await session.release();
    assert.deepEqual(bad.slice(0, 5), []);
  });
});
