/**
 * decode.ts and preprocess.ts: orientation, colour handling, every refused input with its typed
 * error's code and the status src/errors.ts maps it to, and the float conversion.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { normalizeError } from '../../src/errors.js';
import { decodeImage, sniffFormat } from '../../src/pipeline/decode.js';
import { buildFeeds, toChwFloat } from '../../src/pipeline/preprocess.js';
import { pngWithDeclaredSize, solidImage } from '../helper.js';

const opts = { maxPixels: 1_000_000, field: 'image' };

async function rejects(buf: Buffer, status: number, code: string, o = opts): Promise<void> {
  await assert.rejects(decodeImage(buf, o), (err: Error & { code?: string; field?: string }) => {
    assert.equal(err.code, code, err.message);
    assert.equal(normalizeError(err).statusCode, status);
    assert.equal(err.field, o.field);
    return true;
  });
}

test('sniffFormat recognises JPEG, PNG and WebP by magic bytes only', async () => {
  assert.equal(sniffFormat(await solidImage(2, 2, 3, 'jpeg')), 'jpeg');
  assert.equal(sniffFormat(await solidImage(2, 2, 3, 'png')), 'png');
  assert.equal(sniffFormat(await sharp({ create: { width: 2, height: 2, channels: 3, background: '#fff' } }).webp().toBuffer()), 'webp');
  assert.equal(sniffFormat(await sharp({ create: { width: 2, height: 2, channels: 3, background: '#fff' } }).gif().toBuffer()), undefined);
  assert.equal(sniffFormat(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>')), undefined);
});

test('EXIF orientation 6 is applied: a 40x20 stored JPEG decodes as 20x40, left half on top', async () => {
  // Stored: left half red, right half blue. Orientation 6 = rotate 90° clockwise for display, so
  // the stored left (red) becomes the displayed top.
  const raw = Buffer.alloc(40 * 20 * 3);
  for (let y = 0; y < 20; y++) for (let x = 0; x < 40; x++) raw.set(x < 20 ? [255, 0, 0] : [0, 0, 255], (y * 40 + x) * 3);
  const jpg = await sharp(raw, { raw: { width: 40, height: 20, channels: 3 } }).jpeg({ quality: 100 }).withMetadata({ orientation: 6 }).toBuffer();
  const img = await decodeImage(jpg, opts);
  assert.equal(img.width, 20);
  assert.equal(img.height, 40);
  const px = (x: number, y: number): number[] => [...img.data.subarray((y * 20 + x) * 3, (y * 20 + x) * 3 + 3)];
  assert.ok(px(10, 5)[0]! > 200 && px(10, 5)[2]! < 60, `top should be red, got ${px(10, 5)}`);
  assert.ok(px(10, 35)[2]! > 200 && px(10, 35)[0]! < 60, `bottom should be blue, got ${px(10, 35)}`);
});

test('grayscale, grayscale+alpha and RGBA PNGs become 3-channel RGB (alpha dropped like PIL convert)', async () => {
  for (const channels of [1, 2, 4] as const) {
    const img = await decodeImage(await solidImage(5, 4, channels), opts);
    assert.equal(img.data.length, 5 * 4 * 3, `channels=${channels}`);
    if (channels <= 2) assert.ok(img.data[0] === img.data[1] && img.data[1] === img.data[2], 'gray → equal channels');
    else assert.deepEqual([...img.data.subarray(0, 3)], [120, 60, 200]);
  }
});

test('a 1x1 image and a 16-bit PNG decode', async () => {
  const one = await decodeImage(await solidImage(1, 1, 3), opts);
  assert.deepEqual([one.width, one.height, one.data.length], [1, 1, 3]);
  const deep = await sharp({ create: { width: 3, height: 2, channels: 3, background: '#808080' } }).toColourspace('rgb16').png().toBuffer();
  const d = await decodeImage(deep, opts);
  assert.equal(d.data.length, 18);
  assert.equal(d.data[0], 128);
});

test('BAD INPUT - empty, not an image, GIF, truncated PNG, truncated JPEG, zero-size, decompression bomb', async () => {
  await rejects(Buffer.alloc(0), 400, 'MRC_ERR_EMPTY_BODY');
  await rejects(Buffer.from('definitely not an image'), 415, 'MRC_ERR_UNSUPPORTED_MEDIA_TYPE');
  await rejects(await sharp({ create: { width: 4, height: 4, channels: 3, background: '#fff' } }).gif().toBuffer(), 415, 'MRC_ERR_UNSUPPORTED_MEDIA_TYPE');
  const png = await sharp({ create: { width: 200, height: 100, channels: 3, background: '#f00' } }).png().toBuffer();
  await rejects(png.subarray(0, png.length - 30), 422, 'MRC_ERR_IMAGE_DECODE');
  await rejects(png.subarray(0, 40), 422, 'MRC_ERR_IMAGE_DECODE');
  const jpg = await sharp({ create: { width: 200, height: 100, channels: 3, background: '#0f0' } }).jpeg().toBuffer();
  await rejects(jpg.subarray(0, Math.floor(jpg.length / 2)), 422, 'MRC_ERR_IMAGE_DECODE');
  await rejects(pngWithDeclaredSize(0, 10), 422, 'MRC_ERR_IMAGE_DECODE');
  await rejects(pngWithDeclaredSize(100_000, 100_000), 413, 'MRC_ERR_IMAGE_TOO_LARGE');
  await rejects(png, 413, 'MRC_ERR_IMAGE_TOO_LARGE', { maxPixels: 200 * 100 - 1, field: 'body' });
});

test('toChwFloat: HWC uint8 → CHW float32 / 255, bit-identical to float32 division', () => {
  const rgb = new Uint8Array([0, 128, 255, 1, 2, 3]); // 2x1: (0,128,255), (1,2,3)
  const t = toChwFloat(rgb, 2, 1);
  assert.deepEqual(t.dims, [3, 1, 2]);
  const expected = [0, 1, 128, 2, 255, 3].map((v) => Math.fround(v / 255));
  assert.deepEqual([...t.data as Float32Array], expected);
  assert.throws(() => toChwFloat(rgb, 3, 1), RangeError);
});

test('buildFeeds: gt_boxes [0,4] for prediction, [G,4] for losses, absent for stock graphs', () => {
  const image = toChwFloat(new Uint8Array(3), 1, 1);
  const f = buildFeeds(image, { image: 'image', gtBoxes: 'gt_boxes' });
  assert.deepEqual(f.gt_boxes!.dims, [0, 4]);
  const g = buildFeeds(image, { image: 'image', gtBoxes: 'gt_boxes' }, new Float32Array([0, 0, 1, 1, 2, 2, 3, 3]));
  assert.deepEqual(g.gt_boxes!.dims, [2, 4]);
  assert.deepEqual(Object.keys(buildFeeds(image, { image: 'images' })), ['images']);
});
