/**
 * Two models at once (MODELS=shapes,shapes-stock: the shipped flat folders) through a real
 * listening server: concurrent predictions on both, each answered by its own model; the listing;
 * the per-model evaluate and evaluations routes; unknown model or version → 404 naming the path
 * parameter; MODELS validation; a JSON submission's body model against the path's.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';
import { ModelBudget, estimateMemory } from '../../src/models/budget.js';
import type { ModelEntry } from '../../src/models/registry.js';
import { mergeTarget } from '../../src/routes/model-target.js';
import { buildApp } from '../../src/app.js';
import { assertError, build, listen, multipart, shapesImage, testConfig } from '../helper.js';

test('two models under concurrent load, listing, per-model routes, 404s', async (t) => {
  const app = await build(t, { MODELS: 'shapes,shapes-stock', QUEUE_SIZE: '16' });
  const base = await listen(app);
  const image = await shapesImage(160, 120);
  const predict = async (path: string) => {
    const res = await fetch(`${base}${path}?max_detections=5`, { method: 'POST', body: image, headers: { 'content-type': 'image/png' } });
    return { status: res.status, body: await res.json() as { model: { name: string; version: string }; instances: unknown[] } };
  };

  const paths = ['/predict', '/models/shapes/predict', '/models/shapes-stock/predict', '/models/shapes-stock/versions/1.2.0/predict', '/models/shapes-maskrcnn-stock/predict'];
  const answers = await Promise.all(Array.from({ length: 3 }, () => paths.map((p) => predict(p).then((r) => ({ p, ...r })))).flat());
  for (const a of answers) {
    assert.equal(a.status, 200, `${a.p}: ${JSON.stringify(a.body)}`);
    assert.equal(a.body.model.name, a.p.includes('stock') ? 'shapes-maskrcnn-stock' : 'shapes-maskrcnn', a.p);
    assert.ok(a.body.instances.length >= 1, a.p);
  }

  const list = await app.inject({ url: '/models' });
  assert.equal(list.statusCode, 200);
  const models = list.json().models as Array<Record<string, unknown>>;
  assert.deepEqual(models.map((m) => [m.model, m.version, m.state, m.default, m.default_model]), [
    ['shapes', '1.2.0', 'ready', true, true],
    ['shapes-stock', '1.2.0', 'ready', true, false],
  ]);
  assert.equal(list.json().default_model, 'shapes');
  assert.deepEqual(list.json().budget.threads, { used: 2, total: app.config.modelThreads });
  for (const m of models) {
    assert.deepEqual(m.classes, [{ id: 1, name: 'square' }, { id: 2, name: 'circle' }, { id: 3, name: 'triangle' }]);
    assert.equal(m.execution_provider, 'cpu');
    assert.equal(m.workers, 1);
  }
  assert.equal(models[1]!.format, 'stock');
  const one = await app.inject({ url: '/models/shapes-stock' });
  assert.equal(one.statusCode, 200);
  assert.equal(one.json().default_version, '1.2.0');
  assert.equal(one.json().name, 'shapes-maskrcnn-stock'); // the default version's fields at the top, as before
  assert.deepEqual(one.json().versions.map((v: { version: string }) => v.version), ['1.2.0']);

  // Per-model evaluate (detections mode needs no model run but the model must exist) and evaluations.
  const gt = { images: [{ id: 1, width: 10, height: 10 }], annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [1, 1, 4, 4], area: 16, iscrowd: 0 }], categories: [{ id: 1, name: 'square' }] };
  const body = { ground_truth: gt, detections: [{ image_id: 1, category_id: 1, bbox: [1, 1, 4, 4], score: 0.9 }] };
  assert.equal((await app.inject({ method: 'POST', url: '/models/shapes-stock/evaluate', payload: body })).statusCode, 200);
  assertError(await app.inject({ method: 'POST', url: '/models/nope/evaluate', payload: body }), 404, 'MRC_ERR_MODEL_NOT_FOUND', 'params.name');
  const annotations = JSON.stringify({ ...gt, images: [{ id: 1, file_name: 'a.png', width: 160, height: 120 }] });
  const upload = multipart([{ name: 'image', filename: 'a.png', contentType: 'image/png', data: image }, { name: 'annotations', data: annotations }]);
  const job = await app.inject({ method: 'POST', url: '/models/shapes-stock/versions/1.2.0/evaluations', ...upload });
  assert.equal(job.statusCode, 202, job.body);
  // a version with a queued or running job is not unloaded under it (the job needs at least one inference)
  const busy = assertError(await app.inject({ method: 'DELETE', url: '/models/shapes-stock/versions/1.2.0' }), 409, 'MRC_ERR_MODEL_CONFLICT', 'params.version');
  assert.match(String(busy.message), new RegExp(`evaluation job\\(s\\) queued or running .*${job.json().id}`));
  for (let i = 0; i < 300 && (await app.inject({ url: `/evaluations/${job.json().id}` })).json().status !== 'done'; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal((await app.inject({ url: `/evaluations/${job.json().id}` })).json().status, 'done');
  assert.equal((await app.inject({ url: `/models/shapes-stock/evaluations/${job.json().id}` })).statusCode, 404); // only POST per model

  // Unknown model or version.
  const unknown = await fetch(`${base}/models/nope/predict`, { method: 'POST', body: image, headers: { 'content-type': 'image/png' } });
  assert.equal(unknown.status, 404);
  assert.deepEqual(await unknown.json().then((b: any) => [b.code, b.field]), ['MRC_ERR_MODEL_NOT_FOUND', 'params.name']);
  assertError(await app.inject({ method: 'POST', url: '/models/shapes/versions/0.0.1/predict', payload: image, headers: { 'content-type': 'image/png' } }), 404, 'MRC_ERR_MODEL_NOT_FOUND', 'params.version');
  assertError(await app.inject({ url: '/models/nope' }), 404, 'MRC_ERR_MODEL_NOT_FOUND', 'params.name');
  assertError(await app.inject({ url: '/models/shapes/versions/0.0.1' }), 404, 'MRC_ERR_MODEL_NOT_FOUND', 'params.version');
  assertError(await app.inject({ method: 'DELETE', url: '/models/shapes/versions/0.0.1' }), 404, 'MRC_ERR_MODEL_NOT_FOUND', 'params.version');
  assertError(await app.inject({ method: 'PUT', url: '/models/shapes/default', payload: { version: '0.0.1' } }), 404, 'MRC_ERR_MODEL_NOT_FOUND', 'body.version');
  // Loading what is loaded: 409.
  assertError(await app.inject({ method: 'POST', url: '/models', payload: { name: 'shapes-stock' } }), 409, 'MRC_ERR_MODEL_CONFLICT', 'body.version');
  // The only version of a model that is not the default one may go.
  const gone = await app.inject({ method: 'DELETE', url: '/models/shapes-stock/versions/1.2.0' });
  assert.equal(gone.statusCode, 202);
  await app.models.list().find((e) => e.model === 'shapes-stock')?.loaded;
  for (let i = 0; i < 100 && app.models.list().some((e) => e.model === 'shapes-stock'); i++) await new Promise((r) => setTimeout(r, 50));
  assertError(await app.inject({ url: '/models/shapes-stock' }), 404, 'MRC_ERR_MODEL_NOT_FOUND', 'params.name');
  assert.equal((await predict('/predict')).status, 200);
});

test('MODELS is validated, naming the variable; the thread budget must hold the start-up models', () => {
  const env = { MODEL_DIR: '/tmp', INFERENCE_WORKERS: '1', INTRA_OP_THREADS: '1' };
  assert.deepEqual(loadConfig({ ...env, MODELS: 'shapes, shapes-stock:1.2.0' }).models, [{ name: 'shapes' }, { name: 'shapes-stock', version: '1.2.0' }]);
  assert.deepEqual(loadConfig({ ...env, MODEL_NAME: 'mine' }).models, [{ name: 'mine' }]);
  for (const bad of ['shapes,,x', '../x', 'a:b:c', 'shapes,shapes', 'shapes:1,shapes', 'a/b']) {
    assert.throws(() => loadConfig({ ...env, MODELS: bad }), (err: unknown) => err instanceof ConfigError && err.variable === 'MODELS' && /MODELS/.test(err.message), bad);
  }
  assert.throws(() => loadConfig({ ...env, MODELS: 'a,b,c', MODEL_THREADS: '2' }), (err: unknown) => err instanceof ConfigError && err.variable === 'MODEL_THREADS');
  assert.equal(loadConfig({ ...env, MODELS: 'a,b,c' }).modelThreads >= 3, true);
});

test('EXPECTED FAILURE - a MODELS item that cannot be served stops start-up naming it', async () => {
  await assert.rejects(buildApp(testConfig({ MODELS: 'shapes,missing' }), { logger: false }), /model folder "missing" not found/);
  await assert.rejects(buildApp(testConfig({ MODELS: 'shapes:9.9.9' }), { logger: false }), /model folder "shapes" version "9.9.9" not found/);
});

test('a JSON submission may name the model in its body; the path wins, a different value is a 400 naming it', () => {
  assert.deepEqual(mergeTarget({}, { model: 'a', version: '1' }), { name: 'a', version: '1' });
  assert.deepEqual(mergeTarget({ name: 'a' }, { version: '2' }), { name: 'a', version: '2' });
  assert.deepEqual(mergeTarget({ name: 'a', version: '1' }, { model: 'a', version: '1' }), { name: 'a', version: '1' });
  assert.throws(() => mergeTarget({ name: 'a' }, { model: 'b' }), (err: any) => err.statusCode === 400 && err.field === 'body.model');
  assert.throws(() => mergeTarget({ name: 'a', version: '1' }, { version: '2' }), (err: any) => err.statusCode === 400 && err.field === 'body.version');
});

test('the budget counts loading, ready and unloading versions and names what is over', () => {
  const MiB = 1024 ** 2;
  const entry = (state: string, threads: number, mb: number) => ({ state, cost: { threads, memoryBytes: mb * MiB, measured: false } }) as unknown as ModelEntry;
  const budget = new ModelBudget({ threads: 4, memoryBytes: 1000 * MiB });
  const loaded = [entry('ready', 2, 400), entry('loading', 1, 300), entry('failed', 8, 5000), entry('unloading', 0, 100)];
  assert.deepEqual(budget.usage(loaded), { threads: { used: 3, total: 4 }, memory_mb: { used: 800, total: 1000 } });
  budget.check({ threads: 1, memoryBytes: 200 * MiB, measured: false }, loaded, 'x');
  assert.throws(() => budget.check({ threads: 2, memoryBytes: 0, measured: false }, loaded, 'version "2" of model "m"'),
    (err: any) => err.code === 'MRC_ERR_MODEL_BUDGET' && /version "2" of model "m" needs 2 worker threads .* 3 of the MODEL_THREADS budget of 4/.test(err.message));
  assert.throws(() => budget.check({ threads: 1, memoryBytes: 201 * MiB, measured: false }, loaded, 'v'),
    (err: any) => err.code === 'MRC_ERR_MODEL_BUDGET' && /needs about 201 MB and 800 MB of the MODEL_MEMORY_MB budget of 1000 MB/.test(err.message));
  new ModelBudget({ threads: 4, memoryBytes: 0 }).check({ threads: 1, memoryBytes: 1e12, measured: false }, loaded, 'no memory budget');
  assert.equal(estimateMemory(100 * MiB, 2), 2 * (80 * MiB + 400 * MiB));
});
