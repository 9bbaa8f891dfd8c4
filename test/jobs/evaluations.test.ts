/**
 * Evaluation jobs (/evaluations) on the real model and the SQLite store: a model-mode job over the
 * fixture images of test/fixtures/losses reaches done with the same COCO/VOC blocks and mean
 * losses as one POST /evaluate over the same images; detections mode equals /evaluate too; cancel
 * (queued and running); limits (429); bad inputs are 4xx in the common error shape with `field`;
 * uploads leave no temp dir once the job is committed to the store; job metrics are exported.
 * Waits are for states (polling the job), never for an amount of time.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { assertError, multipart, ROOT, testConfig, type Part } from '../helper.js';

const FIX = join(ROOT, 'test/fixtures/losses');
const ANNOTATIONS = readFileSync(join(FIX, 'annotations.json'), 'utf8');
const FILES = (JSON.parse(ANNOTATIONS) as { images: Array<{ file_name: string }> }).images.map((i) => i.file_name);
const imagePart = (f: string): Part => ({ name: 'image', filename: f, data: readFileSync(join(FIX, 'images', f)), contentType: 'image/png' });
const modelBody = (files: string[]) => multipart([...files.map(imagePart), { name: 'annotations', data: ANNOTATIONS, filename: 'annotations.json', contentType: 'application/json' }]);

const GT = {
  images: [{ id: 1, file_name: 'a.png', width: 100, height: 80 }, { id: 2, file_name: 'b.png', width: 100, height: 80 }],
  categories: [{ id: 1, name: 'square' }, { id: 2, name: 'circle' }],
  annotations: [
    { id: 1, image_id: 1, category_id: 1, bbox: [10, 10, 20, 20], area: 400, iscrowd: 0 },
    { id: 2, image_id: 1, category_id: 2, bbox: [50, 30, 30, 30], area: 900, iscrowd: 0 },
    { id: 3, image_id: 2, category_id: 1, bbox: [5, 5, 40, 40], area: 1600, iscrowd: 0 },
  ],
};
const DETS = [
  { image_id: 1, category_id: 1, bbox: [11, 10, 20, 20], score: 0.9 },
  { image_id: 1, category_id: 2, bbox: [10, 50, 20, 20], score: 0.8 },
  { image_id: 2, category_id: 1, bbox: [6, 4, 40, 41], score: 0.7 },
];

describe('evaluation jobs', () => {
  let app: FastifyInstance;
  const tmpRoot = mkdtempSync(join(tmpdir(), 'mrcnn-jobs-test-'));
  before(async () => {
    app = await buildApp(testConfig({ WARMUP: 'false', JOBS_MAX_CONCURRENT: '1', JOBS_MAX_QUEUED: '1' }), { logger: false, jobs: { tmpRoot } });
  });
  after(async () => {
    await app.close();
    rmSync(tmpRoot, { recursive: true, force: true });
  });

  const get = async (id: string) => (await app.inject({ method: 'GET', url: `/evaluations/${id}` })).json();
  /** Polls the job until `pred` holds (the test's own timeout bounds it). */
  async function waitFor(id: string, pred: (j: Record<string, any>) => boolean): Promise<Record<string, any>> {
    for (;;) {
      const j = await get(id);
      if (pred(j)) return j;
      await sleep(50);
    }
  }
  /** Until the job ended (finished_at set: a cancelled running job has stopped too). */
  const waitDone = (id: string): Promise<Record<string, any>> => waitFor(id, (j) => j.finished_at !== null);

  test('model mode: every fixture image → done; same COCO, VOC and mean losses as one POST /evaluate', async () => {
    const { payload, headers } = modelBody(FILES);
    const res = await app.inject({ method: 'POST', url: '/evaluations', payload, headers });
    assert.equal(res.statusCode, 202, res.body);
    const acc = res.json();
    assert.match(acc.id, /^[0-9a-f-]{36}$/);
    assert.equal(res.headers.location, `/evaluations/${acc.id}`);
    assert.deepEqual(acc.links, { self: `/evaluations/${acc.id}`, report: `/evaluations/${acc.id}/report`, cancel: `/evaluations/${acc.id}` });
    assert.equal(readdirSync(tmpRoot).length, 0, 'the upload temp dir is gone: the images are in the store');
    assert.equal(((await app.jobs.store.getJobInput(acc.id)) as { annotations: { images: unknown[] } }).annotations.images.length, FILES.length);
    let job = await waitFor(acc.id, (j) => j.finished_at !== null || (j.status === 'running' && j.progress.images_done > 0));
    if (job.finished_at === null) {
      assert.equal(job.progress.images_total, FILES.length);
      assert.equal(typeof job.progress.eta_seconds, 'number');
    }
    job = await waitDone(acc.id);
    assert.equal(job.status, 'done', JSON.stringify(job.error));
    assert.ok(job.started_at !== null && job.started_at <= job.finished_at);
    assert.deepEqual(job.progress, { phase: 'finished', images_done: FILES.length, images_total: FILES.length, fraction: 1, eta_seconds: null });
    assert.equal(typeof job.expires_at, 'string');

    const one = await app.inject({ method: 'POST', url: '/evaluate', ...modelBody(FILES) });
    assert.equal(one.statusCode, 200, one.body);
    const ref = one.json();
    const r = job.result;
    assert.equal(r.images, FILES.length);
    assert.deepEqual(r.coco, ref.coco);
    assert.equal(r.coco.bbox.stats.length, 12);
    assert.deepEqual(r.voc, ref.voc);
    assert.deepEqual(r.counts, ref.counts);
    assert.deepEqual(r.losses.mean, ref.losses.mean);
    assert.deepEqual(r.losses.per_image, ref.losses.per_image);
    assert.deepEqual(r.warnings, ref.warnings);

    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    assert.match(metrics, /mrcnn_eval_jobs\{status="done"\} 1/);
    assert.match(metrics, /mrcnn_eval_jobs_finished_total\{status="done"\} 1/);
    assert.match(metrics, /mrcnn_eval_job_duration_seconds_count\{status="done"\} 1/);
  });

  test('detections mode: the job equals POST /evaluate', async () => {
    const payload = { ground_truth: GT, detections: DETS };
    const res = await app.inject({ method: 'POST', url: '/evaluations?voc_mode=11points', payload });
    assert.equal(res.statusCode, 202, res.body);
    const job = await waitDone(res.json().id);
    assert.equal(job.status, 'done');
    const ref = (await app.inject({ method: 'POST', url: '/evaluate?voc_mode=11points', payload })).json();
    assert.deepEqual(job.result.coco, ref.coco);
    assert.deepEqual(job.result.voc, ref.voc);
    assert.equal(job.result.losses, null);
    assert.deepEqual(job.progress.images_total, 2);
  });

  test('cancel: a queued job at once, a running one before its next image; 429 when every slot is taken', async () => {
    const a = (await app.inject({ method: 'POST', url: '/evaluations', ...modelBody(FILES) })).json();
    const b = (await app.inject({ method: 'POST', url: '/evaluations', ...modelBody(FILES.slice(0, 2)) })).json();
    assertError(await app.inject({ method: 'POST', url: '/evaluations', payload: { ground_truth: GT, detections: DETS } }), 429, 'MRC_ERR_TOO_MANY_JOBS', null);
    const cb = await app.inject({ method: 'DELETE', url: `/evaluations/${b.id}` });
    assert.equal(cb.statusCode, 200);
    assert.equal(cb.json().status, 'cancelled');
    await waitFor(a.id, (j) => j.progress.images_done >= 1);
    const ca = await app.inject({ method: 'DELETE', url: `/evaluations/${a.id}` });
    assert.equal(ca.json().status, 'cancelled', 'cancelled at once');
    const doneAtCancel = ca.json().progress.images_done;
    const later = await waitDone(a.id); // the runner stopped
    assert.equal(later.status, 'cancelled');
    assert.ok(later.progress.images_done <= doneAtCancel + 1, `stopped between images (${later.progress.images_done})`);
    assert.ok(later.progress.images_done < FILES.length);
    assert.equal(later.result, null);
    assertError(await app.inject({ method: 'GET', url: `/evaluations/${a.id}/report` }), 409, 'MRC_ERR_JOB_NOT_DONE', 'params.id');
    // deleting a finished job forgets it
    assert.equal((await app.inject({ method: 'DELETE', url: `/evaluations/${a.id}` })).statusCode, 200);
    assertError(await app.inject({ method: 'GET', url: `/evaluations/${a.id}` }), 404, 'MRC_ERR_JOB_NOT_FOUND', 'params.id');
    assert.equal(readdirSync(tmpRoot).length, 0);
  });

  test('BAD INPUT - 4xx in the common error shape, naming the field', async () => {
    assertError(await app.inject({ method: 'GET', url: '/evaluations/00000000-0000-4000-8000-000000000000' }), 404, 'MRC_ERR_JOB_NOT_FOUND', 'params.id');
    assertError(await app.inject({ method: 'GET', url: '/evaluations/nope' }), 400, 'MRC_ERR_VALIDATION', 'params.id');
    assertError(await app.inject({ method: 'DELETE', url: '/evaluations/00000000-0000-4000-8000-000000000000' }), 404, 'MRC_ERR_JOB_NOT_FOUND', 'params.id');
    assertError(await app.inject({ method: 'POST', url: '/evaluations', payload: { ground_truth: GT } }), 400, 'MRC_ERR_VALIDATION', 'body.detections');
    const badGt = { ...GT, annotations: [{ ...GT.annotations[0], bbox: [1, 2, 3] }] };
    const e = assertError(await app.inject({ method: 'POST', url: '/evaluations', payload: { ground_truth: badGt, detections: [] } }), 422, 'MRC_ERR_INVALID_INPUT');
    assert.match(String(e.field), /^body\.ground_truth\.annotations\[0\]\.bbox/);
    assertError(await app.inject({ method: 'POST', url: '/evaluations', payload: { ground_truth: GT, detections: [{ image_id: 99, category_id: 1, bbox: [0, 0, 1, 1], score: 1 }] } }), 422, 'MRC_ERR_INVALID_INPUT', 'body.detections[0].image_id');
    assertError(await app.inject({ method: 'POST', url: '/evaluations?voc_iou_thr=2', payload: { ground_truth: GT, detections: [] } }), 400, 'MRC_ERR_VALIDATION', 'querystring.voc_iou_thr');
    assertError(await app.inject({ method: 'POST', url: '/evaluations', headers: { 'content-type': 'text/plain' }, payload: 'x' }), 415, 'MRC_ERR_UNSUPPORTED_MEDIA_TYPE');
    assertError(await app.inject({ method: 'POST', url: '/evaluations', ...multipart([imagePart(FILES[0]!)]) }), 400, 'MRC_ERR_MULTIPART', 'annotations');
    assertError(await app.inject({ method: 'POST', url: '/evaluations', ...multipart([{ name: 'annotations', data: ANNOTATIONS }]) }), 400, 'MRC_ERR_MULTIPART', 'image');
    assertError(await app.inject({ method: 'POST', url: '/evaluations', ...multipart([{ ...imagePart(FILES[0]!), filename: 'other.png' }, { name: 'annotations', data: ANNOTATIONS }]) }), 422, 'MRC_ERR_INVALID_INPUT', 'image[0]');
    assertError(await app.inject({ method: 'POST', url: '/evaluations', ...multipart([imagePart(FILES[0]!), { name: 'annotations', data: '{"images": [' }]) }), 400, 'MRC_ERR_INVALID_JSON', 'annotations');
    assertError(await app.inject({ method: 'POST', url: '/evaluations', ...multipart([imagePart(FILES[0]!), { name: 'annotations', data: ANNOTATIONS }, { name: 'extra', data: 'x' }]) }), 400, 'MRC_ERR_MULTIPART', 'extra');
    // a corrupt image fails the job (not the request): the job says why
    const corrupt = { ...imagePart(FILES[0]!), data: readFileSync(join(FIX, 'images', FILES[0]!)).subarray(0, 200) };
    const res = await app.inject({ method: 'POST', url: '/evaluations', ...multipart([corrupt, { name: 'annotations', data: ANNOTATIONS }]) });
    assert.equal(res.statusCode, 202);
    const failed = await waitDone(res.json().id);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.error.code, 'MRC_ERR_IMAGE_DECODE');
    assert.equal(failed.error.field, 'image[0]');
    assert.equal(failed.error.statusCode, 422);
    assert.equal(readdirSync(tmpRoot).length, 0, 'no temp dir left behind');
  });
});

describe('evaluation job upload limits', () => {
  let app: FastifyInstance;
  const tmpRoot = mkdtempSync(join(tmpdir(), 'mrcnn-jobs-limits-'));
  // limits from the fixture sizes: images under 1 KiB except sq-320.png; the upload cap lets
  // empty-128.png + the annotations through, not r-116x197.png on top
  const size = (f: string): number => statSync(join(FIX, 'images', f)).size;
  const annotations = Buffer.byteLength(ANNOTATIONS);
  const maxUpload = annotations + size('empty-128.png') + Math.floor(size('r-116x197.png') / 2);
  before(async () => {
    assert.ok(size('sq-320.png') > 1024 && ['empty-128.png', 'r-116x197.png', 'wide-96x518.png'].every((f) => size(f) <= 1024));
    app = await buildApp(testConfig({ WARMUP: 'false', BODY_LIMIT: '1024', JOBS_MAX_IMAGES: '2', JOBS_MAX_UPLOAD: String(maxUpload) }), { logger: false, jobs: { tmpRoot } });
  });
  after(async () => {
    await app.close();
    rmSync(tmpRoot, { recursive: true, force: true });
  });

  test('BAD INPUT - BODY_LIMIT per image, JOBS_MAX_IMAGES, JOBS_MAX_UPLOAD → 413 naming the part; nothing left on disk', async () => {
    assertError(await app.inject({ method: 'POST', url: '/evaluations', ...modelBody(['empty-128.png', 'sq-320.png']) }), 413, 'MRC_ERR_PAYLOAD_TOO_LARGE', 'image[1]');
    assertError(await app.inject({ method: 'POST', url: '/evaluations', ...modelBody(['empty-128.png', 'r-116x197.png', 'wide-96x518.png']) }), 413, 'MRC_ERR_PAYLOAD_TOO_LARGE', 'image[2]');
    assertError(await app.inject({ method: 'POST', url: '/evaluations', ...modelBody(['empty-128.png', 'r-116x197.png']) }), 413, 'MRC_ERR_PAYLOAD_TOO_LARGE', 'annotations');
    assert.equal(readdirSync(tmpRoot).length, 0, 'refused uploads leave nothing on disk');
    const res = await app.inject({ method: 'POST', url: '/evaluations', ...modelBody(['empty-128.png']) });
    assert.equal(res.statusCode, 202, res.body);
    const id = res.json().id as string;
    let job = (await app.inject({ url: `/evaluations/${id}` })).json();
    while (job.finished_at === null) {
      await sleep(50);
      job = (await app.inject({ url: `/evaluations/${id}` })).json();
    }
    assert.equal(job.status, 'done', JSON.stringify(job.error));
    assert.equal(job.result.images, 1);
    assert.equal(readdirSync(tmpRoot).length, 0);
  });
});
