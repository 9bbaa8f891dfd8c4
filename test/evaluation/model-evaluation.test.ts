/**
 * Model-mode evaluation (src/evaluation/model-evaluation.ts) resumed from stored per-image outcomes
 * (src/evaluation/records.ts) ends with the numbers of an uninterrupted run: the fixture images
 * of test/fixtures/losses, evaluated by a deterministic stand-in runner (detections derived from the
 * ground truth, so no model is needed), once straight through and once interrupted after 6 images
 * whose outcomes went through bytes — same COCO arrays bit for bit, same blocks, VOC table, counts
 * and warnings. The codec round-trips every field of an outcome.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { countsToString, frBbox } from '../../src/eval/index.js';
import { ModelEvaluation, type ModelEvaluationResult } from '../../src/evaluation/model-evaluation.js';
import { prepareModelInput } from '../../src/evaluation/model-input.js';
import { decodeImageOutcome, encodeImageOutcome } from '../../src/evaluation/records.js';
import type { ImageRun, ModelRunner } from '../../src/models/runtime.js';
import { decodeImage } from '../../src/pipeline/decode.js';
import type { Instance } from '../../src/pipeline/postprocess.js';
import { ROOT } from '../helper.js';

const FIX = join(ROOT, 'test/fixtures/losses');
const annotations = JSON.parse(readFileSync(join(FIX, 'annotations.json'), 'utf8')) as {
  images: Array<{ id: number; file_name: string }>;
  annotations: Array<{ image_id: number; category_id: number; bbox: number[] }>;
};
const files = annotations.images.map((im, i) => ({ fileName: im.file_name, field: `image[${i}]`, bytes: readFileSync(join(FIX, 'images', im.file_name)) }));

/** Detections derived from the GT of the image being run: shifted boxes, a false positive, box masks. */
class StandInRunner implements ModelRunner {
  readonly lossesUnavailable = 'stand-in runner';
  readonly lossConstants = null;
  private current: number | null = null;

  async decode(bytes: Buffer, field: string) {
    const image = await decodeImage(bytes, { maxPixels: 1e8, field });
    this.current = annotations.images.find((im) => readFileSync(join(FIX, 'images', im.file_name)).equals(bytes))!.id;
    return image;
  }

  async runImage(image: { width: number; height: number }): Promise<ImageRun> {
    const H = image.height, W = image.width;
    const gt = annotations.annotations.filter((a) => a.image_id === this.current);
    const boxes: Array<[number, number[], number]> = gt.map((a, i) => [a.category_id, [a.bbox[0]! + 2, a.bbox[1]! + 1, a.bbox[2]! * 0.9, a.bbox[3]!], 0.9 - 0.1 * i]);
    boxes.push([1 + ((this.current ?? 0) % 3), [1, 1, Math.min(20, W - 2), Math.min(20, H - 2)], 0.5]);
    const instances = boxes.map(([category_id, bbox, score]): Instance => ({
      category_id, label: String(category_id), score, bbox: bbox as [number, number, number, number], area: bbox[2]! * bbox[3]!,
      segmentation: { size: [H, W], counts: countsToString(frBbox(bbox, H, W)) },
    }));
    return { instances, lossOutputs: null };
  }
}

const bits = (a: Float64Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function assertSameEnd(a: ModelEvaluationResult, b: ModelEvaluationResult): void {
  for (const t of ['bbox', 'segm'] as const) {
    const x = a.outcome.accumulated[t]!, y = b.outcome.accumulated[t]!;
    for (const k of ['precision', 'recall', 'scores'] as const) assert.ok(bits(x[k]).equals(bits(y[k])), `${t} ${k}`);
  }
  assert.deepEqual(a.response.coco, b.response.coco);
  assert.deepEqual(a.response.voc, b.response.voc);
  assert.deepEqual(a.response.counts, b.response.counts);
  assert.deepEqual(a.response.warnings, b.response.warnings);
  assert.deepEqual(a.response.losses, b.response.losses);
  assert.deepEqual(a.outcome.imageErrors, b.outcome.imageErrors);
}

test('resumed from stored outcomes = uninterrupted (bits of the accumulation, every block)', async () => {
  const opts = { lossSampling: 'expected' as const };
  const input = prepareModelInput(annotations, files);
  const straight = new ModelEvaluation(input, opts, new StandInRunner());
  for (let k = 0; k < files.length; k++) await straight.evaluateImage(k, files[k]!.bytes);
  const ref = await straight.finish();
  assert.ok(ref.response.coco.segm && ref.response.coco.bbox);
  assert.ok(ref.response.counts.detections > files.length);

  const first = new ModelEvaluation(input, opts, new StandInRunner());
  const stored: Uint8Array[] = [];
  for (let k = 0; k < 6; k++) stored.push(encodeImageOutcome(await first.evaluateImage(k, files[k]!.bytes)));
  // "crash": a new evaluation merges what was stored, then goes on
  const resumed = new ModelEvaluation(input, opts, new StandInRunner());
  for (const bytes of stored.reverse()) resumed.add(decodeImageOutcome(bytes));
  assert.equal(resumed.done, 6);
  for (let k = 0; k < files.length; k++) if (!resumed.has(k)) await resumed.evaluateImage(k, files[k]!.bytes);
  assertSameEnd(await resumed.finish(), ref);
});

test('the outcome codec round-trips every field', async () => {
  const input = prepareModelInput(annotations, files);
  const ev = new ModelEvaluation(input, { lossSampling: 'expected' }, new StandInRunner());
  const o = await ev.evaluateImage(2, files[2]!.bytes);
  const back = decodeImageOutcome(encodeImageOutcome(o));
  assert.equal(back.k, o.k);
  assert.equal(back.imageId, o.imageId);
  assert.equal(back.ms, o.ms);
  assert.deepEqual(back.losses, o.losses);
  assert.deepEqual(back.detections, o.detections);
  assert.deepEqual(back.records.batch, o.records.batch);
  assert.equal(back.records.images.length, o.records.images.length);
  const [x, y] = [back.records.images[0]!, o.records.images[0]!];
  for (const t of ['bbox', 'segm'] as const) {
    assert.equal(x.coco[t]!.length, y.coco[t]!.length);
    x.coco[t]!.forEach((c, i) => {
      const d = y.coco[t]![i]!;
      for (const f of ['imageId', 'categoryId', 'numDt', 'numGt', 'numAreas', 'numThrs'] as const) assert.equal(c[f], d[f]);
      for (const f of ['dtIds', 'dtScores', 'gtIds', 'dtMatches', 'gtMatches'] as const) assert.ok(bits(c[f]).equals(bits(d[f])), f);
      assert.deepEqual(c.gtIgnore, d.gtIgnore);
      assert.deepEqual(c.dtIgnore, d.dtIgnore);
    });
  }
  assert.deepEqual(x.voc, y.voc);
  assert.throws(() => decodeImageOutcome(new Uint8Array(2)), RangeError);
  // bytes as a driver returns them: a Buffer viewing part of a larger pool (pg)
  const enc = encodeImageOutcome(o);
  const pool = Buffer.alloc(enc.length + 3000, 0xab);
  pool.set(enc, 1000);
  const fromPool = decodeImageOutcome(pool.subarray(1000, 1000 + enc.length));
  assert.deepEqual(fromPool.records.images[0]!.voc, y.voc);
  assert.ok(bits(fromPool.records.images[0]!.coco.bbox![0]!.dtScores).equals(bits(y.coco.bbox![0]!.dtScores)));
});
