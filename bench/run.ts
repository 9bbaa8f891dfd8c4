/**
 * @file `npm run bench [-- --write]`: the service against its limit and its alternatives, measured
 * in the same run on this CPU, printed as a table of ratios (and, with --write, into
 * bench/RESULTS.md between the `bench:begin`/`bench:end` markers).
 *
 * 1. POST /predict (real server child process, 1 worker, BENCH_THREADS intra-op threads) vs raw
 *    `session.run` on the same graph, same image tensor, same session options and threads, in this
 *    process: p50 at concurrency 1 (goal <= 1.10x) and throughput at concurrency 4 (goal >= 0.95x).
 *    Raw and server calls are paired and interleaved so drift in machine load hits both.
 * 2. POST /predict vs torchvision eager on the same weights and threads (bench/torch_eager.py
 *    --serve, its runs interleaved with the raw and server calls), goal >= 1.5x faster (p50 vs p50).
 * 3. POST /evaluate in model mode (losses + COCO + VOC, one image) vs POST /predict on the same
 *    image, p50 vs p50, goal <= 1.5x.
 * 4. COCO evaluation throughput of src/eval on a synthetic 5000-image set (bench/coco.ts), bbox and
 *    segm, in images/s, vs pycocotools when python3 has it.
 * 5. The server process's resident memory (VmRSS / VmHWM from /proc): idle after warm-up, and the
 *    peak during each phase (the peak is reset between phases through /proc/PID/clear_refs), including
 *    a concurrency-4 /evaluate window.
 * Knobs: BENCH_THREADS (default: all cores), BENCH_RUNS (36), BENCH_SECONDS (72), BENCH_ROUNDS (12),
 * BENCH_COCO_IMAGES (5000; 0 skips), BENCH_PYTHON (/usr/bin/python3), BENCH_QUIET_WAIT_S (180: how
 * long to wait at start for the 1-minute load average to fall below 0.7; the machine may be shared).
 *
 * Any model folder: `npm run bench -- --model DIR [--image FILE --annotations COCO.json]
 * [--checkpoint FILE] [--write]`. The image must be listed in the annotations (default: the fixture
 * image and annotations). torchvision eager runs on --checkpoint built as the manifest's `export`
 * block says (tools/model/export.py); without --checkpoint that row is skipped. With --model the COCO
 * rows default to off (BENCH_COCO_IMAGES=0) and --write writes a block of its own
 * (`bench-model:<name>` markers) instead of the default one.
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { benchCoco } from './coco.js';
import { machine, memory, pct, post, rawSession, resetPeak, sequential, throughput, torchRunner } from './lib.js';
import { FIXTURE_ANNOTATIONS, FIXTURE_IMAGES, MODEL_FILE, ROOT, spawnServer } from '../test/robustness/helpers.js';

const { values: args } = parseArgs({
  options: {
    write: { type: 'boolean', default: false }, model: { type: 'string' }, image: { type: 'string' },
    annotations: { type: 'string' }, checkpoint: { type: 'string' },
  },
  strict: true,
});
const MODEL_DIR = args.model ? resolve(args.model) : null;
const MODEL_LABEL = MODEL_DIR ? basename(MODEL_DIR) : 'shapes';
const GRAPH = MODEL_DIR
  ? join(MODEL_DIR, (JSON.parse(readFileSync(join(MODEL_DIR, 'manifest.json'), 'utf8')) as { file: string }).file)
  : MODEL_FILE;
const THREADS = Number(process.env.BENCH_THREADS ?? availableParallelism());
const RUNS = Number(process.env.BENCH_RUNS ?? 36);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 72);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 12));
const COCO_IMAGES = Number(process.env.BENCH_COCO_IMAGES ?? (MODEL_DIR ? 0 : 5000));
const IMAGE = args.image ? resolve(args.image) : join(FIXTURE_IMAGES, 'sq-256.png');
const IMAGE_NAME = basename(IMAGE);
const ANNOTATIONS = args.annotations ? resolve(args.annotations) : FIXTURE_ANNOTATIONS;
const log = (msg: string): void => { process.stderr.write(`[bench] ${msg}\n`); };

/** COCO annotations of the benchmark image only (model-mode /evaluate body). */
function annotationsFor(fileName: string): string {
  const all = JSON.parse(readFileSync(ANNOTATIONS, 'utf8')) as { images: Array<{ id: number; file_name: string }>; annotations: Array<{ image_id: number }>; categories: unknown[] };
  const img = all.images.find((i) => basename(i.file_name) === fileName);
  if (!img) throw new Error(`${ANNOTATIONS} lists no image named ${fileName}`);
  return JSON.stringify({ images: [img], annotations: all.annotations.filter((a) => a.image_id === img.id), categories: all.categories });
}

const loadavg = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** Waits (up to BENCH_QUIET_WAIT_S, default 180 s) for the 1-minute load average to drop below 0.7. */
async function waitQuiet(): Promise<void> {
  const deadline = Date.now() + Number(process.env.BENCH_QUIET_WAIT_S ?? 180) * 1000;
  while (Number(loadavg().split(' ')[0]) >= 0.7 && Date.now() < deadline) {
    log(`waiting for a quieter machine: load ${loadavg()}`);
    await new Promise((r) => setTimeout(r, 15_000));
  }
}

async function main(): Promise<void> {
  await waitQuiet();
  const info = machine();
  log(`${info.cpu}, ${info.cores} cores, node ${info.node}, onnxruntime-node ${info.onnxruntime_node}; threads ${THREADS}, load ${info.loadavg_at_start}`);
  const png = readFileSync(IMAGE);
  const contentType = /\.jpe?g$/i.test(IMAGE) ? 'image/jpeg' : /\.webp$/i.test(IMAGE) ? 'image/webp' : 'image/png';
  const raw = await rawSession(GRAPH, THREADS, IMAGE);
  const srv = await spawnServer({
    INTRA_OP_THREADS: String(THREADS), INFERENCE_WORKERS: '1', QUEUE_SIZE: '16', LOG_LEVEL: 'warn',
    ...(MODEL_DIR ? { MODEL_DIR: dirname(MODEL_DIR), MODEL_NAME: basename(MODEL_DIR) } : {}),
  });
  const pid = srv.child.pid!;
  const mem: Record<string, unknown> = { idle_after_warmup: memory(pid) };
  const predict = (): Promise<unknown> => post(`${srv.baseUrl}/predict`, png, { 'content-type': contentType });
  const annotations = annotationsFor(IMAGE_NAME);
  const evaluate = (): Promise<unknown> => {
    const fd = new FormData();
    fd.append('annotations', annotations);
    fd.append('image', new Blob([png], { type: 'image/png' }), IMAGE_NAME);
    return post(`${srv.baseUrl}/evaluate`, fd);
  };

  log(`torchvision eager (bench/torch_eager.py --serve, ${THREADS} threads): loading`);
  const torchProc = MODEL_DIR && !args.checkpoint
    ? { skipped: 'no --checkpoint given for --model' }
    : await torchRunner(THREADS, IMAGE, MODEL_DIR && args.checkpoint ? { modelDir: MODEL_DIR, checkpoint: resolve(args.checkpoint) } : undefined);
  const torchMs: number[] = [];
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 100)); // let spinning pool threads go idle
  const lat = { raw: [] as number[], server: [] as number[], predict: [] as number[], evaluate: [] as number[] };
  const tp = { raw: [] as number[], server: [] as number[] };
  try {
    await sequential(0, 3, raw.run);
    await sequential(0, 3, predict);
    await sequential(0, 2, evaluate);
    mem.after_warmup_requests = memory(pid);
    // Paired and interleaved: each raw call is followed by a server call (and each /predict by an
    // /evaluate), and the concurrency-4 windows alternate, so load from other processes on this
    // machine hits both sides of every ratio alike.
    for (let r = 0; r < ROUNDS; r++) {
      const n = Math.ceil(RUNS / ROUNDS), s = SECONDS / ROUNDS;
      log(`round ${r + 1}/${ROUNDS}: concurrency 1 (${n} pairs), concurrency 4 (${s.toFixed(0)} s each), evaluate vs predict (${n} pairs); load ${loadavg()}`);
      for (let i = 0; i < n; i++) {
        lat.raw.push(...await sequential(1, 0, raw.run));
        await settle();
        lat.server.push(...await sequential(1, 0, predict));
        await settle();
        if ('run' in torchProc) {
          torchMs.push(await torchProc.run());
          await settle();
        }
      }
      tp.raw.push((await throughput(4, s, raw.run)).rps);
      resetPeak(pid);
      tp.server.push((await throughput(4, s, predict)).rps);
      (mem.predict_c4 ??= []) as unknown[];
      (mem.predict_c4 as unknown[]).push(memory(pid));
      for (let i = 0; i < n; i++) {
        lat.predict.push(...await sequential(1, 0, predict));
        lat.evaluate.push(...await sequential(1, 0, evaluate));
      }
    }
    // /evaluate at concurrency 4: what the loss outputs cost in memory (one window, SECONDS / ROUNDS)
    resetPeak(pid);
    const ev4 = await throughput(4, SECONDS / ROUNDS, evaluate);
    mem.evaluate_c4 = { ...memory(pid), rps: ev4.rps };
    mem.idle_at_end = memory(pid);
  } finally {
    await raw.release();
    await srv.stop();
    if ('close' in torchProc) torchProc.close();
  }
  const torch = 'run' in torchProc
    ? { p50_ms: pct(torchMs, 0.5), mean_ms: torchMs.reduce((a, b) => a + b, 0) / torchMs.length, runs: torchMs.length, ...torchProc.info }
    : torchProc;
  log(COCO_IMAGES > 0 ? `COCO evaluation of ${COCO_IMAGES} synthetic images` : 'COCO evaluation skipped (BENCH_COCO_IMAGES=0)');
  const coco = COCO_IMAGES > 0 ? benchCoco(COCO_IMAGES) : null;

  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const m = {
    raw_p50_ms: pct(lat.raw, 0.5), server_p50_ms: pct(lat.server, 0.5),
    raw_c4_rps: mean(tp.raw), server_c4_rps: mean(tp.server),
    predict_p50_ms: pct(lat.predict, 0.5), evaluate_p50_ms: pct(lat.evaluate, 0.5),
    torch_p50_ms: 'p50_ms' in torch ? torch.p50_ms : NaN,
  };
  const c4Ratios = tp.server.map((v, i) => v / tp.raw[i]!);
  const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2; };
  const f = (v: number, d = 1): string => (Number.isFinite(v) ? v.toFixed(d) : 'n/a');
  const rows: Array<[string, string, string, number, string, boolean | null]> = [
    ['/predict p50, concurrency 1 vs raw session.run p50', `${f(m.server_p50_ms)} ms`, `${f(m.raw_p50_ms)} ms`, m.server_p50_ms / m.raw_p50_ms, '<= 1.10x', m.server_p50_ms / m.raw_p50_ms <= 1.1],
    ['/predict throughput, concurrency 4 vs raw session.run', `${f(m.server_c4_rps, 2)} req/s`, `${f(m.raw_c4_rps, 2)} run/s`, m.server_c4_rps / m.raw_c4_rps, '>= 0.95x', m.server_c4_rps / m.raw_c4_rps >= 0.95],
    [`same, per round (${(SECONDS / ROUNDS).toFixed(0)} s windows, alternating): median [min - max]`, `${f(median(c4Ratios), 3)}x`, `[${f(Math.min(...c4Ratios), 2)} - ${f(Math.max(...c4Ratios), 2)}]`, median(c4Ratios), 'report', null],
    ['torchvision eager p50 / /predict p50 (speed-up)', `${f(m.server_p50_ms)} ms`, 'p50_ms' in torch ? `${f(m.torch_p50_ms)} ms` : torch.skipped, m.torch_p50_ms / m.server_p50_ms, '>= 1.5x', Number.isFinite(m.torch_p50_ms) ? m.torch_p50_ms / m.server_p50_ms >= 1.5 : null],
    ['same, best of the paired runs (min / min: the cost without interference)', `${f(Math.min(...lat.server))} ms`, torchMs.length ? `${f(Math.min(...torchMs))} ms` : 'n/a', Math.min(...torchMs) / Math.min(...lat.server), 'report', null],
    ['/evaluate (model mode, 1 image) p50 vs /predict p50', `${f(m.evaluate_p50_ms)} ms`, `${f(m.predict_p50_ms)} ms`, m.evaluate_p50_ms / m.predict_p50_ms, '<= 1.5x', m.evaluate_p50_ms / m.predict_p50_ms <= 1.5],
    ...memoryRows(mem),
    ...(coco ? [
      [`COCO eval bbox, ${coco.images} images (src/eval)`, `${f(coco.bbox.images_per_s, 0)} img/s`, pyCell(coco.pycocotools, 'bbox'), pyRatio(coco.pycocotools, 'bbox', coco.bbox.images_per_s), 'report', null],
      [`COCO eval segm, ${coco.images} images (src/eval)`, `${f(coco.segm.images_per_s, 0)} img/s`, pyCell(coco.pycocotools, 'segm'), pyRatio(coco.pycocotools, 'segm', coco.segm.images_per_s), 'report', null],
    ] as Array<[string, string, string, number, string, boolean | null]> : []),
  ];
  const table = [
    '| measure | service | baseline | ratio | goal | met |', '|---|---|---|---|---|---|',
    ...rows.map(([name, a, b, ratio, goal, met]) => `| ${name} | ${a} | ${b} | ${f(ratio, 3)}${Number.isFinite(ratio) ? 'x' : ''} | ${goal} | ${met === null ? '-' : met ? 'yes' : 'NO'} |`),
  ].join('\n');
  const details = {
    machine: info, settings: { model: MODEL_LABEL, graph: GRAPH, threads: THREADS, runs: RUNS, seconds_c4: SECONDS, rounds: ROUNDS, image: IMAGE_NAME },
    memory_mb: mem,
    measured: m, server_p90_ms: pct(lat.server, 0.9), raw_p90_ms: pct(lat.raw, 0.9),
    min_ms: { raw: Math.min(...lat.raw), server: Math.min(...lat.server), torch: torchMs.length ? Math.min(...torchMs) : null },
    torch_p90_ms: torchMs.length ? pct(torchMs, 0.9) : null,
    c4_rounds: tp, torch, coco, loadavg_at_end: loadavg(), finished: new Date().toISOString(),
  };
  process.stdout.write(`${table}\n\n${JSON.stringify(details, null, 2)}\n`);
  if (args.write) writeResults(table, details);
}

/** Table rows of the server's memory (MB): idle, and the peaks of the concurrency-4 phases. */
function memoryRows(mem: Record<string, unknown>): Array<[string, string, string, number, string, boolean | null]> {
  type M = { rss_mb: number; peak_mb: number } | null;
  const idle = mem.idle_after_warmup as M;
  const p4 = (mem.predict_c4 as M[] | undefined)?.filter((x): x is NonNullable<M> => x !== null) ?? [];
  const e4 = mem.evaluate_c4 as M;
  if (!idle) return [['server RSS', 'n/a', '/proc not readable', NaN, 'report', null]];
  const peakP = Math.max(...p4.map((x) => x.peak_mb));
  return [
    ['server RSS idle (after load + warm-up)', `${idle.rss_mb.toFixed(0)} MB`, `peak so far ${idle.peak_mb.toFixed(0)} MB`, NaN, 'report', null],
    ['server peak RSS, /predict at concurrency 4', `${peakP.toFixed(0)} MB`, `idle ${idle.rss_mb.toFixed(0)} MB`, peakP / idle.rss_mb, 'report', null],
    ['server peak RSS, /evaluate at concurrency 4', e4 ? `${e4.peak_mb.toFixed(0)} MB` : 'n/a', `idle ${idle.rss_mb.toFixed(0)} MB`, e4 ? e4.peak_mb / idle.rss_mb : NaN, 'report', null],
  ];
}

function pyCell(py: Record<string, unknown>, k: 'bbox' | 'segm'): string {
  const v = py[k] as { images_per_s: number } | undefined;
  return v ? `pycocotools ${v.images_per_s.toFixed(0)} img/s` : String(py.skipped ?? 'n/a');
}
function pyRatio(py: Record<string, unknown>, k: 'bbox' | 'segm', ours: number): number {
  const v = py[k] as { images_per_s: number } | undefined;
  return v ? ours / v.images_per_s : NaN;
}

/** Replaces the generated block of bench/RESULTS.md (the prose around it is kept). */
function writeResults(table: string, details: Record<string, unknown>): void {
  const file = join(ROOT, 'bench', 'RESULTS.md');
  const info = details.machine as Record<string, string>;
  const begin = MODEL_DIR ? `<!-- bench-model:${MODEL_LABEL}:begin` : '<!-- bench:begin';
  const end = MODEL_DIR ? `<!-- bench-model:${MODEL_LABEL}:end -->` : '<!-- bench:end -->';
  const block = [
    `${begin} (generated by \`npm run bench -- ${MODEL_DIR ? `--model ... ` : ''}--write\`; edit outside these markers) -->`,
    `Run finished ${String(details.finished)}. Machine: ${info.cpu}; ${info.cores} cores, ${info.memory}; ${info.kernel};`,
    `node ${info.node}; onnxruntime-node ${info.onnxruntime_node}; ${info.torch}. Load average at start: ${info.loadavg_at_start}, at end: ${String(details.loadavg_at_end)}.`,
    '', table, '', '<details><summary>All numbers (JSON)</summary>', '', '```json', JSON.stringify(details, null, 2), '```', '', '</details>',
    end,
  ].join('\n');
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n\n<!-- bench:begin --><!-- bench:end -->\n';
  const esc = (x: string): string => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const out = old.replace(new RegExp(`${esc(begin)}[\\s\\S]*?${esc(end)}`), block);
  writeFileSync(file, out.includes(block) ? out : `${old}\n${block}\n`);
  log(`wrote ${file}`);
}

await main();
