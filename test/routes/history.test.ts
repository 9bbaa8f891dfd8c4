/**
 * Datasets, history and comparison on the real model and the SQLite store (inject, plus one real
 * listening server): POST /datasets checks its inputs like a model-mode job (4xx naming the field),
 * a dataset evaluation (POST /evaluations {dataset_id}) reads the dataset's images from the store and
 * is listed in the history with its summary (the same AP as its result), the series and the
 * comparison of two evaluations of the same model (identical records: every delta 0 with a
 * zero-width interval), baseline and schedule settings, the dataset gauges in /metrics, and the
 * deletion (refused while an evaluation runs; then the history and the series are gone).
 * The same flow on PostgreSQL (the distributed queue). Waits are for states (polling), never for an amount of time.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { postgresUnavailableReason, startPostgres } from '../support/postgres.js';
import { assertError, listen, multipart, ROOT, testConfig, type Part } from '../helper.js';

const FIX = join(ROOT, 'test/fixtures/losses');
const ALL = JSON.parse(readFileSync(join(FIX, 'annotations.json'), 'utf8')) as { images: Array<{ id: number; file_name: string }>; annotations: unknown[]; categories: unknown[] };
const FILES = ['sq-256.png', 'r-202x154.png', 'r-160x240.png', 'empty-128.png'];
const ANNOTATIONS = JSON.stringify(ALL);
const imagePart = (f: string): Part => ({ name: 'image', filename: f, data: readFileSync(join(FIX, 'images', f)), contentType: 'image/png' });
const text = (name: string, data: string): Part => ({ name, data });
const annotationsPart = (data = ANNOTATIONS): Part => ({ name: 'annotations', data, filename: 'annotations.json', contentType: 'application/json' });

describe('datasets, history and comparison', () => {
  let app: FastifyInstance;
  before(async () => {
    app = await buildApp(testConfig({ WARMUP: 'false', DATASETS_MAX: '3' }), { logger: false, history: { pollMs: 0 } });
  });
  after(async () => {
    await app.close();
  });

  const post = (parts: Part[]) => {
    const { payload, headers } = multipart(parts);
    return app.inject({ method: 'POST', url: '/datasets', payload, headers });
  };
  const getJson = async (url: string) => {
    const res = await app.inject({ method: 'GET', url });
    assert.equal(res.statusCode, 200, res.body);
    return res.json();
  };
  async function waitDone(id: string): Promise<Record<string, any>> {
    for (;;) {
      const j = await getJson(`/evaluations/${id}`);
      if (j.finished_at) return j;
      await sleep(50);
    }
  }

  test('POST /datasets refuses bad inputs before storing anything, naming the field', async () => {
    assertError(await post([...FILES.map(imagePart), annotationsPart()]), 400, 'MRC_ERR_MULTIPART', 'name');
    assertError(await post([text('name', 'no spaces allowed'), ...FILES.map(imagePart), annotationsPart()]), 400, 'MRC_ERR_VALIDATION', 'name');
    assertError(await post([text('name', 'x'), text('cron', 'every day'), ...FILES.map(imagePart), annotationsPart()]), 400, 'MRC_ERR_VALIDATION', 'cron');
    assertError(await post([text('name', 'x'), text('auto', 'yes'), ...FILES.map(imagePart), annotationsPart()]), 400, 'MRC_ERR_VALIDATION', 'auto');
    assertError(await post([text('name', 'x'), annotationsPart()]), 400, 'MRC_ERR_MULTIPART', 'image');
    assertError(await post([text('name', 'x'), ...FILES.map(imagePart)]), 400, 'MRC_ERR_MULTIPART', 'annotations');
    assertError(await post([text('name', 'x'), imagePart(FILES[0]!), annotationsPart('{not json')]), 400, 'MRC_ERR_INVALID_JSON', 'annotations');
    assertError(await post([text('name', 'x'), { name: 'image', filename: 'nope.png', data: Buffer.from('x') }, annotationsPart()]), 422, 'MRC_ERR_INVALID_INPUT', 'image[0]');
    assertError(await post([text('name', 'x'), { name: 'image', filename: 'sq-256.png', data: Buffer.from('not an image at all') }, annotationsPart()]), 415, 'MRC_ERR_UNSUPPORTED_MEDIA_TYPE', 'image[0]');
    const badBox = JSON.parse(ANNOTATIONS);
    badBox.annotations[0].bbox = 'wide';
    const res = await post([text('name', 'x'), ...ALL.images.map((i) => imagePart(i.file_name)), annotationsPart(JSON.stringify(badBox))]);
    assert.ok(res.statusCode === 400 || res.statusCode === 422, res.body);
    assert.match(String(res.json().field), /^annotations\.annotations\[0\]\.bbox/);
    assert.deepEqual((await getJson('/datasets')).datasets, []);
  });

  test('a dataset, two evaluations of it, the history, the series, the comparison, the gauges, the deletion', async () => {
    const created = await post([text('name', 'golden'), ...FILES.map(imagePart), annotationsPart()]);
    assert.equal(created.statusCode, 201, created.body);
    const ds = created.json();
    assert.equal(ds.name, 'golden');
    assert.equal(ds.images, FILES.length);
    assert.equal(created.headers.location, `/datasets/${ds.id}`);
    assertError(await post([text('name', 'golden'), imagePart(FILES[0]!), annotationsPart()]), 409, 'MRC_ERR_DATASET_EXISTS', 'name');

    const view = await getJson(`/datasets/${ds.id}`);
    assert.equal(view.images, FILES.length);
    assert.deepEqual(view.categories.map((c: { name: string }) => c.name), ['square', 'circle', 'triangle']);
    assert.equal(view.schedule.cron, null);
    assert.equal((await getJson('/datasets')).datasets.length, 1);
    assertError(await app.inject({ method: 'GET', url: '/datasets/3f2b8c1e-7d4a-4e8b-9a51-0c6f2d9e1b7a' }), 404, 'MRC_ERR_DATASET_NOT_FOUND', 'params.id');

    assertError(await app.inject({ method: 'POST', url: '/evaluations', payload: { dataset_id: '3f2b8c1e-7d4a-4e8b-9a51-0c6f2d9e1b7a' } }), 404, 'MRC_ERR_DATASET_NOT_FOUND', 'body.dataset_id');
    assertError(await app.inject({ method: 'POST', url: '/evaluations', payload: { dataset_id: ds.id, model: 'nope' } }), 404, 'MRC_ERR_MODEL_NOT_FOUND', 'body.model');
    assertError(await app.inject({ method: 'POST', url: '/evaluations', payload: { dataset_id: 'not-a-uuid' } }), 400, 'MRC_ERR_VALIDATION', 'body.dataset_id');
    // the per-model route: the model comes from the path; a body that contradicts it is a 400
    assertError(await app.inject({ method: 'POST', url: '/models/shapes/evaluations', payload: { dataset_id: ds.id, model: 'other' } }), 400, 'MRC_ERR_VALIDATION', 'body.model');
    assertError(await app.inject({ method: 'POST', url: '/models/nope/evaluations', payload: { dataset_id: ds.id } }), 404, 'MRC_ERR_MODEL_NOT_FOUND', 'params.name');
    const viaPath = await app.inject({ method: 'POST', url: '/models/shapes/evaluations', payload: { dataset_id: ds.id } });
    assert.equal(viaPath.statusCode, 202, viaPath.body);
    assert.equal((await app.inject({ method: 'DELETE', url: `/evaluations/${viaPath.json().id}` })).statusCode, 200);
    await waitDone(viaPath.json().id);
    await app.inject({ method: 'DELETE', url: `/evaluations/${viaPath.json().id}` }); // the cancelled job goes from the history

    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const res = await app.inject({ method: 'POST', url: '/evaluations', payload: { dataset_id: ds.id } });
      assert.equal(res.statusCode, 202, res.body);
      if (i === 0) {
        // an evaluation of it is queued or running: the dataset cannot go
        assertError(await app.inject({ method: 'DELETE', url: `/datasets/${ds.id}` }), 409, 'MRC_ERR_DATASET_BUSY', 'params.id');
      }
      const job = await waitDone(res.json().id);
      assert.equal(job.status, 'done', JSON.stringify(job.error));
      assert.equal(job.expires_at, null, 'dataset evaluations are history: they never expire');
      assert.equal(job.result.counts.images, FILES.length);
      ids.push(job.id);
    }
    const [a, b] = ids as [string, string];
    const first = await getJson(`/evaluations/${a}`);

    const hist = await getJson(`/evaluations?dataset_id=${ds.id}`);
    assert.deepEqual(hist.evaluations.map((e: { id: string }) => e.id), [b, a], 'newest first');
    const row = hist.evaluations[1];
    assert.equal(row.status, 'done');
    assert.deepEqual(row.dataset, { id: ds.id, name: 'golden' });
    assert.equal(row.trigger, 'manual');
    assert.match(row.model.sha256, /^[0-9a-f]{64}$/);
    assert.equal(row.box.ap, first.result.coco.bbox.stats[0]);
    assert.equal(row.mask.ap50, first.result.coco.segm.stats[1]);
    assert.equal(row.losses.loss_mask, first.result.losses.mean.loss_mask);
    const page1 = await getJson(`/evaluations?dataset_id=${ds.id}&limit=1`);
    assert.equal(page1.evaluations[0].id, b);
    const page2 = await getJson(`/evaluations?dataset_id=${ds.id}&limit=1&cursor=${page1.next_cursor}`);
    assert.deepEqual(page2.evaluations.map((e: { id: string }) => e.id), [a]);
    assert.equal((await getJson(`/evaluations?dataset_id=${ds.id}&since=2999-01-01T00:00:00Z`)).evaluations.length, 0);
    assert.equal((await getJson(`/evaluations?model=nope`)).evaluations.length, 0);
    assert.equal((await getJson(`/evaluations?model=shapes&dataset_id=${ds.id}`)).evaluations.length, 2, 'the folder name of the served model');
    assert.equal((await getJson(`/evaluations?model=shapes-maskrcnn&dataset_id=${ds.id}`)).evaluations.length, 2, 'its manifest name');
    assertError(await app.inject({ method: 'GET', url: '/evaluations?since=yesterday' }), 400, 'MRC_ERR_VALIDATION', 'querystring.since');

    const series = await getJson(`/evaluations/series?dataset_id=${ds.id}`);
    assert.deepEqual(series.points.map((p: { id: string }) => p.id), [a, b], 'oldest first');
    assert.equal(series.points[0].classes.length, 3);
    assert.ok(Array.isArray(series.flags));
    assert.ok(series.flags.every((f: { code: string }) => f.code !== 'ap_drop' && f.code !== 'loss_jump'), JSON.stringify(series.flags));

    const cmp = await getJson(`/evaluations/${a}/compare/${b}?resamples=1000&seed=7`);
    assert.equal(cmp.bootstrap.images, FILES.length);
    assert.equal(cmp.bootstrap.resamples, 1000);
    for (const t of ['bbox', 'segm']) {
      const block = cmp.iou_types[t];
      assert.ok(block, t);
      // the same model on the same images: identical records, every delta 0 and every interval [0, 0]
      for (const d of [block.overall.ap, block.overall.ap50, ...block.classes.flatMap((c: any) => [c.ap, c.ap50])]) {
        if (d.base === null) continue;
        assert.equal(d.delta, 0);
        assert.equal(d.ci_low, 0);
        assert.equal(d.ci_high, 0);
        assert.equal(d.verdict, 'no_evidence');
      }
      assert.ok(Math.abs(block.overall.ap.base - first.result.coco[t].stats[0]) < 1e-12, `${t}: bootstrap point estimate = the evaluation's AP`);
      assert.ok(Math.abs(block.overall.ap50.base - first.result.coco[t].stats[1]) < 1e-12);
      assert.equal(cmp.pr_curves[t].base.overall.iou_mean.length, 101);
    }
    assert.equal(cmp.losses.loss.delta, 0);
    // the same images with every labelled anchor and RoI (loss_sampling=all): the same detections, lower losses
    const allRes = await app.inject({ method: 'POST', url: '/evaluations?loss_sampling=all', payload: { dataset_id: ds.id } });
    assert.equal(allRes.statusCode, 202, allRes.body);
    const c = await waitDone(allRes.json().id);
    const vsAll = await getJson(`/evaluations/${a}/compare/${c.id}`);
    assert.equal(vsAll.iou_types.bbox.overall.ap.delta, 0);
    assert.ok(vsAll.losses.loss.delta < 0, JSON.stringify(vsAll.losses.loss));
    assert.ok(vsAll.losses.loss.ci_low <= vsAll.losses.loss.delta && vsAll.losses.loss.delta <= vsAll.losses.loss.ci_high);
    assert.ok(vsAll.losses.loss.ci_high < 0);
    assert.equal(vsAll.losses.loss.verdict, 'better', 'lower losses are better');
    await app.inject({ method: 'DELETE', url: `/evaluations/${c.id}` });
    assert.deepEqual(await getJson(`/evaluations/${a}/compare/${b}?resamples=1000&seed=7`), cmp, 'seeded: the same answer twice');
    assertError(await app.inject({ method: 'GET', url: `/evaluations/${a}/compare/${b}?resamples=10` }), 400, 'MRC_ERR_VALIDATION', 'querystring.resamples');

    // an uploaded (detections-mode) job is not comparable
    const det = await app.inject({ method: 'POST', url: '/evaluations', payload: {
      ground_truth: { images: [{ id: 1, file_name: 'a.png', width: 10, height: 10 }], categories: [{ id: 1, name: 'square' }], annotations: [] }, detections: [],
    } });
    assert.equal(det.statusCode, 202, det.body);
    await waitDone(det.json().id);
    assertError(await app.inject({ method: 'GET', url: `/evaluations/${a}/compare/${det.json().id}` }), 409, 'MRC_ERR_NOT_COMPARABLE', 'params.other_id');

    // baseline and schedule
    assertError(await app.inject({ method: 'PUT', url: `/datasets/${ds.id}/baseline`, payload: { evaluation_id: det.json().id } }), 400, 'MRC_ERR_VALIDATION', 'body.evaluation_id');
    const pinned = await app.inject({ method: 'PUT', url: `/datasets/${ds.id}/baseline`, payload: { evaluation_id: a } });
    assert.equal(pinned.statusCode, 200, pinned.body);
    assert.equal(pinned.json().baseline_evaluation_id, a);
    assert.equal((await getJson(`/evaluations/series?dataset_id=${ds.id}`)).baseline_evaluation_id, a);
    assertError(await app.inject({ method: 'PUT', url: `/datasets/${ds.id}/schedule`, payload: { cron: '61 * * * *' } }), 400, 'MRC_ERR_VALIDATION', 'body.cron');
    const sch = await app.inject({ method: 'PUT', url: `/datasets/${ds.id}/schedule`, payload: { cron: '0 3 * * *', auto: true } });
    assert.equal(sch.statusCode, 200, sch.body);
    assert.equal(sch.json().schedule.cron, '0 3 * * *');
    assert.equal(sch.json().schedule.auto, true);
    assert.match(sch.json().schedule.next_run_at, /T03:00:00\.000Z$/);

    // gauges of the latest results, labelled by the registered name
    await app.history.refreshMetrics();
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    assert.match(metrics, /mrcnn_dataset_ap\{dataset="golden",owner="",model="shapes-maskrcnn",version="[^"]+",iou_type="bbox"\} [0-9.e-]+/);
    assert.match(metrics, /mrcnn_dataset_loss\{dataset="golden",[^}]*loss="loss_mask"\} [0-9.e-]+/);

    // one real server
    const base = await listen(app);
    const listed = await (await fetch(`${base}/evaluations?dataset_id=${ds.id}&limit=5`)).json() as { evaluations: Array<{ id: string }> };
    assert.deepEqual(listed.evaluations.map((e) => e.id), [b, a]);

    const del = await app.inject({ method: 'DELETE', url: `/datasets/${ds.id}` });
    assert.equal(del.statusCode, 200, del.body);
    assert.equal(del.json().evaluations, 2);
    assertError(await app.inject({ method: 'GET', url: `/datasets/${ds.id}` }), 404, 'MRC_ERR_DATASET_NOT_FOUND', 'params.id');
    assertError(await app.inject({ method: 'GET', url: `/evaluations/${a}` }), 404, 'MRC_ERR_JOB_NOT_FOUND', 'params.id');
    assertError(await app.inject({ method: 'GET', url: `/evaluations/series?dataset_id=${ds.id}` }), 404, 'MRC_ERR_DATASET_NOT_FOUND', 'querystring.dataset_id');
    await app.history.refreshMetrics();
    assert.doesNotMatch((await app.inject({ method: 'GET', url: '/metrics' })).body, /dataset="golden"/);
  });

  test('a schedule given at creation; DATASETS_MAX caps the datasets stored', async () => {
    const first = await post([text('name', 'cap-0'), text('cron', '15 4 * * *'), text('model', 'shapes'), text('auto', 'true'), imagePart(FILES[0]!), annotationsPart()]);
    assert.equal(first.statusCode, 201, first.body);
    const sch = (await getJson(`/datasets/${first.json().id}`)).schedule;
    assert.deepEqual({ cron: sch.cron, model: sch.model, version: sch.version, auto: sch.auto }, { cron: '15 4 * * *', model: 'shapes', version: null, auto: true });
    assert.match(sch.next_run_at, /T04:15:00\.000Z$/);
    for (let i = 1; i < 3; i++) assert.equal((await post([text('name', `cap-${i}`), imagePart(FILES[0]!), annotationsPart()])).statusCode, 201);
    assertError(await post([text('name', 'cap-3'), imagePart(FILES[0]!), annotationsPart()]), 409, 'MRC_ERR_TOO_MANY_DATASETS', null);
  });
});

describe('the history plugin: automatic runs at start-up, schedules on the service clock', () => {
  test('a dataset with auto is evaluated once when the served version is ready; a due schedule fires on tick', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'history-plugin-'));
    const store = await openSqliteStore({ dataDir: dir });
    t.after(async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const T = Date.UTC(2026, 10, 30, 12, 0);
    const ds = await store.createDataset({
      name: 'nightly', annotations: ALL, annotationCount: ALL.annotations.length, categories: [{ id: 1, name: 'square' }, { id: 2, name: 'circle' }, { id: 3, name: 'triangle' }],
      images: [{ index: 0, fileName: 'sq-256.png', field: 'image[0]', bytes: readFileSync(join(FIX, 'images', 'sq-256.png')) }], createdAt: T - 3_600_000,
      schedule: { cron: '0 * * * *', model: null, version: null, auto: true, nextRunAt: T },
    });
    const clock = { now: T - 60_000 };
    const app = await buildApp(testConfig({ WARMUP: 'false' }), { logger: false, jobs: { store }, history: { clock: () => clock.now, pollMs: 0 } });
    t.after(() => app.close());
    const rows = async () => (await store.listHistory({ datasetId: ds.id, now: clock.now })).rows;
    while ((await rows()).length === 0) await sleep(20);
    assert.deepEqual((await rows()).map((r) => r.trigger), ['model_loaded']);
    assert.deepEqual(await app.history.scheduler.tick(), [], 'not due yet');
    clock.now = T + 5_000;
    assert.deepEqual(await app.history.scheduler.tick(), [ds.id]);
    assert.deepEqual((await rows()).map((r) => r.trigger).sort(), ['model_loaded', 'schedule']);
    const after = (await store.getDataset(ds.id))!;
    assert.equal(after.schedule.nextRunAt, T + 3_600_000);
    assert.equal(after.schedule.lastJobId, (await rows()).find((r) => r.trigger === 'schedule')!.id);
    // both run to the end with the dataset's image
    for (;;) {
      const r = await rows();
      if (r.every((x) => x.status === 'done')) {
        assert.ok(r.every((x) => x.summary.images === 1 && x.modelSha256 !== null));
        break;
      }
      assert.ok(r.every((x) => x.status !== 'failed'), JSON.stringify(r));
      await sleep(50);
    }
  });
});

const pgSkip = postgresUnavailableReason();
describe('on PostgreSQL (the distributed queue runs dataset jobs too)', { skip: pgSkip ?? false }, () => {
  test('a dataset evaluated twice, listed and compared', async (t) => {
    const server = await startPostgres();
    t.after(() => server.teardown());
    const app = await buildApp(testConfig({ WARMUP: 'false', DATABASE_URL: await server.createDatabase() }), { logger: false, history: { pollMs: 0 } });
    t.after(() => app.close());
    const { payload, headers } = multipart([text('name', 'pg-golden'), imagePart('sq-256.png'), imagePart('r-202x154.png'), annotationsPart()]);
    const created = await app.inject({ method: 'POST', url: '/datasets', payload, headers });
    assert.equal(created.statusCode, 201, created.body);
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const res = await app.inject({ method: 'POST', url: '/evaluations', payload: { dataset_id: created.json().id } });
      assert.equal(res.statusCode, 202, res.body);
      ids.push(res.json().id);
    }
    for (const id of ids) {
      for (;;) {
        const j = (await app.inject({ url: `/evaluations/${id}` })).json();
        if (j.finished_at) {
          assert.equal(j.status, 'done', JSON.stringify(j.error));
          assert.equal(j.expires_at, null);
          break;
        }
        await sleep(50);
      }
    }
    const hist = (await app.inject({ url: `/evaluations?dataset_id=${created.json().id}` })).json();
    assert.deepEqual(hist.evaluations.map((e: { id: string }) => e.id), [...ids].reverse());
    assert.ok(hist.evaluations.every((e: { box: { ap: number | null } }) => typeof e.box.ap === 'number'));
    const cmp = (await app.inject({ url: `/evaluations/${ids[0]}/compare/${ids[1]}` })).json();
    assert.equal(cmp.bootstrap.images, 2);
    assert.deepEqual([cmp.iou_types.bbox.overall.ap.delta, cmp.iou_types.bbox.overall.ap.ci_low, cmp.iou_types.bbox.overall.ap.ci_high], [0, 0, 0]);
  });
});
