/**
 * BAD INPUT on POST /predict: each case is a 4xx in the one error shape with its catalog code and
 * the offending field, and the server keeps serving afterwards. Most cases never reach the model.
 */
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { assertError, multipart, pngWithDeclaredSize, solidImage, testConfig } from '../helper.js';

describe('POST /predict rejects bad input', () => {
  let app: FastifyInstance;
  let png: Buffer;
  before(async () => {
    app = await buildApp(testConfig({ BODY_LIMIT: '64kb', MAX_IMAGE_PIXELS: '1000000' }), { logger: false });
    png = await solidImage(32, 24, 3);
  });
  after(() => app.close());

  const post = (payload: Buffer | string | undefined, headers: Record<string, string> = {}, url = '/predict') =>
    app.inject({ method: 'POST', url, headers, ...(payload !== undefined ? { payload } : {}) });

  test('empty body (with and without a content type) → 400 MRC_ERR_EMPTY_BODY', async () => {
    assertError(await post(undefined), 400, 'MRC_ERR_EMPTY_BODY', 'body');
    assertError(await post(Buffer.alloc(0), { 'content-type': 'image/png' }), 400, 'MRC_ERR_EMPTY_BODY', 'body');
  });

  test('wrong content type → 415 on headers.content-type (text, JSON, GIF, form)', async () => {
    assertError(await post('hello', { 'content-type': 'text/plain' }), 415, 'MRC_ERR_UNSUPPORTED_MEDIA_TYPE', 'headers.content-type');
    assertError(await post('{"a":1}', { 'content-type': 'application/json' }), 415, 'MRC_ERR_UNSUPPORTED_MEDIA_TYPE', 'headers.content-type');
    assertError(await post(png, { 'content-type': 'image/gif' }), 415, 'MRC_ERR_UNSUPPORTED_MEDIA_TYPE', 'headers.content-type');
    assertError(await post('a=1', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'MRC_ERR_UNSUPPORTED_MEDIA_TYPE', 'headers.content-type');
  });

  test('bytes that are not JPEG/PNG/WebP → 415 on the body (content type is not trusted)', async () => {
    assertError(await post(Buffer.from('GIF89a....'), { 'content-type': 'image/png' }), 415, 'MRC_ERR_UNSUPPORTED_MEDIA_TYPE', 'body');
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>');
    assertError(await post(svg, { 'content-type': 'image/png' }), 415, 'MRC_ERR_UNSUPPORTED_MEDIA_TYPE', 'body');
  });

  test('corrupt, truncated and zero-size images → 422 MRC_ERR_IMAGE_DECODE', async () => {
    const big = await sharp({ create: { width: 120, height: 80, channels: 3, background: '#f00' } }).png().toBuffer();
    assertError(await post(big.subarray(0, big.length - 30), { 'content-type': 'image/png' }), 422, 'MRC_ERR_IMAGE_DECODE', 'body');
    const corrupt = Buffer.from(big);
    corrupt.fill(0x41, 60, 200);
    assertError(await post(corrupt, { 'content-type': 'image/png' }), 422, 'MRC_ERR_IMAGE_DECODE', 'body');
    assertError(await post(pngWithDeclaredSize(0, 0), { 'content-type': 'image/png' }), 422, 'MRC_ERR_IMAGE_DECODE', 'body');
    const jpg = await sharp({ create: { width: 120, height: 80, channels: 3, background: '#0f0' } }).jpeg().toBuffer();
    assertError(await post(jpg.subarray(0, 300), { 'content-type': 'image/jpeg' }), 422, 'MRC_ERR_IMAGE_DECODE', 'body');
  });

  test('an image too elongated for the graph (2000x1) → 422 MRC_ERR_IMAGE_UNSUPPORTED before inference', async () => {
    const thin = await sharp({ create: { width: 2000, height: 1, channels: 3, background: '#888' } }).png().toBuffer();
    assertError(await post(thin, { 'content-type': 'image/png' }), 422, 'MRC_ERR_IMAGE_UNSUPPORTED', 'body');
  });

  test('decompression bomb (huge declared dimensions) → 413 MRC_ERR_IMAGE_TOO_LARGE before decoding', async () => {
    const res = await post(pngWithDeclaredSize(50_000, 50_000), { 'content-type': 'image/png' });
    assertError(res, 413, 'MRC_ERR_IMAGE_TOO_LARGE', 'body');
  });

  test('oversize upload → 413 MRC_ERR_PAYLOAD_TOO_LARGE (raw body and multipart file)', async () => {
    const huge = Buffer.concat([png, Buffer.alloc(70 * 1024)]);
    assertError(await post(huge, { 'content-type': 'image/png' }), 413, 'MRC_ERR_PAYLOAD_TOO_LARGE', 'body');
    const mp = multipart([{ name: 'image', filename: 'a.png', contentType: 'image/png', data: huge }]);
    assertError(await post(mp.payload, mp.headers), 413, 'MRC_ERR_PAYLOAD_TOO_LARGE');
  });

  test('bad query values → 400 MRC_ERR_VALIDATION naming querystring.<name>', async () => {
    const h = { 'content-type': 'image/png' };
    for (const [q, field] of [
      ['score_threshold=abc', 'querystring.score_threshold'],
      ['score_threshold=1.5', 'querystring.score_threshold'],
      ['score_threshold=-0.1', 'querystring.score_threshold'],
      ['max_detections=0', 'querystring.max_detections'],
      ['max_detections=1001', 'querystring.max_detections'],
      ['max_detections=2.5', 'querystring.max_detections'],
      ['mask_format=bitmap', 'querystring.mask_format'],
      ['score_threshold=1e999', 'querystring.score_threshold'],
      ['score_threshold=-Infinity', 'querystring.score_threshold'],
      ['max_detections=Infinity', 'querystring.max_detections'],
    ] as const) {
      assertError(await post(png, h, `/predict?${q}`), 400, 'MRC_ERR_VALIDATION', field);
    }
  });

  test('multipart: missing, repeated, misnamed, text-valued or non-image "image" → 4xx naming the field', async () => {
    const file = { filename: 'a.png', contentType: 'image/png', data: png };
    const send = (parts: Parameters<typeof multipart>[0]) => { const mp = multipart(parts); return post(mp.payload, mp.headers); };
    assertError(await send([]), 400, 'MRC_ERR_MULTIPART', 'image');
    assertError(await send([{ name: 'picture', ...file }]), 400, 'MRC_ERR_MULTIPART', 'picture');
    assertError(await send([{ name: 'image', ...file }, { name: 'image', ...file }]), 400, 'MRC_ERR_MULTIPART', 'image');
    assertError(await send([{ name: 'image', data: 'not a file' }]), 400, 'MRC_ERR_MULTIPART', 'image');
    assertError(await send([{ name: 'image', filename: 'a.txt', data: 'hello' }]), 415, 'MRC_ERR_UNSUPPORTED_MEDIA_TYPE', 'image');
    assertError(await send([{ name: 'image', filename: 'e.png', contentType: 'image/png', data: Buffer.alloc(0) }]), 400, 'MRC_ERR_EMPTY_BODY', 'image');
  });

  test('unknown routes and methods → 404 in the same shape; the server keeps serving', async () => {
    assertError(await app.inject({ url: '/nope' }), 404, 'MRC_ERR_NOT_FOUND', null);
    assertError(await app.inject({ method: 'GET', url: '/predict' }), 404, 'MRC_ERR_NOT_FOUND', null);
    const ok = await post(png, { 'content-type': 'image/png' }, '/predict?mask_format=none');
    assert.equal(ok.statusCode, 200, ok.body);
  });
});
