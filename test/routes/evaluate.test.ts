/**
 * POST /evaluate: detections mode (perfect detections score AP 1; options from query and JSON;
 * every bad input a 4xx naming the JSON path) and model mode (real model on fixture images from
 * test/fixtures/losses: the five losses, COCO and VOC blocks; bad uploads).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { assertError, multipart, ROOT, testConfig } from '../helper.js';

const square = (x: number, y: number, s: number) => [[x, y, x + s, y, x + s, y + s, x, y + s]];
const GT = {
  images: [{ id: 1, file_name: 'a.png', width: 100, height: 80 }, { id: 2, file_name: 'b.png', width: 100, height: 80 }],
  categories: [{ id: 1, name: 'square' }, { id: 2, name: 'circle' }],
  annotations: [
    { id: 1, image_id: 1, category_id: 1, bbox: [10, 10, 20, 20], area: 400, iscrowd: 0, segmentation: square(10, 10, 20) },
    { id: 2, image_id: 1, category_id: 2, bbox: [50, 30, 30, 30], area: 900, iscrowd: 0, segmentation: square(50, 30, 30) },
    { id: 3, image_id: 2, category_id: 1, bbox: [5, 5, 40, 40], area: 1600, iscrowd: 0, segmentation: square(5, 5, 40) },
  ],
};
const PERFECT = GT.annotations.map((a) => ({ image_id: a.image_id, category_id: a.category_id, bbox: a.bbox, score: 0.9, segmentation: a.segmentation }));

describe('POST /evaluate', () => {
  let app: FastifyInstance;
  before(async () => { app = await buildApp(testConfig({ EVAL_BODY_LIMIT: '300kb', WARMUP: 'false' }), { logger: false }); });
  after(() => app.close());

  const json = (payload: unknown, url = '/evaluate') =>
    app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: typeof payload === 'string' ? payload : JSON.stringify(payload) });

  test('detections mode: perfect detections → AP 1 (bbox and segm), VOC mAP 1, losses null', async () => {
    const res = await json({ ground_truth: GT, detections: PERFECT });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.images, 2);
    assert.equal(body.losses, null);
    assert.equal(body.coco.bbox.stats.length, 12);
    assert.equal(body.coco.bbox.stats[0], 1);
    assert.equal(body.coco.segm.stats[0], 1);
    assert.deepEqual(body.coco.bbox.per_category.map((c: { name: string }) => c.name), ['square', 'circle']);
    assert.equal(body.voc.mAP, 1);
    assert.equal(body.voc.iou_thr, 0.5);
    assert.deepEqual(body.counts, { images: 2, gt_instances: 3, detections: 3 });
    assert.ok(Array.isArray(body.warnings));
  });

  test('options: iou_types and voc_* from the query; JSON fields win over the query', async () => {
    const q = (await json({ ground_truth: GT, detections: PERFECT }, '/evaluate?iou_types=bbox&voc_mode=11points&voc_iou_thr=0.7')).json();
    assert.equal(q.coco.segm, undefined);
    assert.equal(q.voc.mode, '11points');
    assert.equal(q.voc.iou_thr, 0.7);
    const j = (await json({ ground_truth: GT, detections: PERFECT, iou_types: ['segm'], voc_mode: 'area' }, '/evaluate?voc_mode=11points')).json();
    assert.equal(j.coco.bbox, undefined);
    assert.equal(j.voc.mode, 'area');
  });

  test('BAD INPUT - detections mode errors name the JSON path', async () => {
    assertError(await json('{"ground_truth": '), 400, 'MRC_ERR_INVALID_JSON', 'body');
    assertError(await app.inject({ method: 'POST', url: '/evaluate' }), 400, 'MRC_ERR_EMPTY_BODY', 'body');
    assertError(await json({ ground_truth: 1, detections: [] }), 400, 'MRC_ERR_VALIDATION', 'body.ground_truth');
    assertError(await json({ ground_truth: GT }), 400, 'MRC_ERR_VALIDATION', 'body.detections');
    const badBox = structuredClone(GT);
    (badBox.annotations[1]!.bbox as unknown[])[2] = 'wide';
    // a value of the wrong JSON type is malformed input: 400 (422 is for well-typed invalid values)
    assertError(await json({ ground_truth: badBox, detections: [] }), 400, 'MRC_ERR_INVALID_INPUT', 'body.ground_truth.annotations[1].bbox[2]');
    assertError(await json({ ground_truth: GT, detections: PERFECT }, '/evaluate?voc_iou_thr=2'), 400, 'MRC_ERR_VALIDATION', 'querystring.voc_iou_thr');
    assertError(await json({ ground_truth: GT, detections: PERFECT }, '/evaluate?iou_types=keypoints'), 400, 'MRC_ERR_VALIDATION', 'querystring.iou_types');
    assertError(await app.inject({ method: 'POST', url: '/evaluate', headers: { 'content-type': 'text/plain' }, payload: 'hi' }), 415, 'MRC_ERR_UNSUPPORTED_MEDIA_TYPE', 'headers.content-type');
    const big = { ground_truth: GT, detections: Array.from({ length: 3000 }, () => PERFECT[0]) };
    assertError(await json(big), 413, 'MRC_ERR_PAYLOAD_TOO_LARGE', 'body');
  });

  const fixtures = join(ROOT, 'test', 'fixtures', 'losses');
  const annotations = readFileSync(join(fixtures, 'annotations.json'), 'utf8');
  const image = (name: string) => ({ name: 'image', filename: name, contentType: 'image/png', data: readFileSync(join(fixtures, 'images', name)) });

  test('model mode: images + annotations → five losses, COCO and VOC of the model’s own detections', async () => {
    const mp = multipart([image('r-116x197.png'), image('wide-96x518.png'), { name: 'annotations', filename: 'gt.json', contentType: 'application/json', data: annotations }]);
    const res = await app.inject({ method: 'POST', url: '/evaluate?loss_sampling=all', ...mp });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.images, 2);
    assert.equal(body.losses.sampling, 'all');
    const keys = ['loss_objectness', 'loss_rpn_box_reg', 'loss_classifier', 'loss_box_reg', 'loss_mask', 'loss'];
    for (const k of keys) assert.ok(Number.isFinite(body.losses.mean[k]) && body.losses.mean[k] >= 0, k);
    const sum = keys.slice(0, 5).reduce((s, k) => s + body.losses.mean[k], 0);
    assert.ok(Math.abs(sum - body.losses.mean.loss) < 1e-9);
    assert.deepEqual(body.losses.per_image.map((p: { file_name: string }) => p.file_name), ['r-116x197.png', 'wide-96x518.png']);
    assert.equal(body.losses.aliases.loss_objectness.detectron2, 'loss_rpn_cls');
    // through HTTP, the same numbers torchvision gives on these images (tools/model/make_fixtures.py)
    const index = JSON.parse(readFileSync(join(fixtures, 'index.json'), 'utf8'));
    for (const p of body.losses.per_image) {
      const ref = index.cases.find((c: { file_name: string }) => c.file_name === p.file_name).losses.all;
      for (const k of keys) {
        const d = Math.abs(p[k] - ref[k]);
        assert.ok(d <= 1e-4 * Math.abs(ref[k]) || d <= 1e-6, `${p.file_name} ${k}: ${p[k]} vs torchvision ${ref[k]}`);
      }
    }
    const dg = body.losses.diagnosis;
    assert.equal(dg.sampling, 'all');
    const shareSum = keys.slice(0, 5).reduce((s, k) => s + dg.shares[k], 0);
    assert.ok(Math.abs(shareSum - 1) < 1e-9, 'shares sum to 1');
    for (const k of keys.slice(0, 5)) assert.ok(dg.explanations[k].length > 20, `explanation of ${k}`);
    assert.ok(dg.flags.some((f: { id: string }) => f.id === 'thresholds_not_applicable'), 'thresholds are for expected mode');
    assert.equal(body.coco.bbox.stats.length, 12);
    assert.ok(Array.isArray(body.voc.classes));
    assert.ok(body.warnings.some((w: { path: string }) => w.path === 'annotations.images'), 'not-uploaded images are reported');
  });

  test('model mode, expected sampling: diagnosis with shares and flags', async () => {
    const mp = multipart([image('sq-320.png'), { name: 'annotations', filename: 'gt.json', contentType: 'application/json', data: annotations }]);
    const res = await app.inject({ method: 'POST', url: '/evaluate', ...mp });
    assert.equal(res.statusCode, 200, res.body);
    const dg = res.json().losses.diagnosis;
    assert.equal(dg.sampling, 'expected');
    assert.ok(Math.abs(dg.total - res.json().losses.mean.loss) < 1e-12);
    // the trained model: mask share of the total is between 20% and 50% on this image? whatever it is,
    // the flags must agree with the shares and thresholds
    const maskShare = dg.shares.loss_mask;
    assert.equal(dg.flags.some((f: { id: string }) => f.id === 'mask_share_low'), maskShare < dg.thresholds.maskShareLow);
    assert.equal(dg.flags.some((f: { id: string }) => f.id === 'mask_share_high'), maskShare > dg.thresholds.maskShareHigh);
    for (const f of dg.flags) assert.ok(typeof f.message === 'string' && f.message.length > 20);
  });

  test('BAD INPUT - model mode: missing annotations, unknown file, bad JSON, stray field', async () => {
    const send = (parts: Parameters<typeof multipart>[0]) => app.inject({ method: 'POST', url: '/evaluate', ...multipart(parts) });
    assertError(await send([image('r-116x197.png')]), 400, 'MRC_ERR_MULTIPART', 'annotations');
    assertError(await send([{ name: 'annotations', data: annotations }]), 400, 'MRC_ERR_MULTIPART', 'image');
    assertError(await send([image('r-116x197.png'), { name: 'annotations', data: '{nope' }]), 400, 'MRC_ERR_INVALID_JSON', 'annotations');
    assertError(await send([{ ...image('r-116x197.png'), filename: 'unknown.png' }, { name: 'annotations', data: annotations }]), 422, 'MRC_ERR_INVALID_INPUT', 'image[0]');
    assertError(await send([image('r-116x197.png'), { name: 'annotations', data: annotations }, { name: 'extra', data: 'x' }]), 400, 'MRC_ERR_MULTIPART', 'extra');
  });
});
