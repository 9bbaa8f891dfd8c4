/**
 * @file Soak (long run): 10,000 /predict requests (SOAK_REQUESTS) of small PNGs in four sizes, two
 * at a time, against the real server as a child process. Every answer must be a 200 with the same
 * instances as the first answer for that image. Every 250 requests RSS (/proc/<pid>/status) is
 * sampled, and every 500 the live V8 heap: the server runs with the inspector on loopback and the
 * test asks it for a full GC (`HeapProfiler.collectGarbage`), then for the heap used
 * (`Runtime.getHeapUsage`). Heap used without a GC (`nodejs_heap_size_used_bytes`) saw-tooths by
 * 15-20% between the rare major GCs (measured: 24 -> 29 MiB over 6,000 requests, back to 25 after
 * one), which says nothing about leaks; it is recorded, not judged. The growth from after the
 * warm-up (first 10%) to the end must stay under 5% for RSS and for the live heap, each compared as
 * the minimum over a window (10-20% vs the last 10%). Numbers: test-artifacts/robustness/soak.json.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { makePng, metricValue, procRss, skipNoModel, spawnServer, writeResult } from '../helpers.js';

/** A Chrome DevTools Protocol session on the server's inspector (ws://127.0.0.1:<port>/<id>). */
async function inspector(url: string): Promise<{ call(method: string): Promise<Record<string, unknown>>; close(): void }> {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  let id = 0;
  const pending = new Map<number, (r: Record<string, unknown>) => void>();
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data)) as { id?: number; result?: Record<string, unknown>; error?: unknown };
    if (msg.id !== undefined) pending.get(msg.id)?.(msg.error ? { error: msg.error } : msg.result ?? {});
  });
  return {
    call: (method) => new Promise((resolve) => { const n = ++id; pending.set(n, resolve); ws.send(JSON.stringify({ id: n, method })); }),
    close: () => ws.close(),
  };
}

const TOTAL = Number(process.env.SOAK_REQUESTS ?? 10_000);
const CONCURRENCY = 2;
const SAMPLE_EVERY = 250;
const MAX_GROWTH = 0.05;

interface Sample { done: number; rss: number; heap: number; live?: number; t: number }
const LIVE_EVERY = 500;

test(`soak: ${TOTAL} /predict requests, RSS and live-heap growth < 5%`, { skip: skipNoModel, timeout: 4 * 3600_000 }, async () => {
  const srv = await spawnServer({ INTRA_OP_THREADS: process.env.INTRA_OP_THREADS ?? '2', NODE_OPTIONS: '--inspect=127.0.0.1:0' });
  const pid = srv.child.pid!;
  const wsUrl = /Debugger listening on (ws:\/\/\S+)/.exec(srv.output())?.[1];
  assert.ok(wsUrl, `no inspector URL in the server output:\n${srv.output().slice(0, 1000)}`);
  const cdp = await inspector(wsUrl);
  const images = [[48, 48], [64, 40], [32, 80], [96, 64]].map(([w, h]) => makePng(w!, h!));
  const expected = new Map<number, string>();
  const samples: Sample[] = [];
  let done = 0;
  let next = 0;
  const failures: string[] = [];
  const t0 = Date.now();

  const sample = async (): Promise<void> => {
    const text = await (await fetch(`${srv.baseUrl}/metrics`)).text();
    const s: Sample = { done, rss: procRss(pid), heap: metricValue(text, 'nodejs_heap_size_used_bytes'), t: (Date.now() - t0) / 1000 };
    if (done % LIVE_EVERY === 0) {
      await cdp.call('HeapProfiler.collectGarbage');
      const usage = await cdp.call('Runtime.getHeapUsage');
      assert.equal(typeof usage.usedSize, 'number', JSON.stringify(usage));
      s.live = usage.usedSize as number;
    }
    samples.push(s);
  };

  try {
    const worker = async (): Promise<void> => {
      while (next < TOTAL) {
        const k = next++ % images.length;
        const r = await fetch(`${srv.baseUrl}/predict`, { method: 'POST', body: images[k], headers: { 'content-type': 'image/png' } });
        const text = await r.text();
        if (r.status !== 200) {
          if (failures.length < 10) failures.push(`${r.status} ${text.slice(0, 200)}`);
        } else {
          const inst = JSON.stringify((JSON.parse(text) as { instances: unknown }).instances);
          if (!expected.has(k)) expected.set(k, inst);
          else if (expected.get(k) !== inst && failures.length < 10) failures.push(`image ${k}: different answer`);
        }
        done++;
        if (done % SAMPLE_EVERY === 0) await sample();
        if (done % 1000 === 0) console.log(`${done}/${TOTAL} after ${((Date.now() - t0) / 1000).toFixed(0)} s, rss ${(samples.at(-1)!.rss / 2 ** 20).toFixed(1)} MiB, heap ${(samples.at(-1)!.heap / 2 ** 20).toFixed(1)} MiB, live heap ${((samples.at(-1)!.live ?? NaN) / 2 ** 20).toFixed(1)} MiB`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await sample();
  } finally {
    cdp.close();
    const r = await srv.stop();
    assert.equal(r.code, 0, srv.output().slice(-2000));
  }

  const warm = Math.max(SAMPLE_EVERY, Math.round(TOTAL * 0.1));
  const first = samples.filter((s) => s.done >= warm && s.done <= 2 * warm);
  const last = samples.filter((s) => s.done >= TOTAL - warm);
  const min = (xs: Sample[], k: 'rss' | 'heap' | 'live'): number => Math.min(...xs.filter((s) => s[k] !== undefined).map((s) => s[k]!));
  const growth = (k: 'rss' | 'heap' | 'live'): number => min(last, k) / min(first, k) - 1;
  const summary = {
    requests: TOTAL, concurrency: CONCURRENCY, seconds: (Date.now() - t0) / 1000, failures,
    rps: TOTAL / ((Date.now() - t0) / 1000),
    rss_mib: { after_warmup: min(first, 'rss') / 2 ** 20, end: min(last, 'rss') / 2 ** 20, growth: growth('rss') },
    live_heap_mib: { after_warmup: min(first, 'live') / 2 ** 20, end: min(last, 'live') / 2 ** 20, growth: growth('live') },
    heap_used_without_gc_mib: { after_warmup: min(first, 'heap') / 2 ** 20, end: min(last, 'heap') / 2 ** 20, growth: growth('heap'), judged: false },
    samples: samples.map((s) => ({
      done: s.done, t: s.t, rss_mib: +(s.rss / 2 ** 20).toFixed(2), heap_mib: +(s.heap / 2 ** 20).toFixed(2),
      ...(s.live !== undefined ? { live_heap_mib: +(s.live / 2 ** 20).toFixed(2) } : {}),
    })),
  };
  console.log(JSON.stringify({ ...summary, samples: `${samples.length} samples` }, null, 2));
  console.log(`wrote ${writeResult('soak', summary)}`);

  assert.deepEqual(failures, []);
  assert.ok(first.length > 0 && last.length > 0, 'enough samples');
  assert.ok(summary.rss_mib.growth < MAX_GROWTH, `RSS grew ${(summary.rss_mib.growth * 100).toFixed(1)}%`);
  assert.ok(first.some((s) => s.live !== undefined) && last.some((s) => s.live !== undefined), 'live heap sampled in both windows');
  assert.ok(summary.live_heap_mib.growth < MAX_GROWTH, `live heap grew ${(summary.live_heap_mib.growth * 100).toFixed(1)}%`);
});
