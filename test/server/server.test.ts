/**
 * Through real sockets: fetch against a listening app (raw and multipart uploads), liveness while
 * real inferences run, the bounded queue (503 + Retry-After), 503 for requests arriving during
 * shutdown while the in-flight one finishes, and src/server.ts as a process: SIGTERM finishes the
 * running request and exits 0; a forced shutdown (timeout, second signal) during an inference
 * exits 1 instead of aborting; a model that cannot load exits 1 with the reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { build, listen, MODEL_DIR, ROOT, shapesImage } from '../helper.js';

async function timed(url: string): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(url);
  await res.arrayBuffer();
  return { status: res.status, ms: performance.now() - t0 };
}

test('fetch: raw and multipart uploads over HTTP; /health/live answers quickly during inference', async (t) => {
  const app = await build(t, { QUEUE_SIZE: '4' });
  const base = await listen(app);
  const png = await shapesImage(320, 240);
  const raw = await fetch(`${base}/predict?score_threshold=0.05`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: png });
  assert.equal(raw.status, 200);
  const form = new FormData();
  form.append('image', new Blob([png], { type: 'image/png' }), 'shapes.png');
  const mp = await fetch(`${base}/predict?score_threshold=0.05`, { method: 'POST', body: form });
  assert.equal(mp.status, 200);
  assert.deepEqual(((await mp.json()) as { instances: unknown }).instances, ((await raw.json()) as { instances: unknown }).instances);

  // Three real inferences queued back to back (~1 s each here); poll liveness meanwhile.
  const pending = [1, 2, 3].map(() => fetch(`${base}/predict`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: png }));
  const probes: Array<{ status: number; ms: number; busy: number }> = [];
  for (let i = 0; i < 8; i++) {
    await sleep(60);
    const busy = app.models.default.pipeline!.pool.busy;
    probes.push({ ...(await timed(`${base}/health/live`)), busy });
  }
  const done = await Promise.all(pending);
  assert.deepEqual(done.map((r) => r.status), [200, 200, 200]);
  const during = probes.filter((p) => p.busy > 0);
  assert.ok(during.length >= 3, `probes during inference: ${JSON.stringify(probes)}`);
  for (const p of during) {
    assert.equal(p.status, 200);
    assert.ok(p.ms < 250, `/health/live took ${p.ms.toFixed(0)} ms while inference ran`);
  }
});

test('queue full → 503 MRC_ERR_QUEUE_FULL with Retry-After; the running request still succeeds', async (t) => {
  const app = await build(t, { QUEUE_SIZE: '0' });
  const base = await listen(app);
  const png = await shapesImage(320, 240);
  const post = () => fetch(`${base}/predict?mask_format=none`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: png });
  const first = post();
  while (app.models.default.pipeline!.pool.busy === 0) await sleep(5);
  const second = await post();
  assert.equal(second.status, 503);
  assert.ok(Number(second.headers.get('retry-after')) >= 1);
  const body = (await second.json()) as { code: string; request_id: unknown };
  assert.equal(body.code, 'MRC_ERR_QUEUE_FULL');
  assert.equal(typeof body.request_id, 'string');
  assert.equal((await first).status, 200);
});

test('during shutdown: the in-flight request finishes, a request arriving on the open connection gets 503', async (t) => {
  const app = await build(t);
  const base = await listen(app);
  const port = Number(new URL(base).port);
  const png = await shapesImage(320, 240);
  const sock = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  sock.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve) => sock.on('close', () => resolve()));
  sock.write(`POST /predict?mask_format=none HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: ${png.length}\r\n\r\n`);
  sock.write(png);
  while (app.models.default.pipeline!.pool.busy === 0) await sleep(5);
  const closing = app.close();
  await sleep(20);
  sock.write('GET /health/ready HTTP/1.1\r\nHost: x\r\n\r\n');
  await Promise.race([ended, sleep(30_000)]);
  await closing;
  const text = Buffer.concat(chunks).toString('latin1');
  const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
  assert.deepEqual(statuses, [200, 503], text.slice(0, 400));
  assert.match(text, /MRC_ERR_SHUTTING_DOWN/);
});

function startServer(env: Record<string, string>): {
  proc: ReturnType<typeof spawn>; exit: Promise<number | null>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>; output: () => string;
} {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'server.ts')], {
    cwd: ROOT,
    env: { ...process.env, MODEL_DIR, HOST: '127.0.0.1', INFERENCE_WORKERS: '1', INTRA_OP_THREADS: '1', EXECUTION_PROVIDER: 'cpu', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  proc.stderr!.on('data', (c: Buffer) => { out += c.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const exit = exited.then((e) => e.code);
  return { proc, exit, exited, output: () => out };
}

test('src/server.ts: SIGTERM lets the running predict finish, then exits 0', async () => {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const { proc, exit, output } = startServer({ PORT: String(port) });
  try {
    const base = `http://127.0.0.1:${port}`;
    let ready = false;
    for (let i = 0; i < 300 && !ready; i++) {
      await sleep(100);
      ready = await fetch(`${base}/health/ready`).then((r) => r.status === 200, () => false);
    }
    assert.ok(ready, `server never became ready:\n${output()}`);
    const png = await shapesImage(320, 240);
    const inflight = fetch(`${base}/predict?mask_format=none`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: png });
    await sleep(150);
    proc.kill('SIGTERM');
    const res = await inflight;
    assert.equal(res.status, 200, output());
    assert.equal(await exit, 0, output());
    assert.match(output(), /shutting down/);
    await assert.rejects(fetch(`${base}/health/live`));
  } finally {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  }
});

/** Starts src/server.ts on a random port and waits until ready. */
async function readyServer(env: Record<string, string>): Promise<ReturnType<typeof startServer> & { base: string }> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const s = startServer({ PORT: String(port), ...env });
  const base = `http://127.0.0.1:${port}`;
  let ready = false;
  for (let i = 0; i < 300 && !ready; i++) {
    await sleep(100);
    ready = await fetch(`${base}/health/ready`).then((r) => r.status === 200, () => false);
  }
  assert.ok(ready, `server never became ready:\n${s.output()}`);
  return { ...s, base };
}

/** Every answer to a request cut by a forced shutdown: a 200, or a 503 JSON error. */
async function answers(reqs: Array<Promise<Response>>): Promise<string[]> {
  return Promise.all(reqs.map(async (p) => {
    const r = await p;
    const body = await r.text();
    if (r.status === 200) return '200';
    assert.equal(r.status, 503, body);
    return `503 ${(JSON.parse(body) as { code: string }).code}`;
  }));
}

/**
 * Forced shutdowns used to abort the process (SIGABRT from onnxruntime-node when the process exits
 * inside session.run()); now queued work gets 503 and the exit waits for the run in progress.
 * Sends at least `requests` 320x240 predictions (more when this machine's measured latency says a
 * smaller backlog would be done within `mustOutlastMs`), then the signals, 100 ms apart; expects
 * exit 1 with no signal, the log line `says`, every request answered 200 or 503, and at least one 503.
 */
async function forcedShutdown(env: Record<string, string>, requests: number, signals: number, says: RegExp, mustOutlastMs: number): Promise<void> {
  // The backlog must still hold work when the last signal lands (and, for the timeout case, when
  // the timeout fires): sized from this machine's measured latency, so a fast machine (or a GPU)
  // does not drain it before the signal and a slow one does not need more time.
  const png = await shapesImage(320, 240);
  const QUEUE = 256;
  const s = await readyServer({ QUEUE_SIZE: String(QUEUE), ...env });
  try {
    const one = async (): Promise<number> => {
      const t0 = performance.now();
      const r = await fetch(`${s.base}/predict?mask_format=none`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: png });
      await r.arrayBuffer();
      return performance.now() - t0;
    };
    await one(); // warm
    const latencyMs = Math.min(await one(), await one());
    const backlog = Math.min(QUEUE, Math.max(requests, Math.ceil((3 * mustOutlastMs) / latencyMs) + 2));
    const reqs = Array.from({ length: backlog }, () => fetch(`${s.base}/predict?mask_format=none`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: png }));
    await sleep(200);
    for (let i = 0; i < signals; i++) {
      if (i > 0) await sleep(100);
      s.proc.kill('SIGTERM');
    }
    const got = await answers(reqs);
    const { code, signal } = await s.exited;
    assert.equal(signal, null, `died by ${signal}:\n${s.output().slice(-1500)}`);
    assert.equal(code, 1, `${backlog} requests of ~${latencyMs.toFixed(0)} ms:\n${s.output().slice(-1500)}`);
    assert.match(s.output(), says);
    assert.ok(got.includes('503 MRC_ERR_SHUTTING_DOWN'), `the backlog was cut: ${got.join(', ')}`);
  } finally {
    if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
  }
}

test('src/server.ts: a backlog outlasting SHUTDOWN_TIMEOUT_MS: forced exit 1 (not SIGABRT), every request answered', () =>
  forcedShutdown({ SHUTDOWN_TIMEOUT_MS: '300' }, 6, 1, /killed by timeout \(300 ms\)/, 200 + 300));

test('src/server.ts: a second SIGTERM during an inference: exit 1 after that run, not SIGABRT', () =>
  forcedShutdown({ SHUTDOWN_TIMEOUT_MS: '60000' }, 4, 2, /second SIGTERM/, 200 + 100));

test('src/server.ts: a model that cannot load exits 1 with the reason; bad config exits 2', async () => {
  const bad = startServer({ PORT: '0', MODEL_NAME: 'no-such-model' });
  assert.equal(await bad.exit, 1);
  assert.match(bad.output(), /model folder \\?"no-such-model\\?" not found/);
  const cfg = startServer({ PORT: 'eighty' });
  assert.equal(await cfg.exit, 2);
  assert.match(cfg.output(), /Invalid configuration: PORT must be an integer/);
});
