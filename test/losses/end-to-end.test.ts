/**
 * End to end: the shipped loss-capable graph (models/shapes/model.onnx) run with onnxruntime-node on
 * the lead's fixture images (test/fixtures/losses, written by tools/model/make_fixtures.py with
 * torchvision on the same weights), then computeImageLosses in both sampling modes; every loss must be
 * within 1e-4 relative of torchvision's. PNGs are decoded with sharp here only (the core is pure).
 * Skipped when the model or the fixtures are absent.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import {
  computeImageLosses, LOSS_KEYS, type GraphTensor, type LossConstants, type LossGraphOutputs,
} from '../../src/losses/index.js';
import { fixtureGroundTruth, relErr } from './helpers.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MODEL_DIR = join(ROOT, 'models', 'shapes');
const FIX = join(ROOT, 'test', 'fixtures', 'losses');
const available = existsSync(join(MODEL_DIR, 'model.onnx')) && existsSync(join(FIX, 'index.json'));
/** Max relative error per loss the contract promises through onnxruntime. */
const TOL = 1e-4;
/**
 * Absolute floor: onnxruntime's convolutions (MLAS) accumulate in another order than torch's
 * (oneDNN), so the graph's objectness logits differ from eager torch by up to ~2e-4 absolute. For a
 * confident negative, BCE ~ exp(logit), so its relative error equals the logit's absolute error: a
 * loss of ~1e-3 (the empty image's loss_objectness) cannot be held to 1e-4 relative through ORT.
 * The core itself is checked on eager torch tensors at 1e-5 (measured <= 1.2e-6) (eager-core.test.ts). A case passes
 * when it is within TOL relative OR within ABS_FLOOR absolute; the cases that needed the floor are
 * printed.
 */
const ABS_FLOOR = 1e-6;

interface FixtureCase {
  name: string; file_name: string; image_id: number; height: number; width: number;
  resized: number[]; padded: number[];
  counts: { anchors_pos: number; anchors_neg: number; rois: number; rois_fg: number };
  losses: { all: Record<string, number>; expected: Record<string, number> };
}


/** PNG -> f32 [3,H,W] in [0,1] (torch: uint8 / 255.0 in float32). */
async function loadImage(path: string): Promise<{ data: Float32Array; h: number; w: number }> {
  const { data, info } = await sharp(path).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const { height: h, width: w, channels } = info;
  const out = new Float32Array(3 * h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) out[c * h * w + y * w + x] = data[(y * w + x) * channels + c]! / 255;
    }
  }
  return { data: out, h, w };
}

describe('end to end: onnxruntime graph + loss core vs torchvision', { skip: !available && 'model or fixtures absent' }, () => {
  it('all fixture images, both modes, within 1e-4 relative (or 1e-6 absolute)', async () => {
    const manifest = JSON.parse(readFileSync(join(MODEL_DIR, 'manifest.json'), 'utf8'));
    const c = manifest.loss_constants as LossConstants;
    const index = JSON.parse(readFileSync(join(FIX, 'index.json'), 'utf8')) as { cases: FixtureCase[] };
    const coco = JSON.parse(readFileSync(join(FIX, 'annotations.json'), 'utf8'));
    const session = await ort.InferenceSession.create(join(MODEL_DIR, manifest.file), {
      intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all',
    });
    const worst: Record<string, number> = {};
    let ms = 0;
    const failures: string[] = [];
    for (const fc of index.cases) {
      const img = await loadImage(join(FIX, 'images', fc.file_name));
      assert.deepEqual([img.h, img.w], [fc.height, fc.width]);
      const gt = fixtureGroundTruth(coco.annotations, fc.image_id, fc.height, fc.width);
      const G = gt.labels.length;
      const res = await session.run({
        image: new ort.Tensor('float32', img.data, [3, img.h, img.w]),
        gt_boxes: new ort.Tensor('float32', gt.boxes, [G, 4]),
      });
      const out: Record<string, GraphTensor> = {};
      for (const [k, t] of Object.entries(res)) out[k] = { data: t.data as Float32Array | BigInt64Array, dims: t.dims };
      for (const mode of ['all', 'expected'] as const) {
        const t0 = performance.now();
        const l = computeImageLosses(out as unknown as LossGraphOutputs, gt, c, mode);
        ms += performance.now() - t0;
        for (const k of [...LOSS_KEYS, 'loss'] as const) {
          const e = relErr(l[k], fc.losses[mode][k]!);
          const key = `${mode}.${k}`;
          worst[key] = Math.max(worst[key] ?? 0, Math.abs(l[k] - fc.losses[mode][k]!) < 1e-9 ? 0 : e);
          if (process.env.E2E_VERBOSE) console.log(`# ${fc.name} ${key} rel ${e.toExponential(2)}`); // per-case detail
          const abs = Math.abs(l[k] - fc.losses[mode][k]!);
          if (e > TOL && abs <= ABS_FLOOR) console.log(`# ${fc.name} ${key}: rel ${e.toExponential(2)} > 1e-4, abs ${abs.toExponential(2)} <= ${ABS_FLOOR} (graph numerics)`);
          if (e > TOL && abs > ABS_FLOOR) failures.push(`${fc.name} ${key}: ${l[k]} vs torch ${fc.losses[mode][k]} (rel ${e.toExponential(2)})`);
        }
        if (mode === 'all') {
          const cnt = l.counts;
          if (cnt.anchors_pos !== fc.counts.anchors_pos || cnt.anchors_neg !== fc.counts.anchors_neg
            || cnt.rois_fg !== fc.counts.rois_fg || cnt.rois_fg + cnt.rois_bg !== fc.counts.rois) {
            failures.push(`${fc.name} counts ${JSON.stringify(cnt)} vs ${JSON.stringify(fc.counts)}`);
          }
        }
      }
    }
    console.log(`# end-to-end: ${index.cases.length} images, loss core ${(ms / (2 * index.cases.length)).toFixed(2)} ms/image/mode`);
    console.log(`# max relative error: ${JSON.stringify(Object.fromEntries(Object.entries(worst).map(([k, v]) => [k, Number(v.toExponential(2))])))}`);
    assert.deepEqual(failures, []);
  });
});
