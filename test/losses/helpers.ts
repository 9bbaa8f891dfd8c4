/**
 * Shared helpers of the loss-core tests: fixture loading (test/fixtures/losses-unit, written by
 * tools/model/golden_losses.py), base64 float32 decoding, relative errors and tiny graph builders.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GraphTensor, LossConstants, LossGraphOutputs, LossGroundTruth } from '../../src/losses/index.js';

export const UNIT_FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'losses-unit');

/** Parse a JSON fixture of test/fixtures/losses-unit. */
export function loadUnit<T = any>(name: string): T {
  return JSON.parse(readFileSync(join(UNIT_FIXTURES, name), 'utf8')) as T;
}

/** Decode base64 little-endian float32. */
export function b64f32(s: string): Float32Array {
  const buf = Buffer.from(s, 'base64');
  const out = new Float32Array(buf.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = buf.readFloatLE(i * 4);
  return out;
}

/** Decode base64 bytes. */
export function b64u8(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'base64'));
}

/** |a-b| / max(|b|, tiny); 0 when both are 0. */
export function relErr(a: number, b: number): number {
  if (a === b) return 0;
  return Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);
}

/** Fixture tensor {dims, f32|i64} -> GraphTensor. */
export function fixtureTensor(t: { dims: number[]; f32?: string; i64?: number[] }): GraphTensor {
  if (t.f32 !== undefined) return { data: t.f32 === '' ? new Float32Array(0) : b64f32(t.f32), dims: t.dims };
  return { data: BigInt64Array.from((t.i64 ?? []).map((v) => BigInt(v))), dims: t.dims };
}

/** A pipeline-*.json fixture as API inputs. */
export interface PipelineCase {
  out: LossGraphOutputs;
  gt: LossGroundTruth;
  c: LossConstants;
  torch: {
    all: Record<string, number>;
    expected: Record<string, number>;
    mc: { runs: number; mean: Record<string, number>; se: Record<string, number> };
    counts: Record<string, number>;
    mask_dice: number;
    mask_bce_smooth: number;
  };
  scaled: number[];
}

/** Load pipeline-<name>.json. */
export function loadPipeline(name: string): PipelineCase {
  const j = loadUnit(`pipeline-${name}.json`);
  const out: Record<string, GraphTensor> = {};
  for (const [k, v] of Object.entries(j.outputs)) out[k] = fixtureTensor(v as any);
  const gt: LossGroundTruth = {
    height: j.gt.height, width: j.gt.width, boxes: Float32Array.from(j.gt.boxes),
    labels: Int32Array.from(j.gt.labels), masks: (j.gt.masks as string[]).map(b64u8),
  };
  return { out: out as unknown as LossGraphOutputs, gt, c: j.constants as LossConstants, torch: j.torch, scaled: j.gt.scaled };
}

/** Constants of the shapes model (docs/architecture.md), for hand-built cases. */
export const SHAPES_CONSTANTS: LossConstants = {
  loss_contract_version: 1, num_classes: 4, min_size: 256, max_size: 320, size_divisible: 32,
  anchor_sizes: [16, 32, 64, 128, 256], aspect_ratios: [0.5, 1.0, 2.0],
  rpn_fg_iou: 0.7, rpn_bg_iou: 0.3, rpn_batch_size_per_image: 256, rpn_positive_fraction: 0.5,
  box_fg_iou: 0.5, box_bg_iou: 0.5, box_batch_size_per_image: 512, box_positive_fraction: 0.25,
  rpn_reg_weights: [1, 1, 1, 1], bbox_reg_weights: [10, 10, 5, 5], smooth_l1_beta: 1 / 9,
  mask_size: 28, roialign_aligned: false,
};

/** COCO uncompressed RLE (column-major runs, zeros first) -> row-major 0/1 mask. */
export function rleToMask(counts: number[], h: number, w: number): Uint8Array {
  const out = new Uint8Array(h * w);
  let k = 0;
  counts.forEach((n, i) => {
    if (i % 2 === 1) for (let j = k; j < k + n; j++) out[(j % h) * w + Math.floor(j / h)] = 1;
    k += n;
  });
  return out;
}

/** The loss core's ground truth of one image of test/fixtures/losses/annotations.json. */
export function fixtureGroundTruth(annotations: any[], imageId: number, height: number, width: number): LossGroundTruth {
  const anns = annotations.filter((a) => a.image_id === imageId);
  return {
    height, width,
    boxes: Float32Array.from(anns.flatMap((a) => [a.bbox[0], a.bbox[1], a.bbox[0] + a.bbox[2], a.bbox[1] + a.bbox[3]])),
    labels: Int32Array.from(anns.map((a) => a.category_id)),
    masks: anns.map((a) => rleToMask(a.segmentation.counts, height, width)),
  };
}
