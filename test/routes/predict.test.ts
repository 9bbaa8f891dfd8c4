/**
 * POST /predict through app.inject on the real default model: raw and multipart uploads, the
 * answer's shape, RLE masks that decode (pycocotools format) to `area` pixels near their box,
 * polygons, the PNG rendering, EXIF orientation, grayscale/RGBA inputs and the query options.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { decodeToRowMajor, parseCountsString, rleToBbox } from '../../src/eval/rle.js';
import { multipart, shapesImage, solidImage, testConfig } from '../helper.js';

interface Inst { category_id: number; label: string; score: number; bbox: number[]; area: number; segmentation?: { size: number[]; counts: string } | number[][] }
interface Body { model: { name: string; version: string }; image: { width: number; height: number }; instances: Inst[]; timings_ms: Record<string, number> }

describe('POST /predict', () => {
  let app: FastifyInstance;
  let png: Buffer;
  const classes = ['square', 'circle', 'triangle'];
  before(async () => {
    app = await buildApp(testConfig(), { logger: false });
    png = await shapesImage(256, 192);
  });
  after(() => app.close());

  const raw = (body: Buffer, query = 'score_threshold=0.05', type = 'image/png', headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: `/predict?${query}`, headers: { 'content-type': type, ...headers }, payload: body });

  test('raw PNG body → instances with COCO boxes and pycocotools RLE masks', async () => {
    const res = await raw(png);
    assert.equal(res.statusCode, 200, res.body);
    assert.match(res.headers['content-type'] as string, /application\/json/);
    assert.match(res.headers['server-timing'] as string, /inference;dur=/);
    const body = res.json() as Body;
    assert.equal(body.model.name, app.models.default.files!.manifest.name);
    assert.deepEqual(body.image, { width: 256, height: 192, format: 'png' });
    for (const k of ['decode', 'preprocess', 'inference', 'postprocess', 'queue', 'total']) assert.equal(typeof body.timings_ms[k], 'number', k);
    assert.ok(body.instances.length >= 1, 'the shapes model finds something at score >= 0.05');
    let prev = Infinity;
    for (const inst of body.instances) {
      assert.ok(inst.score >= 0.05 && inst.score <= prev);
      prev = inst.score;
      assert.equal(inst.label, classes[inst.category_id - 1]);
      const [x, y, w, h] = inst.bbox as [number, number, number, number];
      assert.ok(x >= 0 && y >= 0 && w >= 0 && h >= 0 && x + w <= 256.01 && y + h <= 192.01, `bbox ${inst.bbox}`);
      const seg = inst.segmentation as { size: number[]; counts: string };
      assert.deepEqual(seg.size, [192, 256]);
      const counts = parseCountsString(seg.counts);
      assert.ok(counts instanceof Uint32Array, 'counts parse as compressed RLE');
      const mask = decodeToRowMajor(counts, 192, 256);
      assert.equal(inst.area, mask.reduce((a, b) => a + b, 0));
      if (inst.area > 0) {
        // The pasted mask stays within the box expanded by (M+2)/M = 30/28 (+1 px of truncation).
        const [mx, my, mw, mh] = rleToBbox(counts, 192, 256);
        const padX = w * (1 / 28) + 1.5, padY = h * (1 / 28) + 1.5;
        assert.ok(mx >= x - padX && my >= y - padY && mx + mw <= x + w + padX && my + mh <= y + h + padY, `mask ${[mx, my, mw, mh]} vs box ${inst.bbox}`);
      }
    }
  });

  test('multipart field "image" gives the same answer as the raw body', async () => {
    const a = (await raw(png)).json() as Body;
    const mp = multipart([{ name: 'image', filename: 'shapes.png', contentType: 'image/png', data: png }]);
    const res = await app.inject({ method: 'POST', url: '/predict?score_threshold=0.05', ...mp });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual((res.json() as Body).instances, a.instances);
  });

  test('mask_format=polygon returns COCO polygons; none returns no segmentation; max_detections caps', async () => {
    const poly = (await raw(png, 'score_threshold=0.05&mask_format=polygon')).json() as Body;
    for (const inst of poly.instances) {
      assert.ok(Array.isArray(inst.segmentation));
      for (const p of inst.segmentation as number[][]) assert.ok(p.length >= 6 && p.length % 2 === 0);
    }
    // The image has several detections at 0.05, so the cap and the threshold below have work to do.
    const scores = poly.instances.map((i) => i.score);
    assert.ok(scores.length >= 2 && scores[0]! > scores.at(-1)!, `detections at 0.05: ${scores.join(', ')}`);
    const none = (await raw(png, 'score_threshold=0.05&mask_format=none&max_detections=1')).json() as Body;
    assert.equal(none.instances.length, 1, 'max_detections=1 keeps exactly one detection');
    assert.equal(none.instances[0]!.score, scores[0], 'the best-scoring one');
    assert.ok(!('segmentation' in none.instances[0]!), 'mask_format=none: no segmentation');
    const cut = (scores[0]! + scores.at(-1)!) / 2;
    const high = (await raw(png, `score_threshold=${cut}`)).json() as Body;
    assert.deepEqual(high.instances.map((i) => i.score), scores.filter((s) => s >= cut), `score_threshold=${cut}`);
    assert.ok(high.instances.length >= 1 && high.instances.length < scores.length);
  });

  test('Accept: image/png returns the annotated image at the input size', async () => {
    const res = await raw(png, 'score_threshold=0.05', 'image/png', { accept: 'image/png' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'image/png');
    assert.ok(Number(res.headers['x-instances']) >= 1);
    const meta = await sharp(res.rawPayload).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', 256, 192]);
    const plain = await sharp(png).raw().toBuffer();
    const drawn = await sharp(res.rawPayload).removeAlpha().raw().toBuffer();
    assert.notDeepEqual(drawn, plain, 'boxes/masks were drawn');
  });

  test('EXIF-rotated JPEG: coordinates are in the displayed frame (width/height swapped)', async () => {
    const jpg = await sharp(await shapesImage(240, 160)).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
    const res = await raw(jpg, 'score_threshold=0.05&mask_format=none', 'image/jpeg');
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json() as Body;
    assert.deepEqual([body.image.width, body.image.height], [160, 240]);
    for (const i of body.instances) assert.ok(i.bbox[0]! + i.bbox[2]! <= 160.01 && i.bbox[1]! + i.bbox[3]! <= 240.01);
  });

  test('grayscale PNG, RGBA PNG, 1x1 PNG and lossless WebP are accepted', async () => {
    for (const [buf, type, w, h] of [
      [await solidImage(64, 48, 1), 'image/png', 64, 48],
      [await solidImage(64, 48, 4), 'image/png', 64, 48],
      [await solidImage(1, 1, 3), 'image/png', 1, 1],
      [await shapesImage(128, 96, 'webp'), 'image/webp', 128, 96],
    ] as const) {
      const res = await raw(buf, 'mask_format=none', type);
      assert.equal(res.statusCode, 200, `${type} ${w}x${h}: ${res.body}`);
      assert.deepEqual([(res.json() as Body).image.width, (res.json() as Body).image.height], [w, h]);
    }
  });
});
