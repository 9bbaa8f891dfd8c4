/**
 * errors.ts: the mapping of every error source to {statusCode, code, error, message, field}, the
 * 5xx rules (generic message, request_id) and Retry-After on 503s, on a bare Fastify instance.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { Type } from '@sinclair/typebox';
import { Errors, installErrorHandlers, normalizeError, withField } from '../../src/errors.js';
import { InputError } from '../../src/eval/errors.js';
import { assertError } from '../helper.js';

test('normalizeError: catalog, InputError, Fastify and multipart codes', () => {
  assert.deepEqual(normalizeError(new InputError('ground_truth.annotations[2].bbox', 'bad box', 422)),
    { statusCode: 422, code: 'MRC_ERR_INVALID_INPUT', message: 'bad box', field: 'ground_truth.annotations[2].bbox' });
  assert.equal(normalizeError(new InputError('x', 'm', 413)).statusCode, 413);
  assert.deepEqual(normalizeError(withField(new Errors.IMAGE_DECODE('oops'), 'image')),
    { statusCode: 422, code: 'MRC_ERR_IMAGE_DECODE', message: 'Cannot decode image: oops', field: 'image' });
  const fst = (code: string, statusCode: number) => Object.assign(new Error(code), { code, statusCode });
  assert.equal(normalizeError(fst('FST_ERR_CTP_INVALID_MEDIA_TYPE', 415)).field, 'headers.content-type');
  assert.equal(normalizeError(fst('FST_ERR_CTP_BODY_TOO_LARGE', 413)).code, 'MRC_ERR_PAYLOAD_TOO_LARGE');
  assert.equal(normalizeError(fst('FST_REQ_FILE_TOO_LARGE', 413)).statusCode, 413);
  assert.equal(normalizeError(fst('FST_INVALID_MULTIPART_CONTENT_TYPE', 406)).statusCode, 415);
  assert.equal(normalizeError(fst('FST_ERR_CTP_EMPTY_JSON_BODY', 400)).code, 'MRC_ERR_EMPTY_BODY');
  assert.equal(normalizeError(new Error('boom')).code, 'MRC_ERR_INTERNAL');
  assert.equal(normalizeError('a string').statusCode, 500);
});

test('validation errors name the input path: querystring.x, body.a[0].b, missing properties', async (t) => {
  const app = Fastify({ logger: false });
  t.after(() => app.close());
  installErrorHandlers(app);
  app.post('/v', {
    schema: {
      querystring: Type.Object({ n: Type.Optional(Type.Integer({ maximum: 3 })) }),
      body: Type.Object({ a: Type.Array(Type.Object({ b: Type.Number() })), req: Type.String() }),
    },
  }, async () => ({ ok: true }));
  const q = await app.inject({ method: 'POST', url: '/v?n=9', payload: { a: [], req: 'x' } });
  assertError(q, 400, 'MRC_ERR_VALIDATION', 'querystring.n');
  const b = await app.inject({ method: 'POST', url: '/v', payload: { a: [{ b: 'no' }], req: 'x' } });
  assertError(b, 400, 'MRC_ERR_VALIDATION', 'body.a[0].b');
  const m = await app.inject({ method: 'POST', url: '/v', payload: { a: [] } });
  assertError(m, 400, 'MRC_ERR_VALIDATION', 'body.req');
});

test('5xx: generic message + request_id, except the fixed 503 texts; 503s carry Retry-After', async (t) => {
  const app = Fastify({ logger: false });
  t.after(() => app.close());
  installErrorHandlers(app);
  app.get('/boom', async () => { throw new Error('secret internals at /etc/passwd'); });
  app.get('/infer', async () => { throw new Errors.INFERENCE('node 42 failed'); });
  app.get('/busy', async () => { throw Object.assign(new Errors.QUEUE_FULL(), { retryAfter: 7 }); });
  const boom = assertError(await app.inject({ url: '/boom' }), 500, 'MRC_ERR_INTERNAL', null);
  assert.equal(boom.message, 'Internal Server Error');
  const infer = assertError(await app.inject({ url: '/infer' }), 500, 'MRC_ERR_INFERENCE', null);
  assert.equal(infer.message, 'Internal Server Error');
  const busy = await app.inject({ url: '/busy' });
  const body = assertError(busy, 503, 'MRC_ERR_QUEUE_FULL', null);
  assert.equal(body.message, 'Inference queue is full, retry later');
  assert.equal(busy.headers['retry-after'], '7');
});
