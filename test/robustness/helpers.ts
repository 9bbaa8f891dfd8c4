/**
 * @file Shared helpers of the robustness suite (test/robustness, scripts/robustness) and the
 * benchmarks (bench/run.ts): the real app in-process (`startApp`, for `app.inject`), the real server
 * as a child process (`spawnServer`: `node --import tsx src/server.ts`, or dist/src/server.js when
 * ROBUSTNESS_SERVER=dist), hand-crafted image bytes (PNG chunks with valid CRCs, so a header can
 * declare 20000x20000 pixels), a multipart body builder and the error-shape assertion every
 * bad-input case uses (docs/service.md#errors: `{statusCode, code, error, message, field}`).
 *
 * No mocks: the model is models/shapes (the tests skip, saying why, only when it is absent).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { deflateSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const MODEL_DIR = join(ROOT, 'models');
export const MODEL_NAME = 'shapes';
export const MODEL_FILE = join(MODEL_DIR, MODEL_NAME, 'model.onnx');
export const FIXTURE_IMAGES = join(ROOT, 'test', 'fixtures', 'losses', 'images');
export const FIXTURE_ANNOTATIONS = join(ROOT, 'test', 'fixtures', 'losses', 'annotations.json');

/** `test(name, { skip: skipNoModel }, fn)`: the only reason these tests may skip. */
export const skipNoModel: string | false = existsSync(MODEL_FILE) ? false : `model file absent: ${MODEL_FILE}`;

/** A fresh DATA_DIR (an empty job store), removed when this process exits. */
export function tempDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mrcnn-data-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Env of every app/server started here: loopback, CPU, quiet logs, a fresh DATA_DIR (overridable per call). */
export function serverEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    MODEL_DIR, MODEL_NAME, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent', EXECUTION_PROVIDER: 'cpu',
    INFERENCE_WORKERS: '1', INTRA_OP_THREADS: '1', ...(extra.DATA_DIR ? {} : { DATA_DIR: tempDataDir() }), ...extra,
  };
}

/** The real app in-process, model loaded and warmed up (not listening unless asked). */
export async function startApp(env: Record<string, string> = {}, listen = false): Promise<{ app: FastifyInstance; baseUrl: string }> {
  const { loadConfig } = await import('../../src/config.js');
  const { buildApp } = await import('../../src/app.js');
  const app = await buildApp(loadConfig(serverEnv(env), [], ROOT), { logger: false, waitForModel: true });
  let baseUrl = '';
  if (listen) {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    if (typeof addr !== 'object' || addr === null) throw new Error('server has no TCP address');
    baseUrl = `http://127.0.0.1:${addr.port}`;
  }
  return { app, baseUrl };
}

/** A TCP port that is free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => res(port));
    });
  });
}

/** A server child process. `output` accumulates stdout+stderr; `exited` resolves with the exit code. */
export interface ServerProcess {
  child: ChildProcess;
  baseUrl: string;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit status. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The command that starts the real server (src via tsx, or the compiled dist). */
export function serverCommand(): string[] {
  if (process.env.ROBUSTNESS_SERVER === 'dist') return [join(ROOT, 'dist', 'src', 'server.js')];
  return ['--import', 'tsx', join(ROOT, 'src', 'server.ts')];
}

/**
 * Starts the real server as a child process on a free loopback port.
 * @param waitReady wait until GET /health/ready answers 200 (default true).
 */
export async function spawnServer(env: Record<string, string> = {}, waitReady = true, timeoutMs = 120_000): Promise<ServerProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, serverCommand(), {
    cwd: ROOT,
    env: { ...process.env, ...serverEnv({ LOG_LEVEL: 'warn', ...env }), PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    child.once('exit', (code, signal) => res({ code, signal }));
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  const proc: ServerProcess = {
    child, baseUrl, exited, output: () => out,
    async stop(graceMs = 15_000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        const r = await exited;
        clearTimeout(timer);
        return r;
      }
      return exited;
    },
  };
  if (waitReady) {
    const deadline = Date.now() + timeoutMs;
    let done = false;
    void exited.then(() => { done = true; });
    while (!done && Date.now() < deadline) {
      try {
        const r = await fetch(`${baseUrl}/health/ready`);
        await r.arrayBuffer();
        if (r.status === 200) return proc;
      } catch { /* not listening yet */ }
      await sleep(200);
    }
    await proc.stop(2000);
    throw new Error(`server did not become ready (${done ? 'exited' : 'timeout'}):\n${out.slice(-3000)}`);
  }
  return proc;
}

// ---------------------------------------------------------------------------------------------
// Image bytes

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (PNG, zlib polynomial). */
export function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** One PNG chunk: length, type, data, CRC over type+data (`badCrc` flips it). */
export function pngChunk(type: string, data: Buffer, badCrc = false): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE((crc32(td) ^ (badCrc ? 1 : 0)) >>> 0);
  return Buffer.concat([len, td, crc]);
}

/** IHDR data: 8-bit RGB (colour type 2) unless given. */
export function ihdr(width: number, height: number, bitDepth = 8, colorType = 2): Buffer {
  const d = Buffer.alloc(13);
  d.writeUInt32BE(width, 0);
  d.writeUInt32BE(height, 4);
  d[8] = bitDepth;
  d[9] = colorType;
  return d; // compression 0, filter 0, interlace 0
}

/** A valid 8-bit RGB PNG; `pixel(x, y)` gives [r, g, b] (default: a bright square on dark grey). */
export function makePng(width: number, height: number, pixel?: (x: number, y: number) => [number, number, number]): Buffer {
  const px = pixel ?? ((x: number, y: number): [number, number, number] => {
    const inside = x >= width / 4 && x < (3 * width) / 4 && y >= height / 4 && y < (3 * height) / 4;
    return inside ? [220, 60, 60] : [30, 30, 30];
  });
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x++) raw.set(px(x, y), row + 1 + x * 3);
  }
  return Buffer.concat([
    PNG_SIGNATURE, pngChunk('IHDR', ihdr(width, height)), pngChunk('IDAT', deflateSync(raw)), pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A PNG whose IHDR (valid CRC) declares width x height but whose IDAT holds one tiny row. */
export function pngDeclaring(width: number, height: number): Buffer {
  return Buffer.concat([
    PNG_SIGNATURE, pngChunk('IHDR', ihdr(width, height)), pngChunk('IDAT', deflateSync(Buffer.alloc(64))), pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A baseline JPEG header (SOI + SOF0) declaring width x height, then EOI: no scan data. */
export function jpegDeclaring(width: number, height: number): Buffer {
  const sof = Buffer.from([0xff, 0xc0, 0x00, 0x11, 0x08, height >> 8, height & 0xff, width >> 8, width & 0xff, 0x03,
    0x01, 0x11, 0x00, 0x02, 0x11, 0x00, 0x03, 0x11, 0x00]);
  return Buffer.concat([Buffer.from([0xff, 0xd8]), sof, Buffer.from([0xff, 0xd9])]);
}

/** Fixture image bytes (test/fixtures/losses/images). */
export function fixtureImage(name = 'sq-256.png'): Buffer {
  return readFileSync(join(FIXTURE_IMAGES, name));
}

// ---------------------------------------------------------------------------------------------
// HTTP

/** A multipart/form-data part (a file when `filename` is set). */
export interface Part {
  name: string;
  data: Buffer | string;
  filename?: string;
  contentType?: string;
}

/** Builds a multipart body; `truncate` cuts it before the closing boundary. */
export function multipart(parts: Part[], opts: { boundary?: string; truncate?: boolean } = {}): { payload: Buffer; headers: Record<string, string> } {
  const boundary = opts.boundary ?? `----robustness${Math.random().toString(16).slice(2)}`;
  const chunks: Buffer[] = [];
  for (const p of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"`;
    if (p.filename !== undefined) head += `; filename="${p.filename}"`;
    head += '\r\n';
    if (p.contentType ?? p.filename) head += `Content-Type: ${p.contentType ?? 'application/octet-stream'}\r\n`;
    chunks.push(Buffer.from(`${head}\r\n`), Buffer.isBuffer(p.data) ? p.data : Buffer.from(p.data), Buffer.from('\r\n'));
  }
  if (!opts.truncate) chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

/** What a bad-input case expects: a status (or list), the catalog code, and `field` when known. */
export interface ExpectedError {
  status: number | number[];
  code?: string | RegExp;
  /** Exact field, a pattern, or `null` when the error has no input path. */
  field?: string | RegExp | null;
}

/** Asserts the error shape (docs/service.md#errors) and the expectation; returns the parsed body. */
export function assertError(status: number, contentType: string | undefined, text: string, exp: ExpectedError, label: string): Record<string, unknown> {
  const statuses = Array.isArray(exp.status) ? exp.status : [exp.status];
  assert.ok(status < 500, `${label}: server error ${status}: ${text.slice(0, 300)}`);
  assert.ok(statuses.includes(status), `${label}: status ${status}, expected ${statuses.join('|')}: ${text.slice(0, 300)}`);
  assert.match(contentType ?? '', /application\/json/, `${label}: content-type ${contentType}`);
  const body = JSON.parse(text) as Record<string, unknown>;
  assert.equal(body.statusCode, status, `${label}: body.statusCode`);
  assert.equal(typeof body.code, 'string', `${label}: code`);
  assert.match(body.code as string, /^MRC_ERR_[A-Z_]+$/, `${label}: code ${String(body.code)}`);
  assert.equal(typeof body.error, 'string', `${label}: error`);
  assert.equal(typeof body.message, 'string', `${label}: message`);
  assert.ok('field' in body, `${label}: no "field" key`);
  if (exp.code !== undefined) {
    if (typeof exp.code === 'string') assert.equal(body.code, exp.code, `${label}: code (${String(body.message)})`);
    else assert.match(body.code as string, exp.code, `${label}: code`);
  }
  if (exp.field === null) assert.equal(body.field, null, `${label}: field`);
  else if (typeof exp.field === 'string') assert.equal(body.field, exp.field, `${label}: field (${String(body.message)})`);
  else if (exp.field instanceof RegExp) assert.match(String(body.field), exp.field, `${label}: field (${String(body.message)})`);
  return body;
}

/** Quantile of a sorted array (nearest rank). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Resident set size of a process from /proc (Linux), in bytes. */
export function procRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(status);
  return m ? Number(m[1]) * 1024 : NaN;
}

/** The value of an unlabelled sample `name` in Prometheus text, or NaN. */
export function metricValue(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{\\})? ([^ \\n]+)`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** Writes a long-run result as JSON under test-artifacts/robustness/ and returns the path. */
export function writeResult(name: string, data: unknown): string {
  const dir = join(ROOT, 'test-artifacts', 'robustness');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}
