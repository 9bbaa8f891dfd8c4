/**
 * GET /evaluations/{id}/report: a model-mode job on 5 fixture images (real model), its report
 * fetched over HTTP (self-contained: no external script, stylesheet or image — the chart library
 * and the charts' data are inline), and its JSON variant (PR curves, diagnosis, overlays), whose
 * `pr_curves` are exactly the data the page's charts are drawn from. The page itself is opened in
 * headless Chromium by test/e2e/pages.test.ts (charts' data read back from Chart.js).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { chartLibrary } from '../../src/ui/assets.js';
import { listen, multipart, ROOT, testConfig } from '../helper.js';

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
    assert.doesNotMatch(html, /<script[^>]*\ssrc=|\s(?:src|href)="(?!data:|#)/i, 'no external script, stylesheet, image or link (data: URIs only)');
    assert.match(html, /<style>/);
    assert.match(html, /<table class="voc-table">/);
    assert.equal((html.match(/<canvas id="pr-(?:bbox|segm)-iou_50(?:_95)?"/g) ?? []).length, 4, 'bbox and segm × IoU 0.5 and 0.5:0.95');
    assert.ok(html.includes(chartLibrary().js), 'Chart.js is inlined');
    const data = JSON.parse(/<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(html)![1]!) as { pr_curves: unknown };
    const json = await (await fetch(`${url}/evaluations/${id}/report`, { headers: { accept: 'application/json' } })).json() as { pr_curves: unknown };
    assert.deepEqual(data.pr_curves, json.pr_curves, 'the charts are drawn from the JSON data');
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

  test('detections-mode report: no overlays, losses explained as absent', async () => {
    const gt = { images: [{ id: 1, file_name: 'a.png', width: 100, height: 80 }], categories: [{ id: 1, name: 'square' }], annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [10, 10, 20, 20], area: 400, iscrowd: 0 }] };
    const res = await app.inject({ method: 'POST', url: '/evaluations', payload: { ground_truth: gt, detections: [{ image_id: 1, category_id: 1, bbox: [10, 10, 20, 20], score: 0.9 }] } });
    const jid = res.json().id as string;
    for (let i = 0; i < 100 && (await app.inject({ url: `/evaluations/${jid}` })).json().status !== 'done'; i++) await sleep(50);
    const html = (await app.inject({ url: `/evaluations/${jid}/report` })).body;
    assert.match(html, /No losses: detections mode/);
    assert.doesNotMatch(html, /Worst images/);
    assert.match(html, /<canvas id="pr-bbox-iou_50"/);
  });
});
