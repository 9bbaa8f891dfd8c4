/**
 * @file Test helpers: the real app on the real default model (models/shapes), built once per file
 * with one worker and one intra-op thread (CPU is shared with other jobs), images made in code with
 * sharp, a multipart body builder for app.inject, and an assertion on the error shape.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { buildApp, type BuildOptions } from '../src/app.js';
import { loadConfig, type Config } from '../src/config.js';

export const ROOT = resolve(import.meta.dirname, '..');
export const MODEL_DIR = resolve(ROOT, 'models');

/**
 * Whether onnxruntime-node's CUDA execution provider library is installed for this platform: the
 * Docker image installs it on purpose, `npm ci` does not. Without it EXECUTION_PROVIDER=cuda must
 * fail with a clear message; with it, CUDA loads where a GPU and its driver are present, and fails
 * with that same message elsewhere.
 */
export const CUDA_EP_INSTALLED = existsSync(resolve(ROOT, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6',
  process.platform, process.arch, process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so'));

/** The message a pool or app gives when EXECUTION_PROVIDER=cuda and CUDA cannot be loaded. */
export const CUDA_UNAVAILABLE = /EXECUTION_PROVIDER=cuda but the CUDA execution provider cannot be loaded: \S/;

/** Anything with `after` (a node:test context or suite). */
export interface AfterHook { after(fn: () => unknown): void }

/** Per test process: one temp dir holding each app's DATA_DIR (the job store), removed at exit. */
let dataRoot: string | null = null;

/** A fresh DATA_DIR (an empty job store) for one app of this test process. */
export function testDataDir(): string {
  if (!dataRoot) {
    const root = mkdtempSync(join(tmpdir(), 'mrcnn-test-data-'));
    dataRoot = root;
    process.once('exit', () => rmSync(root, { recursive: true, force: true }));
  }
  return mkdtempSync(join(dataRoot, 'app-'));
}

/** Config for tests: real model, silent, 1 worker × 1 thread, a fresh DATA_DIR; `env` overrides. */
export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    MODEL_DIR, MODEL_NAME: 'shapes', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent',
    INFERENCE_WORKERS: '1', INTRA_OP_THREADS: '1', EXECUTION_PROVIDER: 'cpu', DATA_DIR: testDataDir(), ...env,
  }, [], ROOT);
}

/** Builds the real app (model loaded + warmed up) and closes it after the test/suite. */
export async function build(t: AfterHook, env: Record<string, string> = {}, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const app = await buildApp(testConfig(env), { logger: false, ...opts });
  t.after(() => app.close());
  return app;
}

/** Listens on 127.0.0.1:random; returns the base URL. */
export async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  if (typeof addr !== 'object' || addr === null) throw new Error('no TCP address');
  return `http://127.0.0.1:${addr.port}`;
}

/** One synthetic "shapes" image: flat background, a filled square, a circle and a triangle. */
export async function shapesImage(width = 256, height = 192, format: 'png' | 'jpeg' | 'webp' = 'png'): Promise<Buffer> {
  const s = Math.round(Math.min(width, height) / 6);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <rect width="100%" height="100%" fill="rgb(30,40,60)"/>
    <rect x="${s}" y="${s}" width="${2 * s}" height="${2 * s}" fill="rgb(230,200,40)"/>
    <circle cx="${width - 2 * s}" cy="${2 * s}" r="${s}" fill="rgb(240,90,90)"/>
    <polygon points="${width / 2},${height - 3 * s} ${width / 2 - 1.15 * s},${height - s} ${width / 2 + 1.15 * s},${height - s}" fill="rgb(90,230,120)"/>
  </svg>`;
  const img = sharp(Buffer.from(svg));
  return format === 'png' ? img.png().toBuffer() : format === 'jpeg' ? img.jpeg({ quality: 95 }).toBuffer() : img.webp({ lossless: true }).toBuffer();
}

/** A solid-colour image. */
export function solidImage(width: number, height: number, channels: 1 | 2 | 3 | 4, format: 'png' | 'jpeg' = 'png'): Promise<Buffer> {
  const bg = { r: 120, g: 60, b: 200, alpha: 0.5 };
  const created: 3 | 4 = channels === 3 || channels === 1 ? 3 : 4;
  let img = sharp({ create: { width, height, channels: created, background: bg } });
  if (channels <= 2) img = img.toColourspace('b-w');
  return format === 'png' ? img.png().toBuffer() : img.jpeg().toBuffer();
}

/** A part of a multipart body. */
export interface Part { name: string; data: Buffer | string; filename?: string; contentType?: string }

/** Encodes multipart/form-data for app.inject / fetch. */
export function multipart(parts: Part[]): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----mrc${randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const disp = `form-data; name="${p.name}"${p.filename !== undefined ? `; filename="${p.filename}"` : ''}`;
    const type = p.contentType ?? (p.filename !== undefined ? 'application/octet-stream' : undefined);
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disp}\r\n${type ? `Content-Type: ${type}\r\n` : ''}\r\n`));
    chunks.push(typeof p.data === 'string' ? Buffer.from(p.data) : p.data, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

/** Asserts the common error shape, its status, code and field. */
export function assertError(res: { statusCode: number; body: string; headers: Record<string, unknown> }, status: number, code: string, field?: string | null): Record<string, unknown> {
  assert.equal(res.statusCode, status, `expected ${status}, got ${res.statusCode}: ${res.body}`);
  assert.match(String(res.headers['content-type']), /application\/json/);
  const body = JSON.parse(res.body) as Record<string, unknown>;
  const keys = Object.keys(body).filter((k) => k !== 'request_id').sort();
  assert.deepEqual(keys, ['code', 'error', 'field', 'message', 'statusCode']);
  assert.equal(body.statusCode, status);
  assert.equal(body.code, code);
  assert.equal(typeof body.message, 'string');
  if (field !== undefined) assert.equal(body.field, field);
  if (status >= 500) assert.equal(typeof body.request_id, 'string');
  return body;
}

/**
 * A PNG whose IHDR declares `width`×`height` (valid CRC) followed by a tiny IDAT and IEND: sharp
 * reads the header only, so the pixel limit must refuse it before any decoding.
 */
export function pngWithDeclaredSize(width: number, height: number): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf: Buffer): number => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer): Buffer => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const c = Buffer.alloc(4); c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0); ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; ihdr[9] = 2; // 8-bit RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', Buffer.from([0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01])),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
