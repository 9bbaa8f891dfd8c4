/**
 * @file Bad-input corpus over every route (test/robustness/corpus.ts): each case must get a 4xx JSON
 * error in the shape of docs/service.md#errors with `code` and `field`, never a 5xx, and `/health/ready`
 * must still be 200 afterwards. Most cases go through `app.inject` on the real app (real model); a few go
 * through a real listening socket (aborted uploads, lying Content-Length, malformed HTTP). Valid-but-odd
 * images (1x1, grayscale 16-bit, alpha) must be answered 200. Cases marked `todo` are known server bugs,
 * documented in docs/robustness.md.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { badInputCorpus, extremeAspectPng } from './corpus.js';
import { assertError, fixtureImage, makePng, skipNoModel, startApp } from './helpers.js';

let app: FastifyInstance;
let baseUrl = '';

async function assertReady(label: string): Promise<void> {
  const r = await app.inject({ method: 'GET', url: '/health/ready' });
  assert.equal(r.statusCode, 200, `${label}: /health/ready answered ${r.statusCode} afterwards: ${r.body.slice(0, 200)}`);
}

/** A 200 body of a tolerated case: valid JSON whose numbers are all finite. */
function assertFiniteJson(text: string, label: string): void {
  const walk = (v: unknown, path: string): void => {
    if (typeof v === 'number') assert.ok(Number.isFinite(v), `${label}: ${path} = ${v}`);
    else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, `${path}.${k}`);
  };
  walk(JSON.parse(text), '$');
}

/** Sends raw bytes on a fresh TCP connection; resolves with what came back before close (or timeout). */
function rawHttp(bytes: Buffer | string, opts: { endAfterWrite?: boolean; timeoutMs?: number } = {}): Promise<string> {
  const url = new URL(baseUrl);
  return new Promise((resolve) => {
    const sock = connect(Number(url.port), url.hostname);
    let got = '';
    const done = (): void => { clearTimeout(timer); sock.destroy(); resolve(got); };
    const timer = setTimeout(done, opts.timeoutMs ?? 5000);
    sock.on('data', (d) => { got += d.toString('latin1'); });
    sock.on('error', done);
    sock.on('close', done);
    sock.write(bytes, () => { if (opts.endAfterWrite) sock.end(); });
  });
}

describe('bad-input corpus', { skip: skipNoModel }, () => {
  before(async () => {
    ({ app, baseUrl } = await startApp({}, true));
  });
  after(async () => {
    await app?.close();
  });

  const corpus = skipNoModel ? [] : badInputCorpus();
  test('the corpus covers at least 40 cases over every route', () => {
    assert.ok(corpus.length >= 40, `${corpus.length} cases`);
    const urls = new Set(corpus.map((c) => String(c.req.url).split('?')[0]!.replace(/\/models\/.*/, '/models/:name')));
    for (const u of ['/predict', '/evaluate', '/models/:name', '/health/ready', '/metrics']) assert.ok(urls.has(u), `no case for ${u}`);
  });

  for (const c of corpus) {
    test(c.name, c.todo ? { todo: c.todo } : {}, async (t) => {
      if (c.requires && !app.hasRoute(c.requires)) return t.skip(`${c.requires.method} ${c.requires.url} is not registered`);
      const r = await app.inject(c.req);
      if (c.tolerated && r.statusCode === 200) assertFiniteJson(r.body, c.name);
      else assertError(r.statusCode, r.headers['content-type'] as string | undefined, r.body, c.expect, c.name);
      await assertReady(c.name);
    });
  }

  test('predict: an image too elongated for the graph (2000x1) is a 4xx, not a 5xx', async () => {
    const r = await app.inject({ method: 'POST', url: '/predict', headers: { 'content-type': 'image/png' }, payload: extremeAspectPng() });
    assertError(r.statusCode, r.headers['content-type'] as string | undefined, r.body, { status: 422, field: 'body' }, '2000x1');
  });

  test('valid but odd images are answered 200: 1x1 PNG, 1x1 JPEG, 16-bit grey, RGBA, EXIF-rotated', async () => {
    const grey16 = await sharp(Buffer.alloc(32 * 24 * 2, 0x80), { raw: { width: 32, height: 24, channels: 1, premultiplied: false } }).toColourspace('grey16').png().toBuffer();
    const rgba = await sharp({ create: { width: 40, height: 30, channels: 4, background: { r: 200, g: 10, b: 10, alpha: 0.5 } } }).png().toBuffer();
    const exif = await sharp(makePng(40, 20)).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const jpeg1 = await sharp(makePng(1, 1)).jpeg().toBuffer();
    for (const [name, bytes, type, w, h] of [
      ['1x1 png', makePng(1, 1), 'image/png', 1, 1], ['1x1 jpeg', jpeg1, 'image/jpeg', 1, 1],
      ['grey16', grey16, 'image/png', 32, 24], ['rgba', rgba, 'image/png', 40, 30], ['exif 6', exif, 'image/jpeg', 20, 40],
    ] as const) {
      const r = await app.inject({ method: 'POST', url: '/predict?score_threshold=0', headers: { 'content-type': type }, payload: bytes });
      assert.equal(r.statusCode, 200, `${name}: ${r.body.slice(0, 300)}`);
      const body = r.json() as { image: { width: number; height: number }; instances: Array<{ bbox: number[] }> };
      assert.deepEqual([body.image.width, body.image.height], [w, h], name);
      for (const inst of body.instances) {
        const [x, y, bw, bh] = inst.bbox as [number, number, number, number];
        assert.ok(x >= 0 && y >= 0 && x + bw <= w + 1e-3 && y + bh <= h + 1e-3, `${name}: box ${inst.bbox} outside ${w}x${h}`);
      }
    }
    await assertReady('odd images');
  });

  describe('through a real listening socket', () => {
    test('multipart predict with a corrupt file (fetch + FormData) → 422 field image', async () => {
      const fd = new FormData();
      fd.append('image', new Blob([fixtureImage().subarray(0, 120)], { type: 'image/png' }), 'a.png');
      const r = await fetch(`${baseUrl}/predict`, { method: 'POST', body: fd });
      assertError(r.status, r.headers.get('content-type') ?? undefined, await r.text(), { status: 422, code: 'MRC_ERR_IMAGE_DECODE', field: 'image' }, 'fetch corrupt');
    });

    test('Content-Length far beyond EVAL_BODY_LIMIT is refused from the header: 413 JSON', async () => {
      const got = await rawHttp('POST /evaluate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 900000000\r\n\r\n{"a":');
      assert.match(got, /^HTTP\/1\.1 413/, got.slice(0, 200));
      const body = JSON.parse(got.slice(got.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
      assert.equal(body.code, 'MRC_ERR_PAYLOAD_TOO_LARGE');
      assert.equal(body.field, 'body');
      await assertReady('413 socket');
    });

    test('upload that stops halfway (Content-Length lies, then FIN) leaves the server healthy', async () => {
      const png = fixtureImage();
      await rawHttp(Buffer.concat([Buffer.from(`POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: ${png.length * 3}\r\n\r\n`), png]), { endAfterWrite: true, timeoutMs: 1500 });
      await assertReady('half upload');
      const r = await fetch(`${baseUrl}/health/live`);
      assert.equal(r.status, 200);
    });

    test('client aborts a multipart upload mid-stream; the next predict succeeds', async () => {
      const ac = new AbortController();
      const png = fixtureImage();
      const stream = new ReadableStream<Uint8Array>({
        start(ctrl) {
          ctrl.enqueue(new TextEncoder().encode('--b\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n'));
          ctrl.enqueue(png.subarray(0, 500));
          setTimeout(() => ac.abort(), 100);
        },
      });
      await fetch(`${baseUrl}/predict`, {
        method: 'POST', body: stream, signal: ac.signal, headers: { 'content-type': 'multipart/form-data; boundary=b' }, duplex: 'half',
      } as RequestInit).then((r) => r.arrayBuffer(), () => undefined);
      const r = await fetch(`${baseUrl}/predict`, { method: 'POST', body: png, headers: { 'content-type': 'image/png' } });
      assert.equal(r.status, 200, await r.text());
    });

    test('malformed HTTP (bad request line, invalid header) gets a 400 and the server keeps serving', async () => {
      for (const bytes of ['GARBAGE\r\n\r\n', 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n', 'GET /health/live HTTP/1.1\r\nBad Header\r\n\r\n']) {
        const got = await rawHttp(bytes, { timeoutMs: 2000 });
        assert.match(got, /^HTTP\/1\.1 400/, `${JSON.stringify(bytes)} → ${got.slice(0, 120)}`);
      }
      await assertReady('malformed http');
    });
  });
});
