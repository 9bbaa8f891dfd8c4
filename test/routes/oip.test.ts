/**
 * Open Inference Protocol (v2) health and metadata: every answer validated against JSON schemas
 * written here from the protocol's own definitions ($live_server_response, $ready_server_response,
 * $ready_model_response, $metadata_model_response, $metadata_tensor, and the error response's
 * `error` string), with no other property allowed on 200 answers; health booleans also in the
 * status (200 true, 4xx false, whose body adds the service's error fields); readiness while a
 * version loads; 404 for unknown models and versions.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Ajv } from 'ajv';
import { buildApp } from '../../src/app.js';
import { oipTensor } from '../../src/routes/oip/index.js';
import { build, listen, testConfig } from '../helper.js';

/** The protocol's datatypes (tensor data types table). */
const DATATYPES = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'];
const tensor = {
  type: 'object', additionalProperties: false, required: ['name', 'datatype', 'shape'],
  properties: { name: { type: 'string' }, datatype: { enum: DATATYPES }, shape: { type: 'array', items: { type: 'integer', minimum: -1 } } },
};
const schemas = {
  live: { type: 'object', additionalProperties: false, required: ['live'], properties: { live: { type: 'boolean' } } },
  ready: { type: 'object', additionalProperties: false, required: ['ready'], properties: { ready: { type: 'boolean' } } },
  modelReady: { type: 'object', additionalProperties: false, required: ['name', 'ready'], properties: { name: { type: 'string' }, ready: { type: 'boolean' } } },
  metadata: {
    type: 'object', additionalProperties: false, required: ['name', 'platform', 'inputs', 'outputs'],
    properties: {
      name: { type: 'string' }, versions: { type: 'array', items: { type: 'string' } }, platform: { type: 'string' },
      inputs: { type: 'array', items: tensor }, outputs: { type: 'array', items: tensor },
    },
  },
  // a 4xx `false` answer: the protocol's fields, plus the service's error fields
  readyFalse: { type: 'object', required: ['ready', 'statusCode', 'code'], properties: { ready: { const: false } } },
  modelReadyFalse: { type: 'object', required: ['name', 'ready', 'statusCode', 'code'], properties: { name: { type: 'string' }, ready: { const: false } } },
  // the protocol's error responses are {"error": $string}; ours add fields but keep that one
  error: { type: 'object', required: ['error'], properties: { error: { type: 'string' } } },
};
const ajv = new Ajv({ strict: true, strictRequired: false, allErrors: true });
const check = (name: keyof typeof schemas, body: unknown): void => {
  const validate = ajv.compile(schemas[name]);
  assert.ok(validate(body), `${name}: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(body)}`);
};

test('OIP v2 health and metadata shapes, two models, through a real server', async (t) => {
  const app = await build(t, { MODELS: 'shapes,shapes-stock', WARMUP: 'false' });
  const base = await listen(app);
  const get = async (path: string) => {
    const res = await fetch(`${base}${path}`);
    return { status: res.status, body: await res.json() as Record<string, any> };
  };

  const live = await get('/v2/health/live');
  assert.equal(live.status, 200);
  check('live', live.body);
  assert.equal(live.body.live, true);
  const ready = await get('/v2/health/ready');
  assert.equal(ready.status, 200);
  check('ready', ready.body);
  assert.equal(ready.body.ready, true);

  for (const [name, version] of [['shapes', null], ['shapes-stock', null], ['shapes', '1.2.0'], ['shapes-maskrcnn', null]] as const) {
    const path = `/v2/models/${name}${version ? `/versions/${version}` : ''}`;
    const meta = await get(path);
    assert.equal(meta.status, 200, path);
    check('metadata', meta.body);
    assert.equal(meta.body.platform, 'onnxruntime_onnx');
    assert.deepEqual(meta.body.versions, ['1.2.0']);
    assert.deepEqual(meta.body.inputs[0], { name: 'image', datatype: 'FP32', shape: [3, -1, -1] }, path);
    const r = await get(`${path}/ready`);
    assert.equal(r.status, 200);
    check('modelReady', r.body);
    assert.deepEqual(r.body, { name: name === 'shapes-maskrcnn' ? 'shapes' : name, ready: true });
  }
  const stock = await get('/v2/models/shapes-stock');
  assert.deepEqual(stock.body.outputs.map((o: { name: string }) => o.name).sort(), ['boxes', 'labels', 'masks', 'scores']);
  assert.equal(stock.body.outputs.find((o: { name: string }) => o.name === 'labels').datatype, 'INT64');
  const loss = await get('/v2/models/shapes');
  assert.deepEqual(loss.body.inputs[1], { name: 'gt_boxes', datatype: 'FP32', shape: [-1, 4] });

  for (const path of ['/v2/models/nope', '/v2/models/nope/ready', '/v2/models/shapes/versions/9/ready', '/v2/models/shapes/versions/9']) {
    const r = await get(path);
    assert.equal(r.status, 404, path);
    check('error', r.body);
    assert.equal(r.body.code, 'MRC_ERR_MODEL_NOT_FOUND');
  }
});

test('OIP readiness is false (4xx) while the default model loads, true once warm', async () => {
  const app = await buildApp(testConfig({ WARMUP: 'true' }), { logger: false, waitForModel: false });
  try {
    // false: the protocol's 4xx, its fields, and the service's error fields beside them
    const early = await app.inject({ url: '/v2/health/ready' });
    assert.equal(early.statusCode, 400);
    check('readyFalse', early.json());
    check('error', early.json());
    assert.equal(early.json().ready, false);
    assert.equal(early.json().code, 'MRC_ERR_MODEL_NOT_READY');
    const model = await app.inject({ url: '/v2/models/shapes/ready' });
    assert.equal(model.statusCode, 400);
    check('modelReadyFalse', model.json());
    assert.deepEqual([model.json().name, model.json().ready], ['shapes', false]);
    assert.equal((await app.inject({ url: '/v2/health/live' })).statusCode, 200);
    await app.models.loaded;
    assert.equal((await app.inject({ url: '/v2/health/ready' })).statusCode, 200);
    assert.equal((await app.inject({ url: '/v2/models/shapes/ready' })).json().ready, true);
  } finally {
    await app.close();
  }
});

test('tensor metadata: ORT element types to protocol datatypes, symbolic dimensions to -1', () => {
  assert.deepEqual(oipTensor({ name: 'x', type: 'float32', shape: [3, 'H', 'W'] }), { name: 'x', datatype: 'FP32', shape: [3, -1, -1] });
  assert.deepEqual(oipTensor({ name: 'l', type: 'int64', shape: ['D'] }), { name: 'l', datatype: 'INT64', shape: [-1] });
  assert.deepEqual(oipTensor({ name: 'm', type: 'uint8', shape: [1, 2] }), { name: 'm', datatype: 'UINT8', shape: [1, 2] });
  assert.equal(oipTensor({ name: 'b', type: 'bool', shape: [] }).datatype, 'BOOL');
});
