/**
 * @file Soak (long run): 10,000 /predict requests (SOAK_REQUESTS) of small PNGs in four sizes, two
 * at a time, against the real server as a child process. Every answer must be a 200 with the same
 * instances as the first answer for that image. RSS (/proc/<pid>/status) and V8 heap used
 * (`nodejs_heap_size_used_bytes` from /metrics) are sampled every 250 requests; the growth from
 * after the warm-up (first 10%) to the end must stay under 5%. Heap and RSS are compared as the
 * minimum over a window (the first 10% after warm-up vs the last 10%), so a GC that happens to be
 * pending at one sample does not count as growth. Numbers: test-artifacts/robustness/soak.json.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makePng, metricValue, procRss, skipNoModel, spawnServer, writeResult } from '../helpers.js';

const TOTAL = Number(process.env.SOAK_REQUESTS ?? 10_000);
const CONCURRENCY = 2;
const SAMPLE_EVERY = 250;
const MAX_GROWTH = 0.05;

interface Sample { done: number; rss: number; heap: number; t: number }

test(`soak: ${TOTAL} /predict requests, RSS and heap growth < 5%`, { skip: skipNoModel, timeout: 4 * 3600_000 }, async () => {
  const srv = await spawnServer({ INTRA_OP_THREADS: process.env.INTRA_OP_THREADS ?? '2' });
  const pid = srv.child.pid!;
  const images = [[48, 48], [64, 40], [32, 80], [96, 64]].map(([w, h]) => makePng(w!, h!));
  const expected = new Map<number, string>();
  const samples: Sample[] = [];
  let done = 0;
  let next = 0;
  const failures: string[] = [];
  const t0 = Date.now();

  const sample = async (): Promise<void> => {
    const text = await (await fetch(`${srv.baseUrl}/metrics`)).text();
    samples.push({ done, rss: procRss(pid), heap: metricValue(text, 'nodejs_heap_size_used_bytes'), t: (Date.now() - t0) / 1000 });
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
        if (done % 1000 === 0) console.log(`${done}/${TOTAL} after ${((Date.now() - t0) / 1000).toFixed(0)} s, rss ${(samples.at(-1)!.rss / 2 ** 20).toFixed(1)} MiB, heap ${(samples.at(-1)!.heap / 2 ** 20).toFixed(1)} MiB`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await sample();
  } finally {
    const r = await srv.stop();
    assert.equal(r.code, 0, srv.output().slice(-2000));
  }

  const warm = Math.max(SAMPLE_EVERY, Math.round(TOTAL * 0.1));
  const first = samples.filter((s) => s.done >= warm && s.done <= 2 * warm);
  const last = samples.filter((s) => s.done >= TOTAL - warm);
  const min = (xs: Sample[], k: 'rss' | 'heap'): number => Math.min(...xs.map((s) => s[k]));
  const growth = (k: 'rss' | 'heap'): number => min(last, k) / min(first, k) - 1;
  const summary = {
    requests: TOTAL, concurrency: CONCURRENCY, seconds: (Date.now() - t0) / 1000, failures,
    rps: TOTAL / ((Date.now() - t0) / 1000),
    rss_mib: { after_warmup: min(first, 'rss') / 2 ** 20, end: min(last, 'rss') / 2 ** 20, growth: growth('rss') },
    heap_mib: { after_warmup: min(first, 'heap') / 2 ** 20, end: min(last, 'heap') / 2 ** 20, growth: growth('heap') },
    samples: samples.map((s) => ({ done: s.done, t: s.t, rss_mib: +(s.rss / 2 ** 20).toFixed(2), heap_mib: +(s.heap / 2 ** 20).toFixed(2) })),
  };
  console.log(JSON.stringify({ ...summary, samples: `${samples.length} samples` }, null, 2));
  console.log(`wrote ${writeResult('soak', summary)}`);

  assert.deepEqual(failures, []);
  assert.ok(first.length > 0 && last.length > 0, 'enough samples');
  assert.ok(summary.rss_mib.growth < MAX_GROWTH, `RSS grew ${(summary.rss_mib.growth * 100).toFixed(1)}%`);
  assert.ok(summary.heap_mib.growth < MAX_GROWTH, `heap grew ${(summary.heap_mib.growth * 100).toFixed(1)}%`);
});
