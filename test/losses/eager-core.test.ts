/**
 * The loss core on eager torch tensors: tools/model/make_fixtures.py dumps the graph-contract
 * tensors computed by the eager LossCapable wrapper (same weights, torch, no onnxruntime) for two
 * fixture images (eager/<name>.json); computeImageLosses on them must match torchvision's own losses
 * to 1e-5 relative in both sampling modes (measured <= 1.2e-6), or to 2^-24 absolute for a loss near 0
 * (empty-128's loss_classifier: 4.9e-5, 5.2e-9 apart, 1.1e-4 relative). This isolates the core from the graph's numerics (see
 * end-to-end.test.ts for the whole path through onnxruntime).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  computeImageLosses, LOSS_KEYS, type GraphTensor, type LossConstants, type LossGraphOutputs,
} from '../../src/losses/index.js';
import { fixtureGroundTruth, relErr } from './helpers.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIX = join(ROOT, 'test', 'fixtures', 'losses');
const F32_HALF_ULP_OF_1 = 2 ** -24;
const TOL = 1e-5; // torch reduces in float32, the core in float64: measured up to 1.2e-6

function decode(t: { dtype: string; dims: number[]; b64: string }): GraphTensor {
  const buf = Buffer.from(t.b64, 'base64');
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  return { data: t.dtype === 'int64' ? new BigInt64Array(ab) : new Float32Array(ab), dims: t.dims };
}


describe('loss core on eager torch tensors vs torchvision', () => {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'models', 'shapes', 'manifest.json'), 'utf8'));
  const c = manifest.loss_constants as LossConstants;
  const index = JSON.parse(readFileSync(join(FIX, 'index.json'), 'utf8'));
  const coco = JSON.parse(readFileSync(join(FIX, 'annotations.json'), 'utf8'));
  const names = readdirSync(join(FIX, 'eager')).map((f) => f.replace(/\.json$/, ''));
  it('has eager dumps', () => assert.ok(names.length >= 2, 'expected eager dumps'));
  for (const name of names) {
    it(`${name}: five losses within 1e-5 relative, both modes`, () => {
      const fc = index.cases.find((x: { name: string }) => x.name === name);
      const raw = JSON.parse(readFileSync(join(FIX, 'eager', `${name}.json`), 'utf8'));
      const out: Record<string, GraphTensor> = {};
      for (const [k, v] of Object.entries(raw)) out[k] = decode(v as { dtype: string; dims: number[]; b64: string });
      const gt = fixtureGroundTruth(coco.annotations, fc.image_id, fc.height, fc.width);
      for (const mode of ['all', 'expected'] as const) {
        const l = computeImageLosses(out as unknown as LossGraphOutputs, gt, c, mode);
        for (const k of [...LOSS_KEYS, 'loss'] as const) {
          const ref = fc.losses[mode][k] as number;
          // A loss near 0 is, per element, log(1 + d) with 1 + d rounded to float32 in torch: its
          // reference is only good to half an ulp of 1 (2^-24) absolute, so below that nothing is compared.
          const e = Math.abs(l[k] - ref) <= F32_HALF_ULP_OF_1 ? 0 : relErr(l[k], ref);
          assert.ok(e <= TOL, `${name} ${mode}.${k}: ${l[k]} vs torch ${ref} (rel ${e.toExponential(2)})`);
        }
      }
    });
  }
});
