/**
 * GET /health/live, /health/ready, /models and /models/:name on the real app; readiness before the
 * model is warm (waitForModel: false) and after close; request ids; start-up failures that name
 * what is wrong.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../../src/app.js';
import { assertError, build, CUDA_EP_INSTALLED, CUDA_UNAVAILABLE, testConfig } from '../helper.js';

test('live, ready and model metadata of the loaded model', async (t) => {
  const app = await build(t, { WARMUP: 'false' });
  const live = await app.inject({ url: '/health/live' });
  assert.equal(live.statusCode, 200);
  assert.equal(live.json().status, 'ok');
  const ready = await app.inject({ url: '/health/ready' });
  assert.equal(ready.statusCode, 200);
  assert.deepEqual(Object.keys(ready.json()).sort(), ['auth', 'busy_workers', 'model', 'queue_depth', 'status', 'store']);
  assert.equal(ready.json().auth, 'off'); // no TOKENS_FILE (docs/security.md)
  assert.deepEqual(ready.json().store, { engine: 'sqlite', ok: true });
  assert.equal(ready.json().model.execution_provider, 'cpu');

  const res = await app.inject({ url: '/models' });
  assert.equal(res.statusCode, 200);
  const [m] = res.json().models as Array<Record<string, unknown>>;
  const manifest = app.models.default.files!.manifest;
  assert.equal(m!.name, manifest.name);
  assert.equal(m!.version, manifest.version);
  assert.deepEqual(m!.classes, manifest.classes.map((name, i) => ({ id: i + 1, name })));
  assert.equal(m!.execution_provider, 'cpu');
  assert.match(m!.onnxruntime_version as string, /^1\.\d+\.\d+$/);
  assert.equal(m!.format, 'loss-capable');
  assert.equal(m!.losses_available, true);
  assert.deepEqual((m!.inputs as Array<{ name: string }>).map((i) => i.name), ['image', 'gt_boxes']);
  assert.ok((m!.outputs as Array<{ name: string }>).some((o) => o.name === 'det_masks'));

  assert.equal((await app.inject({ url: `/models/${manifest.name}` })).statusCode, 200);
  assert.equal((await app.inject({ url: '/models/shapes' })).statusCode, 200);
  assertError(await app.inject({ url: '/models/other' }), 404, 'MRC_ERR_MODEL_NOT_FOUND', 'params.name');
});

test('x-request-id is echoed when well-formed, generated otherwise', async (t) => {
  const app = await build(t, { WARMUP: 'false' });
  const a = await app.inject({ url: '/health/live', headers: { 'x-request-id': 'abc-123' } });
  assert.equal(a.headers['x-request-id'], 'abc-123');
  const b = await app.inject({ url: '/health/live', headers: { 'x-request-id': 'bad id with spaces' } });
  assert.match(String(b.headers['x-request-id']), /^[0-9a-f-]{36}$/);
});

test('/health/ready is 503 until the model is warm, and after close starts', async () => {
  const app = await buildApp(testConfig(), { logger: false, waitForModel: false });
  try {
    const early = await app.inject({ url: '/health/ready' });
    assertError(early, 503, 'MRC_ERR_MODEL_NOT_READY', null);
    assert.ok(Number(early.headers['retry-after']) >= 1);
    assert.equal((await app.inject({ url: '/health/live' })).statusCode, 200);
    const listing = await app.inject({ url: '/models' }); // the versions and their states, also while loading
    assert.equal(listing.statusCode, 200);
    assert.deepEqual(listing.json().models.map((m: { model: string; state: string }) => [m.model, m.state]), [['shapes', 'loading']]);
    await app.models.default.loaded;
    assert.equal((await app.inject({ url: '/health/ready' })).statusCode, 200);
  } finally {
    await app.close();
  }
  assert.equal(app.models.default.state, 'closed');
});

test('EXPECTED FAILURE - start-up names the problem: missing model, bad sha256, CUDA unavailable', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'mrc-app-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'broken'));
  writeFileSync(join(root, 'broken', 'model.onnx'), 'x');
  writeFileSync(join(root, 'broken', 'manifest.json'), JSON.stringify({ name: 'b', version: '1', file: 'model.onnx', sha256: 'f'.repeat(64), classes: ['a'] }));
  await assert.rejects(buildApp(testConfig({ MODEL_DIR: root, MODEL_NAME: 'missing' }), { logger: false }), /model folder "missing" not found/);
  await assert.rejects(buildApp(testConfig({ MODEL_DIR: root, MODEL_NAME: 'broken' }), { logger: false }), /sha256 mismatch/);
  // EXECUTION_PROVIDER=cuda: without the CUDA EP library (npm ci) start-up must fail, naming CUDA.
  // With it (the Docker image), CUDA either loads (GPU host) or start-up fails the same way.
  const app = await buildApp(testConfig({ EXECUTION_PROVIDER: 'cuda' }), { logger: false }).catch((err: Error) => {
    assert.match(err.message, CUDA_UNAVAILABLE);
    return null;
  });
  if (app) {
    try {
      assert.ok(CUDA_EP_INSTALLED, 'EXECUTION_PROVIDER=cuda started without the CUDA EP library installed');
      assert.equal((await app.inject({ url: '/health/ready' })).json().model.execution_provider, 'cuda');
    } finally {
      await app.close();
    }
  }
});
