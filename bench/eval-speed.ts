/**
 * @file `npm run bench:eval [-- --write]` (also the last step of `npm run bench`): detections-mode
 * evaluation of the generated 5000-image set (bench/eval-data.ts) timed three ways in one run:
 *
 *  - **service over HTTP**: POST /evaluate (detections mode, `iou_types` bbox, then segm) against the
 *    real server in a child process; client-side time from sending the JSON text to the parsed
 *    answer (HTTP, JSON parse, body schema, validation, COCO + the VOC table the answer carries);
 *  - **core in-process**: `JSON.parse` of the same text + src/eval's `evaluateDetections` (no HTTP);
 *  - **pycocotools** (bench/eval-pycocotools.py; PYCOCOTOOLS_DIR, default work/pycocotools/PythonAPI,
 *    or an installed module): `json.loads` of the same texts + COCO index + loadRes + evaluate +
 *    accumulate + summarize. Skipped with the reason when there is no pycocotools.
 *
 * Each is repeated (BENCH_EVAL_REPS, default 5; pycocotools BENCH_EVAL_PY_REPS, default 3) and the
 * median is reported, with min and max; the ratios are pycocotools' median / ours. The answer's 12
 * stats are checked against pycocotools' (exact equality). BENCH_EVAL_IMAGES (5000) sets the size.
 * `--write` replaces the `bench-eval` block of bench/RESULTS.md.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { evaluateDetections } from '../src/eval/index.js';
import { generateEvalSet } from './eval-data.js';
import { PYTHON, pycocotoolsDir } from './eval-speed-lib.js';
import { ROOT, spawnServer } from '../test/robustness/helpers.js';

const { values: args } = parseArgs({ options: { write: { type: 'boolean', default: false }, model: { type: 'string' } }, strict: false });
const IMAGES = Number(process.env.BENCH_EVAL_IMAGES ?? 5000);
const REPS = Math.max(1, Number(process.env.BENCH_EVAL_REPS ?? 5));
const PY_REPS = Math.max(1, Number(process.env.BENCH_EVAL_PY_REPS ?? 3));
const TYPES = ['bbox', 'segm'] as const;
type IouT = (typeof TYPES)[number];
const log = (msg: string): void => { process.stderr.write(`[bench:eval] ${msg}\n`); };

interface Series { median: number; min: number; max: number; runs: number[] }
const series = (runs: number[]): Series => {
  const s = [...runs].sort((a, b) => a - b);
  return { median: (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2, min: s[0]!, max: s[s.length - 1]!, runs };
};

async function main(): Promise<void> {
  const t0 = performance.now();
  const set = generateEvalSet(IMAGES);
  const gtText = JSON.stringify(set.gt), dtText = JSON.stringify(set.dets);
  const body = (t: IouT): string => `{"ground_truth":${gtText},"detections":${dtText},"iou_types":["${t}"]}`;
  log(`${IMAGES} images, ${set.gt.annotations.length} GT instances, ${set.dets.length} results; JSON ${((gtText.length + dtText.length) / 2 ** 20).toFixed(1)} MiB (generated in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);

  // pycocotools first (a separate process; its own repetitions)
  const py = pycocotoolsDir();
  let pyOut = null as (Record<IouT, { seconds: number[]; cpu_seconds: number[]; stats: number[] }> & { numpy?: string }) | null;
  let pySkipped = '';
  if (py.ok) {
    const dir = mkdtempSync(join(tmpdir(), 'bench-eval-'));
    try {
      writeFileSync(join(dir, 'gt.json'), gtText);
      writeFileSync(join(dir, 'dt.json'), dtText);
      log(`pycocotools (${py.path === '-' ? 'installed module' : py.path}), ${PY_REPS} repetitions per IoU type`);
      const r = spawnSync(PYTHON, [join(ROOT, 'bench', 'eval-pycocotools.py'), py.path, join(dir, 'gt.json'), join(dir, 'dt.json'), TYPES.join(','), String(PY_REPS)], { encoding: 'utf8', maxBuffer: 1 << 26 });
      if (r.status === 0) pyOut = JSON.parse(r.stdout) as typeof pyOut;
      else pySkipped = `pycocotools run failed: ${r.stderr.trim().split('\n').at(-1)}`;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  } else pySkipped = py.reason;
  if (pySkipped) log(pySkipped);

  // the core in-process: JSON text → stats
  // the first run of each kind (not in the medians): cold JIT, and for segm the ground truth's
  // masks not yet stored (src/eval/coco/gt-masks.ts), so it rasterizes them
  const first: Record<string, { wall_s: number; cpu_s: number }> = {};
  const core: Record<IouT, number[]> = { bbox: [], segm: [] };
  const coreCpu: Record<IouT, number[]> = { bbox: [], segm: [] };
  const coreStats: Partial<Record<IouT, Array<number | null>>> = {};
  for (let rep = -1; rep < REPS; rep++) {
    for (const t of TYPES) {
      const text = body(t);
      const s = performance.now(), c0 = process.cpuUsage();
      const parsed = JSON.parse(text) as { ground_truth: unknown; detections: unknown };
      const r = evaluateDetections({ groundTruth: parsed.ground_truth, detections: parsed.detections, iouTypes: [t] });
      const ms = performance.now() - s, c = process.cpuUsage(c0);
      if (rep >= 0) {
        core[t].push(ms / 1000);
        coreCpu[t].push((c.user + c.system) / 1e6);
      } else first[`core_${t}`] = { wall_s: ms / 1000, cpu_s: (c.user + c.system) / 1e6 };
      coreStats[t] = r.coco[t]!.stats;
    }
  }
  log(`core in-process: bbox ${series(core.bbox).median.toFixed(3)} s, segm ${series(core.segm).median.toFixed(3)} s (median of ${REPS})`);

  // the service over HTTP
  const srv = await spawnServer({ INFERENCE_WORKERS: '1', LOG_LEVEL: 'warn', EVAL_BODY_LIMIT: String(512 * 2 ** 20) });
  const http: Record<IouT, number[]> = { bbox: [], segm: [] };
  const httpCpu: Record<IouT, number[]> = { bbox: [], segm: [] };
  // the route's own time (its timings_ms.total: from the parsed, validated body to the answer)
  const handler: Record<IouT, number[]> = { bbox: [], segm: [] };
  const httpStats: Partial<Record<IouT, Array<number | null>>> = {};
  try {
    const bodies = { bbox: Buffer.from(body('bbox')), segm: Buffer.from(body('segm')) };
    for (let rep = -1; rep < REPS; rep++) {
      for (const t of TYPES) {
        const s = performance.now(), c0 = serverCpu(srv.child.pid!);
        const res = await fetch(`${srv.baseUrl}/evaluate`, { method: 'POST', body: bodies[t], headers: { 'content-type': 'application/json' } });
        const text = await res.text();
        const ms = performance.now() - s;
        if (res.status !== 200) throw new Error(`POST /evaluate ${res.status}: ${text.slice(0, 300)}`);
        if (rep >= 0) {
          http[t].push(ms / 1000);
          httpCpu[t].push(serverCpu(srv.child.pid!) - c0);
        } else first[`http_${t}`] = { wall_s: ms / 1000, cpu_s: serverCpu(srv.child.pid!) - c0 };
        const answer = JSON.parse(text) as { coco: Record<IouT, { stats: Array<number | null> }>; timings_ms: { total: number } };
        httpStats[t] = answer.coco[t].stats;
        if (rep >= 0) handler[t].push(answer.timings_ms.total / 1000);
      }
    }
  } finally {
    await srv.stop();
  }
  log(`service over HTTP: bbox ${series(http.bbox).median.toFixed(3)} s, segm ${series(http.segm).median.toFixed(3)} s (median of ${REPS})`);

  const rows: string[] = [
    '| IoU type | time | pycocotools | service over HTTP | ratio | core in-process | ratio | stats identical |',
    '|---|---|---|---|---|---|---|---|',
  ];
  const details: Record<string, unknown> = {};
  for (const t of TYPES) {
    const h = series(http[t]), c = series(core[t]), hc = series(httpCpu[t]), cc = series(coreCpu[t]);
    const p = pyOut ? series(pyOut[t].seconds) : null, pc = pyOut ? series(pyOut[t].cpu_seconds) : null;
    const same = pyOut ? [httpStats[t], coreStats[t]].every((st) => st!.every((v, i) => (v ?? -1) === pyOut![t].stats[i])) : null;
    const cell = (x: Series): string => `${x.median.toFixed(3)} s [${x.min.toFixed(3)} - ${x.max.toFixed(3)}]`;
    const ratio = (a: Series | null, b: Series, bold: boolean): string => (a ? (bold ? `**${(a.median / b.median).toFixed(1)}x**` : `${(a.median / b.median).toFixed(1)}x`) : 'n/a');
    const ok = same === null ? 'n/a' : same ? 'yes' : 'NO';
    rows.push(`| ${t} | wall | ${p ? cell(p) : 'n/a'} | ${cell(h)} | ${ratio(p, h, true)} | ${cell(c)} | ${ratio(p, c, false)} | ${ok} |`);
    rows.push(`| ${t} | CPU | ${pc ? cell(pc) : 'n/a'} | ${cell(hc)} (server process) | ${ratio(pc, hc, false)} | ${cell(cc)} | ${ratio(pc, cc, false)} | ${ok} |`);
    details[t] = { pycocotools_s: p, pycocotools_cpu_s: pc, http_s: h, http_server_cpu_s: hc, http_route_s: series(handler[t]), core_s: c, core_cpu_s: cc, stats: httpStats[t], pycocotools_stats: pyOut?.[t].stats ?? null, identical: same };
  }
  const f = (k: string): string => (first[k] ? `${first[k].wall_s.toFixed(3)} s wall, ${first[k].cpu_s.toFixed(3)} s CPU` : 'n/a');
  const pyFirst = pyOut ? `${pyOut.segm.seconds[0]!.toFixed(3)} s wall, ${pyOut.segm.cpu_seconds[0]!.toFixed(3)} s CPU` : 'n/a';
  rows.push(`| segm, first run (not in the medians: cold JIT, GT masks rasterized, not yet stored) | wall, CPU | ${pyFirst} | ${f('http_segm')} | ${pyOut ? `${(pyOut.segm.seconds[0]! / first.http_segm!.wall_s).toFixed(1)}x, ${(pyOut.segm.cpu_seconds[0]! / first.http_segm!.cpu_s).toFixed(1)}x` : 'n/a'} | ${f('core_segm')} | ${pyOut ? `${(pyOut.segm.seconds[0]! / first.core_segm!.wall_s).toFixed(1)}x, ${(pyOut.segm.cpu_seconds[0]! / first.core_segm!.cpu_s).toFixed(1)}x` : 'n/a'} | - |`);
  details.first_runs = first;
  const cpu = cpus()[0]?.model ?? 'unknown';
  const head = `${IMAGES} images, ${set.gt.annotations.length} GT instances, ${set.dets.length} results (bench/eval-data.ts); median [min - max] of ${REPS} runs (pycocotools ${PY_REPS}); `
    + `${cpu}, ${availableParallelism()} cores, node ${process.version}${pyOut ? `, numpy ${String(pyOut.numpy)}` : ''}; load at end ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}.`;
  const route = TYPES.map((t) => `${t} ${series(handler[t]).median.toFixed(3)} s`).join(', ');
  const table = [head, '', ...rows, '', `Inside the server, the route itself (the parsed and validated body to the answer, its \`timings_ms.total\`) takes ${route} (medians); the rest of the HTTP time is the transfer of the ${((gtText.length + dtText.length) / 2 ** 20).toFixed(1)} MiB body and its JSON parse.`, '', 'wall: elapsed time of each run; CPU: CPU time of the process doing the work (pycocotools: `time.process_time()`; core: `process.cpuUsage()`; HTTP: the server process\'s utime + stime from /proc, which includes its GC threads), steadier than wall time on a shared machine.', ...(pySkipped ? ['', `pycocotools: ${pySkipped}`] : [])].join('\n');
  process.stdout.write(`${table}\n\n${JSON.stringify(details, null, 2)}\n`);
  if (args.write && !args.model) writeBlock(table, new Date().toISOString());
  if (pyOut && rows.some((r) => r.endsWith('| NO |'))) process.exitCode = 1;
}

/** CPU seconds (utime + stime, all threads) of process `pid` so far, from /proc (10 ms ticks). */
function serverCpu(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

/** Replaces the `bench-eval` block of bench/RESULTS.md (appended when absent). */
function writeBlock(table: string, finished: string): void {
  const file = join(ROOT, 'bench', 'RESULTS.md');
  const begin = '<!-- bench-eval:begin', end = '<!-- bench-eval:end -->';
  const block = `${begin} (generated by \`npm run bench:eval -- --write\`; edit outside these markers) -->\nRun finished ${finished}. ${table}\n${end}`;
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const re = /<!-- bench-eval:begin[\s\S]*?<!-- bench-eval:end -->/;
  writeFileSync(file, re.test(old) ? old.replace(re, () => block) : `${old}\n${block}\n`);
  log(`wrote ${file}`);
}

await main();
