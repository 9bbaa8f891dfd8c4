/**
 * @file Faults that must not take the service down, or must take it down cleanly:
 * - start-up with the model file missing, truncated (sha256 mismatch), or garbage whose sha256 the
 *   manifest matches (onnxruntime cannot load it), or a broken manifest: the real server process
 *   (child) exits non-zero with a message naming the file; /health/live answered meanwhile;
 * - requests during start-up: 503 MRC_ERR_MODEL_NOT_READY + Retry-After, /health/live 200;
 * - the graph failing on one request (a test-only fault: that request's tensor is given a rank
 *   the real session rejects; a 2000x1 image is refused up front with 422): 500 with a request_id
 *   equal to the x-request-id header, and the next requests succeed;
 * - the inference worker thread dying: the pool starts a replacement worker; a request meanwhile
 *   gets 503 + Retry-After (never a 500 or a hang), and the next requests succeed.
 * SIGTERM under load is in the long run (test/robustness/long/shutdown.long.ts).
 */
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Worker } from 'node:worker_threads';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { extremeAspectPng } from './corpus.js';
import { fixtureImage, MODEL_DIR, MODEL_FILE, MODEL_NAME, skipNoModel, spawnServer, startApp } from './helpers.js';

const MANIFEST = join(MODEL_DIR, MODEL_NAME, 'manifest.json');
const tmpRoots: string[] = [];

/** A temp MODEL_DIR holding `shapes/` with the real manifest and whatever `graph` says. */
function brokenModelDir(graph: 'missing' | 'truncated' | 'garbage' | 'bad-manifest'): string {
  const root = mkdtempSync(join(tmpdir(), 'mrc-fault-'));
  tmpRoots.push(root);
  const dir = join(root, MODEL_NAME);
  mkdirSync(dir);
  const manifest = JSON.parse(readFileSync(MANIFEST, 'utf8')) as Record<string, unknown>;
  if (graph === 'truncated') writeFileSync(join(dir, 'model.onnx'), readFileSync(MODEL_FILE).subarray(0, 1 << 20));
  if (graph === 'garbage') {
    const bytes = randomBytes(4096);
    writeFileSync(join(dir, 'model.onnx'), bytes);
    manifest.sha256 = createHash('sha256').update(bytes).digest('hex');
  }
  if (graph === 'bad-manifest') {
    copyFileSync(MODEL_FILE, join(dir, 'model.onnx'));
    writeFileSync(join(dir, 'manifest.json'), '{"name": "shapes-maskrcnn", "version": ');
    return root;
  }
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  return root;
}

/** The `msg` of every pino JSON line (and every other line as is). */
function logMessages(out: string): string[] {
  return out.split('\n').filter((l) => l.trim() !== '').map((l) => {
    try { return String((JSON.parse(l) as { msg?: unknown }).msg ?? l); } catch { return l; }
  });
}

describe('faults at start-up (real server process)', { skip: skipNoModel }, () => {
  after(() => { for (const r of tmpRoots) rmSync(r, { recursive: true, force: true }); });

  const cases = [
    { graph: 'missing', says: /graph file "model\.onnx" of model "shapes" not found/ },
    { graph: 'truncated', says: /sha256 mismatch for .*model\.onnx/ },
    { graph: 'garbage', says: /model "shapes" \(.*model\.onnx\): .*(protobuf|parse|load|invalid)/i },
    { graph: 'bad-manifest', says: /manifest\.json is not valid JSON/ },
  ] as const;
  for (const c of cases) {
    test(`model ${c.graph}: clear error, non-zero exit`, async () => {
      const srv = await spawnServer({ MODEL_DIR: brokenModelDir(c.graph), LOG_LEVEL: 'info' }, false);
      const timer = setTimeout(() => srv.child.kill('SIGKILL'), 60_000);
      let live = 0;
      while (srv.child.exitCode === null) {
        try {
          const r = await fetch(`${srv.baseUrl}/health/live`);
          await r.arrayBuffer();
          if (r.status === 200) live++;
        } catch { /* not listening yet, or gone */ }
        await sleep(50);
      }
      const { code, signal } = await srv.exited;
      clearTimeout(timer);
      assert.equal(signal, null, `killed by ${signal}: ${srv.output().slice(-2000)}`);
      assert.notEqual(code, 0, 'exit code');
      const msgs = logMessages(srv.output());
      assert.ok(msgs.some((m) => c.says.test(m)), `no log line matches ${c.says}:\n${msgs.join('\n')}`);
      assert.ok(msgs.some((m) => m.startsWith('model failed to load')), msgs.join('\n'));
      console.log(`model ${c.graph}: exit ${code}, /health/live answered ${live} times meanwhile`);
    });
  }

  test('requests during start-up: 503 MODEL_NOT_READY + Retry-After; live answers; then ready', async () => {
    const srv = await spawnServer({}, false);
    try {
      let notReady: Response | undefined;
      let liveOk = false;
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline && !notReady) {
        try {
          liveOk ||= (await fetch(`${srv.baseUrl}/health/live`)).status === 200;
          const r = await fetch(`${srv.baseUrl}/predict`, { method: 'POST', body: fixtureImage(), headers: { 'content-type': 'image/png' } });
          if (r.status === 503) notReady = r;
          else { await r.arrayBuffer(); break; }
        } catch { await sleep(20); }
      }
      assert.ok(notReady, 'never saw the not-ready window (the model loaded before the port answered)');
      const body = await notReady.json() as Record<string, unknown>;
      assert.equal(body.code, 'MRC_ERR_MODEL_NOT_READY');
      assert.ok(Number(notReady.headers.get('retry-after')) >= 1);
      assert.ok(liveOk, '/health/live answered 200 while loading');
      const ready = await (async () => {
        while (Date.now() < deadline) {
          const r = await fetch(`${srv.baseUrl}/health/ready`);
          await r.arrayBuffer();
          if (r.status === 200) return true;
          await sleep(100);
        }
        return false;
      })();
      assert.ok(ready, 'became ready');
    } finally {
      const r = await srv.stop();
      assert.equal(r.code, 0, srv.output().slice(-1500));
    }
  });
});

describe('faults while serving', { skip: skipNoModel }, () => {
  let app: FastifyInstance;
  const png = fixtureImage('sq-256.png');
  const predict = (body: Buffer, id?: string) => app.inject({
    method: 'POST', url: '/predict', payload: body, headers: { 'content-type': 'image/png', ...(id ? { 'x-request-id': id } : {}) },
  });
  before(async () => { ({ app } = await startApp()); });
  after(async () => { await app?.close(); });

  test('the graph fails on one request: 500 with request_id, then the next requests succeed', async () => {
    // Images the graph cannot take (2000x1) are now refused up front with a 422, so the fault is
    // injected at the pool boundary: this one request's image tensor is replaced by a rank-2 one,
    // which the real worker's real onnxruntime session rejects ("invalid rank"), reported back as
    // a worker error, exactly as a graph failure would be.
    const pool = app.models.default.pipeline!.pool;
    const run = pool.run.bind(pool);
    pool.run = (feeds) => {
      pool.run = run;
      const name = Object.keys(feeds).find((k) => feeds[k]!.dims.length === 3)!;
      return run({ ...feeds, [name]: { type: 'float32', data: new Float32Array(4), dims: [2, 2] } });
    };
    try {
      const r = await predict(png, 'fault-graph-1');
      const b = r.json() as Record<string, unknown>;
      assert.equal(r.statusCode, 500, r.body);
      assert.equal(b.code, 'MRC_ERR_INFERENCE');
      assert.equal(b.request_id, 'fault-graph-1');
      assert.equal(r.headers['x-request-id'], 'fault-graph-1');
      assert.equal(b.message, 'Internal Server Error', 'the 5xx message is hidden');
    } finally {
      pool.run = run;
    }
    const elongated = await predict(extremeAspectPng());
    assert.equal(elongated.statusCode, 422, `a 2000x1 image is refused before the graph: ${elongated.body}`);
    for (let i = 0; i < 2; i++) assert.equal((await predict(png)).statusCode, 200);
    assert.equal((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode, 200);
  });

  test('the inference worker thread dies: the pool starts a replacement and requests succeed again', async () => {
    // Terminated while idle: terminating it during session.run() aborts the whole process (an
    // onnxruntime-node bug, see scripts/robustness/ort-terminate-abort.mjs and docs/robustness.md).
    const pool = app.models.default.pipeline!.pool;
    const slots = (pool as unknown as { slots: Array<{ worker: Worker }> }).slots;
    assert.equal(slots.length, 1);
    assert.equal((await predict(png)).statusCode, 200);
    const t0 = Date.now();
    await slots[0]!.worker.terminate();
    // While the replacement loads, a request gets a 503 with Retry-After (never a 500, never a hang).
    const during = await predict(png, 'fault-worker-1');
    assert.ok(during.statusCode === 200 || during.statusCode === 503, `${during.statusCode} ${during.body}`);
    if (during.statusCode === 503) assert.ok(Number(during.headers['retry-after']) >= 1);
    let next = await predict(png);
    while (next.statusCode === 503 && Date.now() - t0 < 60_000) {
      await sleep(100);
      next = await predict(png);
    }
    assert.equal(next.statusCode, 200, next.body);
    assert.equal(pool.size, 1, 'one worker again');
    console.log(`worker replaced: request during replacement got ${during.statusCode} ${(during.json() as { code?: string }).code ?? ''}; 200 again after ${Date.now() - t0} ms`);
    assert.equal((await predict(png)).statusCode, 200);
    assert.equal((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode, 200);
  });
});
