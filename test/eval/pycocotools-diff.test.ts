/**
 * Differential test against pycocotools on a generated COCO-like set (bench/eval-data.ts: polygons,
 * crowd RLE, compressed-RLE results, score ties, 12 categories): the 12 stats, every per-category
 * value and the SHA-256 of the whole precision / recall / scores arrays must equal the numbers
 * pycocotools 2.0.11 (numpy 1.24) gave on the same JSON (test/fixtures/coco-eval/expected/
 * generated_<n>.json, written by bench/eval-reference.ts). Exact equality, bbox and segm; the
 * evaluation runs once in one go and once fed image by image through Evaluation (the service's way).
 *
 * Default: the 300-image set. EVAL_DIFF_IMAGES=5000 (`npm run test:eval-diff`) runs the 5000-image one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { generateEvalSet } from '../../bench/eval-data.js';
import { evaluateDetections, Evaluation, type CocoBlock } from '../../src/eval/index.js';
import { fixture } from './helpers.js';

const IMAGES = Number(process.env.EVAL_DIFF_IMAGES ?? 300);

interface Expected {
  images: number;
  gt_instances: number;
  detections: number;
  bbox: ExpectedBlock;
  segm: ExpectedBlock;
}
interface ExpectedBlock {
  stats: number[];
  per_category: Array<Record<string, number | string | null>>;
  sha256: { precision: string; recall: string; scores: string };
}

const exp = fixture(`expected/generated_${IMAGES}.json`) as Expected;
const set = generateEvalSet(IMAGES);

const sha = (a: Float64Array): string => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');

function check(block: CocoBlock, e: ExpectedBlock, arrays: boolean): void {
  assert.deepEqual(block.stats.map((v) => v ?? -1), e.stats);
  assert.deepEqual(block.per_category, e.per_category);
  if (arrays) {
    assert.equal(sha(block.precision!.data), e.sha256.precision, 'precision array');
    assert.equal(sha(block.recall!.data), e.sha256.recall, 'recall array');
    assert.equal(sha(block.scores!.data), e.sha256.scores, 'scores array');
  }
}

test(`generated set of ${IMAGES} images matches pycocotools bit for bit (bbox, segm; one pass)`, () => {
  assert.equal(set.gt.annotations.length, exp.gt_instances, 'generator changed: regenerate the fixture (bench/eval-reference.ts)');
  assert.equal(set.dets.length, exp.detections);
  // through JSON text, as the service receives it
  const gt: unknown = JSON.parse(JSON.stringify(set.gt));
  const dets: unknown = JSON.parse(JSON.stringify(set.dets));
  for (const t of ['bbox', 'segm'] as const) {
    const r = evaluateDetections({ groundTruth: gt, detections: dets, iouTypes: [t], includeArrays: true });
    check(r.coco[t]!, exp[t], true);
  }
});

test(`generated set of ${IMAGES} images: image-by-image feeding gives the same numbers`, () => {
  const ev = Evaluation.open(set.gt, { iouTypes: ['bbox', 'segm'] });
  const byImage = new Map<number, unknown[]>();
  for (const d of set.dets as Array<{ image_id: number }>) {
    const list = byImage.get(d.image_id);
    if (list) list.push(d);
    else byImage.set(d.image_id, [d]);
  }
  // images in descending id order, each with its own batch
  for (const id of Array.from(ev.gt.imageIds).reverse()) ev.add(ev.loadResults(byImage.get(id) ?? []).evaluate([id]));
  const { result } = ev.finish({ groupDetections: 1 });
  check(result.coco.bbox!, exp.bbox, false);
  check(result.coco.segm!, exp.segm, false);
});

test('stored ground-truth masks: a second evaluation of the same content gives the same bits; changed content is not reused', async () => {
  const { clearGtMaskCache } = await import('../../src/eval/coco/gt-masks.js');
  const small = generateEvalSet(60, 99);
  const run = (gt: unknown): CocoBlock => evaluateDetections({ groundTruth: gt, detections: small.dets, iouTypes: ['segm'], includeArrays: true }).coco.segm!;
  clearGtMaskCache();
  const cold = run(JSON.parse(JSON.stringify(small.gt)));
  const warm = run(JSON.parse(JSON.stringify(small.gt)));
  assert.deepEqual(warm, cold);
  // shift the polygons of a few annotations: a fresh evaluation and one after the original was
  // stored must agree (the content key differs), and differ from the original
  const moved = JSON.parse(JSON.stringify(small.gt)) as { annotations: Array<{ segmentation: unknown; iscrowd: number }> };
  for (const ann of moved.annotations.filter((a) => a.iscrowd === 0).slice(0, 12)) {
    for (const part of ann.segmentation as number[][]) for (let i = 0; i < part.length; i += 2) part[i] = Math.max(0, part[i]! - 25);
  }
  const afterStored = run(moved);
  clearGtMaskCache();
  const fresh = run(JSON.parse(JSON.stringify(moved)));
  assert.deepEqual(afterStored, fresh);
  assert.notDeepEqual(fresh.precision!.data, cold.precision!.data);
});
