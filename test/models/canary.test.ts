/**
 * The canary before a default switch: both versions evaluated on a dataset (real dataset jobs on
 * the real model), compared per class; equal graphs pass (no class worse) and the switch happens;
 * a second switch reuses the done evaluations; a refusal leaves the default as it was and answers
 * 409 with the per-class verdicts; an unknown dataset is a 404 naming the field.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildApp } from '../../src/app.js';
import { CanaryRefusedError, type CanaryResult } from '../../src/models/canary.js';
import { multipart, ROOT, testConfig } from '../helper.js';
import { versionedRepo } from './repo.js';

test('canary: evaluates both versions on a dataset, switches when no class is worse, reuses, refuses with verdicts', async (t) => {
  const repo = versionedRepo(t, [
    { model: 'shapes', version: '1.1.0', from: 'shapes' },
    { model: 'shapes', version: '2.0.0', from: 'shapes' },
  ]);
  const app = await buildApp(testConfig({ MODEL_DIR: repo, MODELS: 'shapes:1.1.0,shapes:2.0.0', WARMUP: 'false' }), { logger: false });
  t.after(() => app.close());

  const fixtures = join(ROOT, 'test', 'fixtures', 'losses');
  const files = ['r-160x240.png', 'sq-233.png', 'r-202x154.png', 'edge-160x200.png'];
  const annotations = JSON.parse(readFileSync(join(fixtures, 'annotations.json'), 'utf8')) as { images: Array<{ id: number; file_name: string }>; annotations: Array<{ image_id: number }> };
  const keep = new Set(annotations.images.filter((im) => files.includes(im.file_name)).map((im) => im.id));
  annotations.images = annotations.images.filter((im) => keep.has(im.id));
  annotations.annotations = annotations.annotations.filter((a) => keep.has(a.image_id));
  const upload = multipart([
    { name: 'name', data: 'canary-set' },
    ...files.map((f) => ({ name: 'image', filename: f, contentType: 'image/png', data: readFileSync(join(fixtures, 'images', f)) })),
    { name: 'annotations', filename: 'annotations.json', contentType: 'application/json', data: JSON.stringify(annotations) },
  ]);
  const ds = await app.inject({ method: 'POST', url: '/datasets', ...upload });
  assert.equal(ds.statusCode, 201, ds.body);
  const datasetId = ds.json().id as string;

  assert.equal(app.models.defaultOf('shapes')!.version, '1.1.0');
  const put = (body: Record<string, unknown>) => app.inject({ method: 'PUT', url: '/models/shapes/default', payload: body });

  const switched = await put({ version: '2.0.0', canary: { dataset_id: datasetId } });
  assert.equal(switched.statusCode, 200, switched.body);
  const canary = switched.json().canary as CanaryResult;
  assert.equal(canary.passed, true);
  assert.deepEqual([canary.base.version, canary.candidate.version], ['1.1.0', '2.0.0']);
  assert.deepEqual([canary.base.reused, canary.candidate.reused], [false, false]);
  assert.ok(canary.classes.length >= 3);
  assert.ok(canary.classes.every((c) => c.verdict !== 'worse'), JSON.stringify(canary.classes));
  assert.equal(switched.json().default_version, '2.0.0');

  // Back again: both evaluations are reused (same versions, same graph, same dataset).
  const back = await put({ version: '1.1.0', canary: { dataset_id: datasetId } });
  assert.equal(back.statusCode, 200, back.body);
  assert.deepEqual([back.json().canary.base.reused, back.json().canary.candidate.reused], [true, true]);
  assert.equal(back.json().canary.base.evaluation_id, canary.candidate.evaluation_id);

  // A refusal (the verdicts of a worse candidate): 409 with them, the default unchanged.
  const worse: CanaryResult = { ...canary, passed: false, classes: [{ ...canary.classes[0]!, ap_delta: -0.4, ci_low: -0.6, ci_high: -0.2, verdict: 'worse' }] };
  const deps = (app.modelService as unknown as { deps: { canary: unknown } }).deps;
  const real = deps.canary;
  deps.canary = async () => { throw new CanaryRefusedError(worse); };
  const refused = await put({ version: '2.0.0', canary: { dataset_id: datasetId } });
  deps.canary = real;
  assert.equal(refused.statusCode, 409, refused.body);
  assert.equal(refused.json().code, 'MRC_ERR_CANARY_REFUSED');
  assert.equal(refused.json().field, 'body.canary');
  assert.match(refused.json().message, /worse than the default version/);
  assert.deepEqual(refused.json().canary.classes.map((c: { verdict: string }) => c.verdict), ['worse']);
  assert.equal(app.models.defaultOf('shapes')!.version, '1.1.0');

  const missing = await put({ version: '2.0.0', canary: { dataset_id: '00000000-0000-4000-8000-000000000000' } });
  assert.equal(missing.statusCode, 404, missing.body);
  assert.equal(missing.json().field, 'body.canary.dataset_id');
  assert.equal(app.models.defaultOf('shapes')!.version, '1.1.0');
});
