/**
 * Model versions managed at run time through a real listening server, under load: load a second
 * version (202, then ready), set it as the default, unload the first while requests hold it (they
 * all finish with 200; new ones get 404), and no request of the background load fails; a second
 * load of the same version is 409; a broken version is 422 with the reason (files) or `failed` with
 * the reason (anchors check at warm-up) while the others keep serving; the thread budget refuses a
 * load naming MODEL_THREADS; the per-version metrics appear on load and disappear on unload.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildApp } from '../../src/app.js';
import { parseSamples } from '../metrics/exposition.js';
import { assertError, listen, multipart, ROOT, shapesImage, testConfig } from '../helper.js';
import { until, versionedRepo } from './repo.js';

test('load, default, unload under load: zero failed requests; conflicts, broken versions and the budget', async (t) => {
  const repo = versionedRepo(t, [
    { model: 'shapes', version: '1.1.0', from: 'shapes' },
    { model: 'shapes', version: '2.0.0', from: 'shapes' },
    { model: 'shapes', version: '3.0.0', from: 'shapes', edit: (m) => { (m.loss_constants as Record<string, unknown>).anchor_sizes = [32, 64, 128, 256, 512]; } },
    { model: 'broken', version: '1.0.0', from: 'shapes-stock', edit: (m) => { m.sha256 = '0'.repeat(64); } },
  ]);
  const app = await buildApp(testConfig({ MODEL_DIR: repo, MODELS: 'shapes:1.1.0', MODEL_THREADS: '3', QUEUE_SIZE: '16' }), { logger: false });
  t.after(() => app.close());
  const base = await listen(app);
  const events: string[] = [];
  const unsubscribe = app.models.subscribe({ // the hook other parts use (auto-evaluation): ready, default, removed
    versionReady: (e) => events.push(`ready ${e.model}@${e.version} default=${app.models.isDefault(e)}`),
    defaultChanged: (model, v, previous) => events.push(`default ${model}@${v} (was ${previous})`),
    versionRemoved: (e) => events.push(`removed ${e.model}@${e.version}`),
  });
  app.models.subscribe({ versionReady: () => { throw new Error('a listener that throws disturbs nothing'); } });
  const replayed: string[] = [];
  app.models.subscribe({ versionReady: (e) => replayed.push(`${e.model}@${e.version}`) }, { replay: true })();
  assert.deepEqual(replayed, ['shapes@1.1.0'], 'replay: the versions ready before subscribing');
  const image = await shapesImage(160, 120);
  const fixtures = join(ROOT, 'test', 'fixtures', 'losses');
  const files = ['r-160x240.png', 'sq-233.png', 'r-202x154.png', 'sq-256.png', 'r-144x288.png', 'edge-160x200.png'];
  const { payload, headers } = multipart([
    ...files.map((f) => ({ name: 'image', filename: f, contentType: 'image/png', data: readFileSync(join(fixtures, 'images', f)) })),
    { name: 'annotations', filename: 'annotations.json', contentType: 'application/json', data: readFileSync(join(fixtures, 'annotations.json')) },
  ]);
  const evalUpload = { body: payload, headers };
  const predict = (path: string) => fetch(`${base}${path}?max_detections=3`, { method: 'POST', body: image, headers: { 'content-type': 'image/png' } });
  const json = async (path: string, init?: RequestInit) => {
    const res = await fetch(`${base}${path}`, init);
    return { status: res.status, body: await res.json() as Record<string, any> };
  };
  const send = (method: string, path: string, body?: unknown) => json(path, {
    method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  const version = (name: string, v: string) => json(`/models/${name}`).then((r) => (r.body.versions as Array<Record<string, any>> | undefined)?.find((x) => x.version === v));

  // Background load on the default route for the whole test: every answer must be 200.
  let stop = false;
  const outcomes: number[] = [];
  const background = (async () => {
    while (!stop) {
      const res = await predict('/predict');
      await res.arrayBuffer();
      outcomes.push(res.status);
    }
  })();

  // A second version: 202 at once, then ready; the same again is 409.
  const accepted = await send('POST', '/models', { name: 'shapes', version: '2.0.0' });
  assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
  assert.equal(accepted.body.state, 'loading');
  assert.equal(accepted.body.default, false);
  const again = await send('POST', '/models', { name: 'shapes', version: '2.0.0' });
  assert.equal(again.status, 409);
  assert.equal(again.body.code, 'MRC_ERR_MODEL_CONFLICT');
  await until('2.0.0 ready', async () => ((await version('shapes', '2.0.0'))?.state === 'ready' ? true : undefined));
  const v2 = await predict('/models/shapes/versions/2.0.0/predict');
  assert.equal(v2.status, 200);
  assert.equal(((await v2.json()) as { model: { version: string } }).model.version, '2.0.0');

  // Per-version series exist for both loaded versions.
  let samples = parseSamples(await (await fetch(`${base}/metrics`)).text());
  const requests = (v: string) => samples.find((s) => s.name === 'mrcnn_model_requests_total' && s.labels.model === 'shapes' && s.labels.version === v);
  assert.ok((requests('2.0.0')?.value ?? 0) >= 1, 'requests of 2.0.0 counted');
  assert.ok((requests('1.1.0')?.value ?? 0) >= 1, 'requests of 1.1.0 counted');

  // The default version can be neither unloaded nor replaced by a version that is not ready.
  assertError(await fetch(`${base}/models/shapes/versions/1.1.0`, { method: 'DELETE' }).then(async (r) => ({ statusCode: r.status, body: await r.text(), headers: Object.fromEntries(r.headers) })), 409, 'MRC_ERR_MODEL_CONFLICT', 'params.version');
  const setDefault = await send('PUT', '/models/shapes/default', { version: '2.0.0' });
  assert.equal(setDefault.status, 200, JSON.stringify(setDefault.body));
  assert.equal(setDefault.body.default_version, '2.0.0');
  const viaDefault = await predict('/predict');
  assert.equal(((await viaDefault.json()) as { model: { version: string } }).model.version, '2.0.0');

  // Unload 1.1.0 while requests hold it (predictions, and an evaluation that runs one image after
  // the other): they all finish with 200, then it is gone.
  const evaluation = fetch(`${base}/models/shapes/versions/1.1.0/evaluate?iou_types=bbox`, { method: 'POST', ...evalUpload });
  const held = [...Array.from({ length: 3 }, () => predict('/models/shapes/versions/1.1.0/predict')), evaluation];
  await until('requests holding 1.1.0', async () => ((await version('shapes', '1.1.0'))?.in_use === held.length ? true : undefined), 20_000);
  const unload = await send('DELETE', '/models/shapes/versions/1.1.0');
  assert.equal(unload.status, 202, JSON.stringify(unload.body));
  assert.equal(unload.body.state, 'unloading');
  const late = await predict('/models/shapes/versions/1.1.0/predict');
  assert.equal(late.status, 404);
  assert.equal(((await late.json()) as { field: string }).field, 'params.version');
  const heldStatuses = await Promise.all(held.map(async (p) => { const r = await p; await r.arrayBuffer(); return r.status; }));
  assert.deepEqual(heldStatuses, held.map(() => 200), 'requests holding the version when it was unloaded all finish');
  await until('1.1.0 gone', async () => ((await version('shapes', '1.1.0')) === undefined ? true : undefined));
  samples = parseSamples(await (await fetch(`${base}/metrics`)).text());
  assert.equal(samples.filter((s) => s.name.startsWith('mrcnn_model_') && s.labels.version === '1.1.0').length, 0, 'series of 1.1.0 removed');
  assert.ok(requests('2.0.0'));

  // The only version of the default model stays.
  assert.equal((await send('DELETE', '/models/shapes/versions/2.0.0')).status, 409);

  // Broken files: 422 with the reason before anything starts.
  const broken = await send('POST', '/models', { name: 'broken', version: '1.0.0' });
  assert.equal(broken.status, 422);
  assert.equal(broken.body.code, 'MRC_ERR_MODEL_INVALID');
  assert.match(broken.body.message, /sha256 mismatch/);
  // Unknown model or version: 404.
  assert.equal((await send('POST', '/models', { name: 'nope' })).body.code, 'MRC_ERR_MODEL_NOT_FOUND');
  assert.equal((await send('POST', '/models', { name: 'shapes', version: '9.9.9' })).body.field, 'body.version');

  // The budget: 2.0.0 (1 thread) + 4 more > MODEL_THREADS=3.
  const over = await send('POST', '/models', { name: 'shapes', version: '3.0.0', intra_op_threads: 4 });
  assert.equal(over.status, 409);
  assert.equal(over.body.code, 'MRC_ERR_MODEL_BUDGET');
  assert.match(over.body.message, /MODEL_THREADS budget of 3/);

  // A graph the manifest does not describe fails at warm-up: state failed with the reason.
  assert.equal((await send('POST', '/models', { name: 'shapes', version: '3.0.0' })).status, 202);
  const failed = await until('3.0.0 failed', async () => { const v = await version('shapes', '3.0.0'); return v?.state === 'failed' ? v : undefined; });
  assert.match(failed.error, /anchors differ/);
  const notReady = await predict('/models/shapes/versions/3.0.0/predict');
  assert.equal(notReady.status, 503);
  // a failed version is forgotten on DELETE
  assert.equal((await send('DELETE', '/models/shapes/versions/3.0.0')).status, 202);
  assert.equal(await version('shapes', '3.0.0'), undefined);

  unsubscribe();
  assert.deepEqual(events, [
    'ready shapes@2.0.0 default=false', 'default shapes@2.0.0 (was 1.1.0)', 'removed shapes@1.1.0', 'removed shapes@3.0.0',
  ]);

  stop = true;
  await background;
  assert.ok(outcomes.length >= 3, `background requests: ${outcomes.length}`);
  assert.deepEqual(outcomes.filter((s) => s !== 200), [], 'every background request answered 200');
});
