/**
 * Quality data made through the API of a real app, for the dashboard, the deploy files' checks and
 * the browser tests: /predict traffic (drift histograms), a reference pinned from the first
 * predictions and more predictions of other images (so the PSI is not 0), a registered dataset of
 * fixture images and two finished evaluations of it (history, series, comparison, the
 * `mrcnn_dataset_*` gauges).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { multipart, shapesImage } from '../helper.js';
import { ROOT } from './service.js';

const FIX = join(ROOT, 'test', 'fixtures', 'losses');

export interface QualityData {
  datasetId: string;
  /** Oldest first. */
  evaluations: string[];
  predictions: number;
}

const png = (file: string): Buffer => readFileSync(join(FIX, 'images', file));

async function predict(app: FastifyInstance, image: Buffer): Promise<void> {
  const res = await app.inject({ method: 'POST', url: '/predict?mask_format=none', headers: { 'content-type': 'image/png' }, payload: image });
  assert.equal(res.statusCode, 200, res.body);
}

/** Waits for a job to be done (fails on failed/cancelled). */
export async function waitDone(app: FastifyInstance, id: string): Promise<void> {
  for (let i = 0; i < 2400; i++) {
    const j = (await app.inject({ url: `/evaluations/${id}` })).json() as { status: string; error: unknown };
    if (j.status === 'done') return;
    assert.ok(j.status === 'queued' || j.status === 'running', `job ${id}: ${JSON.stringify(j)}`);
    await sleep(100);
  }
  throw new Error(`job ${id} not done in time`);
}

/** Makes the data (see the file header). `images`: dataset size (fixture images, small first). */
export async function seedQualityData(app: FastifyInstance, opts: { images?: number } = {}): Promise<QualityData> {
  const coco = JSON.parse(readFileSync(join(FIX, 'annotations.json'), 'utf8')) as {
    images: Array<{ id: number; file_name: string }>; annotations: Array<{ image_id: number }>; categories: unknown[];
  };
  // drift: a reference of small fixture images (≤ 256² pixels), then larger ones made here
  const refFiles = ['sq-233.png', 'sq-256.png', 'r-160x240.png'];
  for (const f of refFiles) await predict(app, png(f));
  const pin = await app.inject({ method: 'POST', url: '/drift/reference', payload: { last: refFiles.length } });
  assert.equal(pin.statusCode, 201, pin.body);
  const later = [[640, 480], [600, 400]] as const;
  for (const [w, h] of later) await predict(app, await shapesImage(w, h));

  const n = opts.images ?? 3;
  const images = coco.images.filter((im) => ['r-160x240.png', 'sq-233.png', 'r-202x154.png', 'sq-256.png', 'r-300x128.png'].includes(im.file_name)).slice(0, n);
  const ids = new Set(images.map((im) => im.id));
  const body = multipart([
    { name: 'name', data: `golden-${Date.now().toString(36)}` },
    ...images.map((im) => ({ name: 'image', filename: im.file_name, data: png(im.file_name), contentType: 'image/png' })),
    { name: 'annotations', data: JSON.stringify({ images, annotations: coco.annotations.filter((a) => ids.has(a.image_id)), categories: coco.categories }) },
  ]);
  const created = await app.inject({ method: 'POST', url: '/datasets', headers: body.headers, payload: body.payload });
  assert.equal(created.statusCode, 201, created.body);
  const datasetId = (created.json() as { id: string }).id;
  const evaluations: string[] = [];
  for (let k = 0; k < 2; k++) {
    const res = await app.inject({ method: 'POST', url: '/evaluations', payload: { dataset_id: datasetId } });
    assert.equal(res.statusCode, 202, res.body);
    const id = (res.json() as { id: string }).id;
    await waitDone(app, id);
    evaluations.push(id);
  }
  await (app as unknown as { history?: { refreshMetrics(): Promise<void> } }).history?.refreshMetrics();
  return { datasetId, evaluations, predictions: refFiles.length + later.length };
}
