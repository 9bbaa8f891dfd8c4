/**
 * The committed OpenAPI document drives a client (test/openapi/client.ts) against the real,
 * listening service: it reads the operations, calls /health/ready and /evaluate (detections mode),
 * and every request and response is checked against the document's schemas, so a response the
 * document does not describe, or a request format it does not declare, fails here.
 * Skips only when the model file is absent.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OPENAPI_FILE } from '../../scripts/openapi.js';
import { OpenApiClient } from './client.js';
import { detectionsPayload, modelClasses, skipNoModel, startService, type Service } from '../e2e/service.js';

describe('a client generated from openapi/openapi.json', { skip: skipNoModel }, () => {
  let svc: Service;
  let client: OpenApiClient;

  before(async () => {
    svc = await startService();
    client = await OpenApiClient.create(OPENAPI_FILE, svc.baseUrl);
  });
  after(async () => { await svc?.close(); });

  test('reads the operations from the document', () => {
    const ops = client.operations();
    for (const op of ['GET /health/ready', 'POST /evaluate', 'POST /predict']) assert.ok(ops.includes(op), `${op} in ${ops.join(', ')}`);
  });

  test('GET /health/ready answers 200 with the documented body', async () => {
    const res = await client.call('GET /health/ready');
    assert.equal(res.status, 200);
    assert.equal((res.body as { status: string }).status, 'ready');
  });

  test('POST /evaluate (detections mode) answers 200 with the documented body', async () => {
    const res = await client.call('POST /evaluate', {
      query: { voc_iou_thr: 0.5 },
      json: { ...detectionsPayload(modelClasses()), iou_types: 'bbox' },
    });
    assert.equal(res.status, 200);
    const body = res.body as { losses: unknown; coco: { bbox: { stats: unknown[] } }; voc: { classes: unknown[] } };
    assert.equal(body.losses, null, 'detections mode has no losses');
    assert.equal(body.coco.bbox.stats.length, 12);
    assert.ok(body.voc.classes.length > 0);
  });

  test('an invalid /evaluate answers with a documented 4xx in the error shape', async () => {
    const res = await client.call('POST /evaluate', { json: { ground_truth: { images: 'not-a-list' }, detections: [] } });
    assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}`);
    const err = res.body as { code: string; field: string | null };
    assert.match(err.code, /^MRC_ERR_/);
    assert.match(String(err.field), /ground_truth/);
  });

  test('the client refuses what the document does not declare', async () => {
    await assert.rejects(client.call('GET /not-documented'), /not in the OpenAPI document/);
    await assert.rejects(client.call('POST /evaluate', { query: { user_label: 'x' }, json: detectionsPayload(modelClasses()) }), /not declared/);
  });
});
