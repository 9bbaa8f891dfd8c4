/**
 * @file `npm run bench:roofline -- --model DIR --image IMG [--checkpoint FILE]`: how much faster than
 * torchvision eager any float32 runtime can be on this CPU, for one model and image size.
 *
 * The comparison `/predict` vs eager is a comparison of two runtimes doing the same arithmetic, so
 * the ratio is mostly the ratio of their convolution throughput on the CPU at hand. This measures
 * that, in one run:
 * - onnxruntime: the graph's multiply-adds per convolution / matrix product (from a profile at
 *   optimization level `basic`, where every Conv still has its NCHW shapes), then the time per
 *   operator at level `all` (what the service runs: NCHWc kernels, fusions), median of the runs;
 * - torchvision eager: bench/torch_profile.py (time, convolution time and FLOPs from torch.profiler,
 *   and torch's best GFLOP/s on a large matrix product and a large 3x3 convolution);
 * - the bound: eager time / (the graph's convolution FLOPs at the best rate seen in the run), the
 *   speed-up a runtime would reach if everything but the convolutions cost nothing.
 * Threads: BENCH_THREADS (default 2), on both sides.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { PYTHON, rawSession } from './lib.js';

const { values: args } = parseArgs({
  options: { model: { type: 'string' }, image: { type: 'string' }, checkpoint: { type: 'string' }, runs: { type: 'string' } },
  strict: true,
});
const ROOT = resolve(import.meta.dirname, '..');
const modelDir = resolve(args.model ?? join(ROOT, 'models/shapes'));
const image = resolve(args.image ?? join(ROOT, 'test/fixtures/losses/images/sq-256.png'));
const threads = Number(process.env.BENCH_THREADS ?? 2);
const runs = Number(args.runs ?? 3);
const manifest = JSON.parse(readFileSync(join(modelDir, 'manifest.json'), 'utf8')) as { file: string };
const graph = join(modelDir, manifest.file);

interface ProfileEvent { cat: string; name: string; dur: number; args?: { op_name?: string; input_type_shape?: Array<Record<string, number[]>>; output_type_shape?: Array<Record<string, number[]>> } }
const CONV = new Set(['Conv', 'FusedConv', 'NchwcConv', 'ConvTranspose', 'QLinearConv']);
const shape = (s: Record<string, number[]> | undefined): number[] => (s ? Object.values(s)[0]! : []);
const prod = (xs: number[]): number => xs.reduce((a, b) => a * b, 1);

/** Multiply-adds of one node from its NCHW shapes (level `basic` profile). */
function macs(e: ProfileEvent): number {
  const op = e.args?.op_name; const ins = e.args?.input_type_shape ?? []; const outs = e.args?.output_type_shape ?? [];
  if (op === 'Conv') { const w = shape(ins[1]); return prod(shape(outs[0])) * prod(w.slice(1)); }
  if (op === 'ConvTranspose') { const x = shape(ins[0]); const w = shape(ins[1]); return prod(x) * prod(w.slice(1)); }
  if (op === 'Gemm' || op === 'MatMul') { const aS = shape(ins[0]); const o = shape(outs[0]); return prod(o) * aS[aS.length - 1]!; }
  return 0;
}

async function profile(level: 'basic' | 'all', n: number) {
  const dir = mkdtempSync(join(tmpdir(), 'roofline-'));
  const raw = await rawSession(graph, threads, image, {
    graphOptimizationLevel: level, enableProfiling: true, profileFilePrefix: join(dir, 'p'),
  });
  const wall: number[] = [];
  for (let i = 0; i < n + 1; i++) { const t0 = performance.now(); await raw.run(); if (i > 0) wall.push(performance.now() - t0); }
  raw.session.endProfiling();
  await raw.release();
  const file = readdirSync(dir).find((f) => f.endsWith('.json'))!;
  const events = (JSON.parse(readFileSync(join(dir, file), 'utf8')) as ProfileEvent[]).filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
  rmSync(dir, { recursive: true, force: true });
  return { events, wall, runs: n + 1, width: raw.width, height: raw.height };
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };

const basic = await profile('basic', 1);
const perRun = basic.events.length / basic.runs;
const once = basic.events.slice(0, perRun);
const convMacs = once.filter((e) => e.args?.op_name === 'Conv' || e.args?.op_name === 'ConvTranspose').reduce((a, e) => a + macs(e), 0);
const gemmMacs = once.filter((e) => e.args?.op_name === 'Gemm' || e.args?.op_name === 'MatMul').reduce((a, e) => a + macs(e), 0);

const all = await profile('all', runs);
const per = all.events.length / all.runs;
const runTimes = (pred: (e: ProfileEvent) => boolean): number[] => Array.from({ length: all.runs - 1 }, (_, r) =>
  all.events.slice((r + 1) * per, (r + 2) * per).filter(pred).reduce((a, e) => a + e.dur, 0) / 1000);
const ortConvMs = median(runTimes((e) => CONV.has(e.args?.op_name ?? '')));
const ortGemmMs = median(runTimes((e) => ['Gemm', 'MatMul', 'FusedGemm', 'FusedMatMul'].includes(e.args?.op_name ?? '')));
const ortKernelMs = median(runTimes(() => true));
const ortWallMs = median(all.wall);

const pyArgs = ['bench/torch_profile.py', '--image', image, '--threads', String(threads), '--runs', String(runs)];
if (args.checkpoint) pyArgs.push('--model-dir', modelDir, '--checkpoint', resolve(args.checkpoint));
const py = spawnSync(PYTHON, pyArgs, { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 24 });
if (py.status !== 0) throw new Error(`torch_profile.py: ${py.stderr.slice(-2000)}`);
const torch = JSON.parse(py.stdout.trim().split('\n').pop()!) as { eager_ms: number; conv_ms: number; conv_gflop: number; gemm_gflops: number; mm_gflops: number; conv3x3_gflops: number };

const convGflop = 2 * convMacs / 1e9;
const ortConvGflops = convGflop / (ortConvMs / 1000);
const best = Math.max(torch.gemm_gflops, ortConvGflops);
const r = {
  model: modelDir, image: `${all.height}x${all.width}`, threads,
  graph_conv_gflop: convGflop, graph_gemm_gflop: 2 * gemmMacs / 1e9,
  ort_wall_ms: ortWallMs, ort_kernel_ms: ortKernelMs, ort_conv_ms: ortConvMs, ort_gemm_ms: ortGemmMs,
  ort_conv_gflops: ortConvGflops, ort_conv_share: ortConvMs / ortWallMs,
  torch_eager_ms: torch.eager_ms, torch_conv_ms: torch.conv_ms, torch_conv_gflop: torch.conv_gflop,
  torch_conv_gflops: torch.conv_gflop / (torch.conv_ms / 1000), torch_conv_share: torch.conv_ms / torch.eager_ms,
  torch_mm_gflops: torch.mm_gflops, torch_conv3x3_gflops: torch.conv3x3_gflops, best_gflops: best,
  speedup_measured: torch.eager_ms / ortWallMs,
  // everything but the convolutions free, the convolutions at the best rate seen in this run
  speedup_bound_convs_only: torch.eager_ms / (1000 * convGflop / best),
};
console.log(JSON.stringify(r, null, 1));
