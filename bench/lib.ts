/**
 * @file Building blocks of `npm run bench` (bench/run.ts): the machine description, percentiles,
 * the raw onnxruntime-node baseline (the limit: `session.run` on the same graph, same image tensor,
 * same session options and threads as the service's inference worker), HTTP timing loops against
 * the real server, and the torchvision eager baseline (bench/torch_eager.py --serve through python3).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { decodeImage } from '../src/pipeline/decode.js';
import { buildFeeds, toChwFloat } from '../src/pipeline/preprocess.js';
import { ROOT } from '../test/robustness/helpers.js';

export const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';

/** CPU, cores, node, onnxruntime-node, torch (when python has it), load at start. */
export function machine(): Record<string, string> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? 'unknown';
  const flags = /^flags\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? '';
  const simd = ['avx512f', 'avx2', 'fma', 'avx'].filter((f) => new RegExp(`\\b${f}\\b`).test(flags)).join(' ');
  const ortPkg = JSON.parse(readFileSync(join(ROOT, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')) as { version: string };
  const torch = spawnSync(PYTHON, ['-c', 'import torch, torchvision; print(torch.__version__, torchvision.__version__)'], { encoding: 'utf8' });
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  return {
    cpu: `${model}${simd ? ` (${simd})` : ''}`,
    cores: String(availableParallelism()),
    memory: `${Math.round(Number(/MemTotal:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0) / 2 ** 20)} GiB`,
    node: process.version,
    onnxruntime_node: ortPkg.version,
    torch: torch.status === 0 ? `torch ${torch.stdout.trim().replace(' ', ', torchvision ')}` : 'not available',
    loadavg_at_start: load,
    kernel: execFileSync('uname', ['-sr'], { encoding: 'utf8' }).trim(),
  };
}

/** Nearest-rank percentile of unsorted values. */
export function pct(values: readonly number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
}

/** Latencies (ms) of `n` sequential calls after `warmup` unrecorded ones. */
export async function sequential(n: number, warmup: number, fn: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

/** Completed calls per second with `concurrency` callers looping for `seconds`. */
export async function throughput(concurrency: number, seconds: number, fn: () => Promise<unknown>): Promise<{ rps: number; done: number }> {
  const end = performance.now() + seconds * 1000;
  let done = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      await fn();
      done++;
    }
  }));
  return { rps: done / ((performance.now() - t0) / 1000), done };
}

/**
 * The raw baseline: one InferenceSession as src/pipeline/worker.ts creates it, on the main thread.
 * `options` overrides session options (bench/roofline.ts: optimization level, profiling).
 */
export async function rawSession(graph: string, threads: number, imagePath: string, options: ort.InferenceSession.SessionOptions = {}) {
  const session = await ort.InferenceSession.create(graph, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all', executionProviders: ['cpu'],
    ...options,
  });
  const image = await decodeImage(readFileSync(imagePath), { maxPixels: 40_000_000, field: 'body' });
  const feeds = buildFeeds(toChwFloat(image.data, image.width, image.height), { image: 'image', gtBoxes: 'gt_boxes' });
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const [k, t] of Object.entries(feeds)) {
    if (session.inputNames.includes(k)) ortFeeds[k] = new ort.Tensor('float32', t.data as Float32Array, [...t.dims]);
  }
  return {
    session, width: image.width, height: image.height,
    run: () => session.run(ortFeeds),
    release: () => session.release(),
  };
}

/** POST helper against the real server; throws unless 200. */
export async function post(url: string, body: Buffer | FormData, headers: Record<string, string> = {}): Promise<unknown> {
  const r = await fetch(url, { method: 'POST', body, headers });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`${url}: ${r.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/** A torch eager process in paired mode (torch_eager.py --serve): `run()` times one inference. */
export interface TorchRunner { run(): Promise<number>; close(): void; info: Record<string, unknown> }

/**
 * Resident memory of a process from /proc/PID/status, in MB: `rss_mb` now (VmRSS), `peak_mb` the
 * high-water mark (VmHWM) since start or since the last {@link resetPeak}. null where /proc is absent.
 */
export function memory(pid: number): { rss_mb: number; peak_mb: number } | null {
  try {
    const st = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(st)?.[1] ?? NaN);
    return { rss_mb: kb('VmRSS') / 1024, peak_mb: kb('VmHWM') / 1024 };
  } catch {
    return null;
  }
}

/** Resets a process's VmHWM to its current RSS (`5` > /proc/PID/clear_refs, Linux >= 4.0); false if refused. */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts bench/torch_eager.py --serve; resolves when warmed up, or with the reason it cannot run.
 * @param model an exported model folder and the checkpoint it came from (tools/model/export.py), else
 *   the default shapes model (tools/model/config.json + models/shapes/weights.pt).
 */
export async function torchRunner(threads: number, image: string, model?: { modelDir: string; checkpoint: string }): Promise<TorchRunner | { skipped: string }> {
  const probe = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return { skipped: `${PYTHON} has no torch/torchvision` };
  const extra = model ? ['--model-dir', model.modelDir, '--checkpoint', model.checkpoint] : [];
  const child = spawn(PYTHON, [join(ROOT, 'bench', 'torch_eager.py'), '--serve', '--threads', String(threads), '--image', image, ...extra], {
    cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => {
    const r = await lines.next();
    if (r.done) throw new Error(`torch_eager.py ended: ${stderr.trim().split('\n').slice(-2).join(' ')}`);
    return JSON.parse(r.value) as Record<string, unknown>;
  };
  try {
    const info = await next();
    return {
      info,
      run: async () => { child.stdin.write('run\n'); return Number((await next()).ms); },
      close: () => { child.stdin.end(); child.kill(); },
    };
  } catch (err) {
    child.kill();
    return { skipped: (err as Error).message };
  }
}
