/**
 * GET /drift, POST and DELETE /drift/reference on the real app (real model, SQLite store in a temp
 * DATA_DIR): what /predict answers is what the window counts (score floor, score_threshold above
 * the floor not counted), live and evaluation references with hand-checked class mixes, PSI and its
 * gauge, bad input naming the field, the reference surviving a restart on the same store, the
 * Prometheus series carrying only the manifest's names, and the evaluation of another token not
 * pinnable. Over inject and a real listening server.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import fc from 'fast-check';
import { buildApp } from '../../src/app.js';
import { psi } from '../../src/drift/stats.js';
import { parseSamples } from '../metrics/exposition.js';
import { assertError, listen, shapesImage, testConfig, testDataDir } from '../helper.js';
import { bearer, token, writeTokensFile } from '../auth/support.js';
import { waitDone } from '../e2e/quality-data.js';

interface Hist { bins: string[]; counts: number[] }
interface Report {
  model: string; version: string; classes: string[]; score_floor: number;
  current: { images: number; observed: number; histograms: Record<string, Hist> };
  reference: { images: number; source: { kind: string; evaluation_id?: string }; histograms: Record<string, Hist> } | null;
  psi: Record<string, number | null>;
  level: Record<string, string | null>;
}
interface Inst { label: string; score: number; area: number }

describe('drift routes', () => {
  let app: FastifyInstance;
  const dataDir = testDataDir();
  const env = { WARMUP: 'false', DRIFT_MIN_IMAGES: '2', DATA_DIR: dataDir };
  const counted: Inst[][] = [];
  let manifest: { name: string; version: string; classes: string[] };

  const predict = async (img: Buffer, query = ''): Promise<Inst[]> => {
    const res = await app.inject({ method: 'POST', url: `/predict?mask_format=none${query}`, headers: { 'content-type': 'image/png' }, payload: img });
    assert.equal(res.statusCode, 200, res.body);
    return (res.json() as { instances: Inst[] }).instances;
  };
  const drift = async (url = '/drift'): Promise<Report> => {
    const res = await app.inject({ url });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as Report;
  };

  before(async () => {
    app = await buildApp(testConfig(env), { logger: false });
    manifest = app.models.default.files!.manifest as typeof manifest;
  });
  after(() => app?.close());

  test('an empty window: no reference, no PSI; nothing to pin yet (409)', async () => {
    const r = await drift();
    assert.equal(r.model, manifest.name);
    assert.equal(r.version, manifest.version);
    assert.deepEqual(r.classes, manifest.classes);
    assert.equal(r.current.images, 0);
    assert.equal(r.reference, null);
    assert.ok(Object.values(r.psi).every((v) => v === null));
    assertError(await app.inject({ method: 'POST', url: '/drift/reference', payload: {} }), 409, 'MRC_ERR_DRIFT_NO_DATA', 'body');
    assertError(await app.inject({ method: 'DELETE', url: '/drift/reference' }), 404, 'MRC_ERR_DRIFT_NO_REFERENCE');
  });

  test('the window counts what /predict answered at score ≥ 0.5; a threshold above 0.5 is not counted', async () => {
    const a = await shapesImage(256, 192);
    counted.push((await predict(a)));
    // a low threshold: the answer has more, the window counts those ≥ 0.5
    const low = await predict(await shapesImage(200, 200), '&score_threshold=0.01');
    counted.push(low.filter((i) => i.score >= 0.5));
    await predict(a, '&score_threshold=0.9'); // not counted
    const r = await drift();
    assert.equal(r.current.images, 2);
    assert.equal(r.current.observed, 2);
    const all = counted.flat();
    assert.deepEqual(r.current.histograms.class_mix!.counts, manifest.classes.map((c) => all.filter((i) => i.label === c).length));
    assert.equal(r.current.histograms.score!.counts.reduce((s, c) => s + c, 0), all.length);
    assert.deepEqual(r.current.histograms.detections_per_image!.counts.reduce((s, c) => s + c, 0), 2);
    assert.deepEqual(r.current.histograms.image_size!.counts.slice(0, 2), [0, 2], '49152 and 40000 pixels: the bin of ≤ 65536');
  });

  test('the per-model route feeds the same window (one hook on the predict path)', async () => {
    const before = (await drift()).current.observed;
    const res = await app.inject({ method: 'POST', url: '/models/shapes/predict?mask_format=none', headers: { 'content-type': 'image/png' }, payload: await shapesImage(200, 160) });
    assert.equal(res.statusCode, 200, res.body);
    counted.push((res.json() as { instances: Inst[] }).instances.filter((i) => i.score >= 0.5));
    assert.equal((await drift()).current.observed, before + 1);
  });

  test('any JSON body to POST /drift/reference gets 201 or a 4xx, never a 5xx', async () => {
    await fc.assert(fc.asyncProperty(fc.jsonValue(), async (body) => {
      const res = await app.inject({ method: 'POST', url: '/drift/reference', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });
      assert.ok(res.statusCode === 201 || (res.statusCode >= 400 && res.statusCode < 500), `${res.statusCode} for ${JSON.stringify(body)}: ${res.body}`);
    }), { numRuns: 60 });
    await app.inject({ method: 'DELETE', url: '/drift/reference' }); // a fuzzed {} may have pinned one
  });

  test('bad input names the field', async () => {
    const pin = (payload: unknown) => app.inject({ method: 'POST', url: '/drift/reference', payload: payload as object });
    const id = '3f2b8c1e-7d4a-4e8b-9a51-0c6f2d9e1b7a';
    assertError(await pin({ evaluation_id: id, dataset_id: id }), 400, 'MRC_ERR_VALIDATION', 'body.dataset_id');
    assertError(await pin({ evaluation_id: id, last: 3 }), 400, 'MRC_ERR_VALIDATION', 'body.last');
    assert.equal((await pin({ window: '5 minutes' })).statusCode, 400);
    assert.equal((await pin({ last: 0 })).statusCode, 400);
    assertError(await pin({ model: 'no-such-model' }), 404, 'MRC_ERR_MODEL_NOT_FOUND', 'body.model');
    assertError(await app.inject({ url: '/drift?model=no-such-model' }), 404, 'MRC_ERR_MODEL_NOT_FOUND', 'querystring.model');
    assertError(await pin({ evaluation_id: id }), 404, 'MRC_ERR_JOB_NOT_FOUND', 'body.evaluation_id');
    assertError(await pin({ dataset_id: id }), 409, 'MRC_ERR_DRIFT_NO_DATA');
  });

  test('a live reference of the last image; PSI against it and its gauge', async () => {
    const res = await app.inject({ method: 'POST', url: '/drift/reference', payload: { model: manifest.name, last: 1 } });
    assert.equal(res.statusCode, 201, res.body);
    const ref = res.json() as NonNullable<Report['reference']>;
    assert.equal(ref.images, 1);
    assert.equal(ref.source.kind, 'live');
    const last = counted.at(-1)!;
    assert.deepEqual(ref.histograms.class_mix!.counts, manifest.classes.map((c) => last.filter((i) => i.label === c).length));
    const r = await drift(`/drift?model=${encodeURIComponent(manifest.name)}&version=${encodeURIComponent(manifest.version)}`);
    assert.deepEqual(r.reference!.histograms, ref.histograms);
    for (const f of Object.keys(r.psi)) {
      assert.equal(r.psi[f], psi(ref.histograms[f]!.counts, r.current.histograms[f]!.counts), f);
    }
    assert.equal(r.psi.image_size, 0, 'both images in the same size bin');
    const samples = parseSamples((await app.inject({ url: '/metrics' })).body);
    const gauge = samples.filter((s) => s.name === 'mrcnn_drift_psi');
    assert.equal(gauge.length, 5);
    for (const g of gauge) {
      assert.deepEqual([g.labels.model, g.labels.version], [manifest.name, manifest.version]);
      assert.equal(g.value, r.psi[g.labels.feature!], g.labels.feature);
    }
    assert.equal(samples.find((s) => s.name === 'mrcnn_drift_reference_images')?.value, 1);
    for (const s of samples.filter((x) => x.name === 'mrcnn_drift_detections_total')) assert.ok(manifest.classes.includes(s.labels.class!), s.labels.class);
  });

  test('a reference from a finished detections-mode evaluation: the class mix of its detections ≥ 0.5', async () => {
    const gt = {
      images: [{ id: 1, file_name: 'a.png', width: 100, height: 100 }, { id: 2, file_name: 'b.png', width: 100, height: 100 }, { id: 3, file_name: 'c.png', width: 50, height: 50 }],
      categories: [{ id: 1, name: 'square' }, { id: 2, name: 'circle' }, { id: 7, name: 'not-a-model-class' }],
      annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [10, 10, 20, 20], area: 400, iscrowd: 0 }],
    };
    const dets = [
      { image_id: 1, category_id: 1, bbox: [10, 10, 20, 20], score: 0.9 },
      { image_id: 1, category_id: 2, bbox: [40, 40, 20, 20], score: 0.6 },
      { image_id: 2, category_id: 1, bbox: [10, 10, 20, 20], score: 0.95 },
      { image_id: 2, category_id: 1, bbox: [50, 50, 20, 20], score: 0.3 }, // under the floor
      { image_id: 2, category_id: 7, bbox: [60, 10, 20, 20], score: 0.99 }, // not a class of the model
    ];
    const job = await app.inject({ method: 'POST', url: '/evaluations', payload: { ground_truth: gt, detections: dets } });
    assert.equal(job.statusCode, 202, job.body);
    const id = (job.json() as { id: string }).id;
    await waitDone(app, id);
    const res = await app.inject({ method: 'POST', url: '/drift/reference', payload: { evaluation_id: id } });
    assert.equal(res.statusCode, 201, res.body);
    const ref = res.json() as NonNullable<Report['reference']>;
    assert.deepEqual(ref.source.kind, 'evaluation');
    assert.equal(ref.source.evaluation_id, id);
    assert.equal(ref.images, 3, 'every image of the set, those without detections too');
    assert.deepEqual(ref.histograms.class_mix!.bins, manifest.classes);
    assert.deepEqual(ref.histograms.class_mix!.counts, manifest.classes.map((c) => ({ square: 2, circle: 1 } as Record<string, number>)[c] ?? 0));
    // detections per image (≥ 0.5): 2, 2, 0
    const dpi = ref.histograms.detections_per_image!;
    assert.deepEqual([dpi.counts[dpi.bins.indexOf('0')], dpi.counts[dpi.bins.indexOf('2')]], [1, 2]);
    assert.equal(ref.histograms.mask_area!.counts.reduce((s, c) => s + c, 0), 0, 'no areas in these detections');
  });

  test('the reference is kept in the store: a restarted app on the same DATA_DIR compares with it; DELETE removes it', async () => {
    const before = await drift();
    await app.close();
    app = await buildApp(testConfig(env), { logger: false });
    const url = await listen(app);
    const res = await fetch(`${url}/drift`);
    assert.equal(res.status, 200);
    const r = await res.json() as Report;
    assert.deepEqual(r.reference, before.reference);
    assert.equal(r.current.images, 0, 'the window is per process');
    const del = await fetch(`${url}/drift/reference`, { method: 'DELETE' });
    assert.equal(del.status, 204);
    assert.equal((await drift()).reference, null);
  });
});

describe('drift with access control', () => {
  let app: FastifyInstance;
  const alice = token('alice', ['inference', 'evaluate']);
  const bob = token('bob', ['inference', 'evaluate']);
  const viewer = token('viewer', ['inference']);
  before(async () => {
    app = await buildApp(testConfig({ WARMUP: 'false', TOKENS_FILE: writeTokensFile([alice, bob, viewer]) }), { logger: false });
  });
  after(() => app?.close());

  test('scopes: GET /drift needs inference, pinning needs evaluate; another token\'s evaluation is not found', async () => {
    assert.equal((await app.inject({ url: '/drift' })).statusCode, 401);
    assert.equal((await app.inject({ url: '/drift', headers: bearer(viewer) })).statusCode, 200);
    assert.equal((await app.inject({ method: 'POST', url: '/drift/reference', headers: bearer(viewer), payload: {} })).statusCode, 403);
    assert.equal((await app.inject({ url: '/dashboard' })).statusCode, 200, 'the page itself is public');
    const gt = { images: [{ id: 1, file_name: 'a.png', width: 64, height: 64 }], categories: [{ id: 1, name: 'square' }], annotations: [] };
    const job = await app.inject({ method: 'POST', url: '/evaluations', headers: bearer(alice), payload: { ground_truth: gt, detections: [{ image_id: 1, category_id: 1, bbox: [1, 1, 9, 9], score: 0.8 }] } });
    assert.equal(job.statusCode, 202, job.body);
    const id = (job.json() as { id: string }).id;
    let status = '';
    for (let i = 0; i < 1200 && status !== 'done'; i++) {
      status = ((await app.inject({ url: `/evaluations/${id}`, headers: bearer(alice) })).json() as { status: string }).status;
      if (status !== 'done') await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(status, 'done');
    assertError(await app.inject({ method: 'POST', url: '/drift/reference', headers: bearer(bob), payload: { evaluation_id: id } }), 404, 'MRC_ERR_JOB_NOT_FOUND');
    assert.equal((await app.inject({ method: 'POST', url: '/drift/reference', headers: bearer(alice), payload: { evaluation_id: id } })).statusCode, 201);
  });
});
