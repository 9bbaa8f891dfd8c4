/**
 * The stock (detections-only) export of the default model, end to end: models/shapes-stock holds
 * torchvision's plain ONNX export of models/shapes/weights.pt (outputs boxes, labels, scores and
 * pasted masks [D,1,H,W]; weights stored as float16, computing in float32). /predict serves it and
 * finds what the loss-capable graph finds; /evaluate (model mode) gives COCO AP and the VOC table,
 * with `losses: null` and `losses_unavailable` saying why.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { multipart, ROOT, testConfig } from '../helper.js';

const FIX = join(ROOT, 'test/fixtures/losses');
const annotations = JSON.parse(readFileSync(join(FIX, 'annotations.json'), 'utf8')) as {
  images: Array<{ id: number; file_name: string }>;
};
const FILES = ['sq-320.png', 'r-160x240.png', 'r-280x180.png'];

interface Instance { category_id: number; score: number; bbox: number[] }
const iou = (a: number[], b: number[]): number => {
  const ix = Math.max(0, Math.min(a[0]! + a[2]!, b[0]! + b[2]!) - Math.max(a[0]!, b[0]!));
  const iy = Math.max(0, Math.min(a[1]! + a[3]!, b[1]! + b[3]!) - Math.max(a[1]!, b[1]!));
  return (ix * iy) / (a[2]! * a[3]! + b[2]! * b[3]! - ix * iy);
};

describe('stock export of the default model (models/shapes-stock)', () => {
  let stock: FastifyInstance;
  let full: FastifyInstance;
  before(async () => {
    stock = await buildApp(testConfig({ MODEL_NAME: 'shapes-stock' }), { logger: false });
    full = await buildApp(testConfig({ WARMUP: 'false' }), { logger: false });
  });
  after(async () => { await stock.close(); await full.close(); });

  test('GET /models: format stock, losses unavailable with the reason', async () => {
    const res = await stock.inject('/models');
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    const m = Array.isArray(body) ? body[0] : (body.models?.[0] ?? body);
    assert.equal(m.format, 'stock');
    assert.equal(m.losses_available, false);
    assert.match(String(m.losses_unavailable_reason), /\S/);
  });

  test('/predict serves it: the same objects as the loss-capable graph (labels equal, box IoU > 0.98)', async () => {
    for (const file of FILES) {
      const img = readFileSync(join(FIX, 'images', file));
      const ask = (app: FastifyInstance) => app.inject({ method: 'POST', url: '/predict', headers: { 'content-type': 'image/png' }, payload: img });
      const [a, b] = await Promise.all([ask(stock), ask(full)]);
      assert.equal(a.statusCode, 200, a.body);
      assert.equal(b.statusCode, 200, b.body);
      const s = a.json().instances as Instance[];
      const f = b.json().instances as Instance[];
      assert.ok(f.length > 0, `${file}: the loss-capable graph finds objects`);
      assert.equal(s.length, f.length, `${file}: ${s.length} vs ${f.length} detections`);
      for (const d of f) {
        const best = s.filter((x) => x.category_id === d.category_id).reduce((m, x) => Math.max(m, iou(x.bbox, d.bbox)), 0);
        assert.ok(best > 0.98, `${file}: ${JSON.stringify(d.bbox)} best IoU ${best}`);
      }
      assert.equal(typeof a.json().instances[0].segmentation.counts, 'string');
    }
  });

  test('/evaluate (model mode): AP and the VOC table, losses null with losses_unavailable', async () => {
    const images = annotations.images.filter((i) => FILES.includes(i.file_name));
    const anns = JSON.parse(readFileSync(join(FIX, 'annotations.json'), 'utf8'));
    anns.images = images;
    anns.annotations = anns.annotations.filter((a: { image_id: number }) => images.some((i) => i.id === a.image_id));
    const { payload, headers } = multipart([
      ...FILES.map((f) => ({ name: 'image', filename: f, contentType: 'image/png', data: readFileSync(join(FIX, 'images', f)) })),
      { name: 'annotations', data: JSON.stringify(anns) },
    ]);
    const res = await stock.inject({ method: 'POST', url: '/evaluate', headers, payload });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.images, 3);
    assert.equal(body.losses, null);
    assert.match(String(body.losses_unavailable), /stock|loss/i);
    assert.equal(body.coco.bbox.stats.length, 12);
    assert.ok(body.coco.bbox.stats[1] > 0.9, `box AP50 ${body.coco.bbox.stats[1]}`);
    assert.ok(body.coco.segm.stats[1] > 0.9, `mask AP50 ${body.coco.segm.stats[1]}`);
    assert.ok(body.voc.mAP > 0.9, `VOC mAP ${body.voc.mAP}`);
  });
});
