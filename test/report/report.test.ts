/**
 * GET /evaluations/{id}/report: a model-mode job on 5 fixture images (real model), its report
 * fetched over HTTP (self-contained: no script, no external URL), its JSON variant (PR curves,
 * diagnosis, overlays), and the page opened in headless Chromium (test/e2e/tools.ts): the rendered
 * DOM has the per-class table, the PR-curve SVGs, the loss diagnosis and the overlay images; the
 * screenshot is kept as test-artifacts/report.png.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { buildApp } from '../../src/app.js';
import { listen, multipart, ROOT, testConfig } from '../helper.js';
import { CHROMIUM_BIN, runChromium, skipUnless } from '../e2e/tools.js';

const FIX = join(ROOT, 'test/fixtures/losses');
const ANNOTATIONS = readFileSync(join(FIX, 'annotations.json'), 'utf8');
const FILES = (JSON.parse(ANNOTATIONS) as { images: Array<{ file_name: string }> }).images.map((i) => i.file_name).slice(2, 7);

describe('evaluation report', () => {
  let app: FastifyInstance;
  let url: string;
  let id: string;
  before(async () => {
    app = await buildApp(testConfig({ WARMUP: 'false' }), { logger: false });
    url = await listen(app);
    const body = multipart([...FILES.map((f) => ({ name: 'image', filename: f, data: readFileSync(join(FIX, 'images', f)), contentType: 'image/png' })), { name: 'annotations', data: ANNOTATIONS }]);
    const res = await fetch(`${url}/evaluations`, { method: 'POST', headers: body.headers, body: body.payload });
    assert.equal(res.status, 202);
    id = ((await res.json()) as { id: string }).id;
    for (let i = 0; i < 1200; i++) {
      const j = (await (await fetch(`${url}/evaluations/${id}`)).json()) as { status: string; error: unknown };
      if (j.status === 'done') break;
      assert.ok(j.status === 'queued' || j.status === 'running', JSON.stringify(j));
      await sleep(250);
    }
  });
  after(() => app?.close());

  test('text/html, self-contained, with the table, PR curves, losses and overlays', async () => {
    const res = await fetch(`${url}/evaluations/${id}/report`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    const html = await res.text();
    assert.doesNotMatch(html, /<script|<link|https?:\/\/(?!www\.w3\.org\/2000\/svg)/i, 'no script, stylesheet link or external URL');
    assert.match(html, /<style>/);
    assert.match(html, /<table class="voc-table">/);
    assert.equal((html.match(/<svg xmlns="http:\/\/www.w3.org\/2000\/svg" class="pr"/g) ?? []).length, 4, 'bbox and segm × IoU 0.5 and 0.5:0.95');
    assert.match(html, /<polyline class="pr-curve"/);
    assert.match(html, /Average Precision {2}\(AP\) @\[ IoU=0.50:0.95/);
    assert.match(html, /<table class="loss-table">/);
    assert.match(html, /<h3>Diagnosis<\/h3>/);
    assert.equal((html.match(/<img alt="[^"]+" src="data:image\/png;base64,/g) ?? []).length, 3, 'three worst images');
  });

  test('Accept: application/json gives the data behind the page', async () => {
    const res = await fetch(`${url}/evaluations/${id}/report`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 200);
    const data = (await res.json()) as { pr_curves: Record<string, { recall_thresholds: number[]; classes: Array<{ iou_50: number[] | null }> }>; diagnosis: { flags: unknown[] } | null; worst_images: unknown[] };
    assert.equal(data.pr_curves.bbox!.recall_thresholds.length, 101);
    assert.equal(data.pr_curves.segm!.classes.length, 3);
    for (const c of data.pr_curves.bbox!.classes) if (c.iou_50) assert.equal(c.iou_50.length, 101);
    assert.ok(Array.isArray(data.diagnosis?.flags));
    assert.equal(data.worst_images.length, 3);
  });

  test('headless Chromium renders it (DOM checked, screenshot kept in test-artifacts/report.png)', { skip: skipUnless(CHROMIUM_BIN, 'chromium') }, async () => {
    const page = `${url}/evaluations/${id}/report`;
    const dom = await runChromium(page, ['--dump-dom', '--virtual-time-budget=3000']);
    assert.match(dom, /<table class="voc-table">/);
    assert.match(dom, /<svg[^>]*class="pr"/);
    assert.match(dom, /<polyline class="pr-curve"/);
    assert.match(dom, /Worst images/);
    assert.match(dom, /mAP/);
    mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
    const shot = join(ROOT, 'test-artifacts', 'report.png');
    await runChromium(page, [`--screenshot=${shot}`, '--window-size=1280,2000', '--virtual-time-budget=3000']);
    const meta = await sharp(shot).metadata();
    assert.equal(meta.format, 'png');
    assert.equal(meta.width, 1280);
    // a rendered page is not blank: many distinct colours
    const { data } = await sharp(shot).resize(64, 100).raw().toBuffer({ resolveWithObject: true });
    assert.ok(new Set(Array.from({ length: data.length / 3 }, (_, i) => (data[3 * i]! << 16) | (data[3 * i + 1]! << 8) | data[3 * i + 2]!)).size > 20);
  });

  test('detections-mode report: no overlays, losses explained as absent', async () => {
    const gt = { images: [{ id: 1, file_name: 'a.png', width: 100, height: 80 }], categories: [{ id: 1, name: 'square' }], annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [10, 10, 20, 20], area: 400, iscrowd: 0 }] };
    const res = await app.inject({ method: 'POST', url: '/evaluations', payload: { ground_truth: gt, detections: [{ image_id: 1, category_id: 1, bbox: [10, 10, 20, 20], score: 0.9 }] } });
    const jid = res.json().id as string;
    for (let i = 0; i < 100 && (await app.inject({ url: `/evaluations/${jid}` })).json().status !== 'done'; i++) await sleep(50);
    const html = (await app.inject({ url: `/evaluations/${jid}/report` })).body;
    assert.match(html, /No losses: detections mode/);
    assert.doesNotMatch(html, /Worst images/);
    assert.match(html, /class="pr"/);
  });
});
