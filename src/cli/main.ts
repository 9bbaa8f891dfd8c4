/**
 * @file `maskrcnn-serve evaluate`: evaluates a whole data set and prints pycocotools' 12 COCO lines,
 * mmdetection's per-class table and the mean losses (docs/jobs.md).
 *
 *   maskrcnn-serve evaluate --images DIR --annotations FILE [--server URL]     # model mode
 *   maskrcnn-serve evaluate --annotations FILE --detections FILE [--server URL] # detections mode
 *
 * With --server it submits a job (POST /evaluations) and polls it, drawing progress on stderr;
 * without, it runs the same job in this process (the app from src/app.ts, configured by the
 * service's environment variables, and its job store). Exit codes: 0 done, 1 the job or a request
 * failed, 2 usage error. bin/maskrcnn-eval.js runs the compiled copy (dist/src/cli/main.js).
 */
import { existsSync } from 'node:fs';
import { openAsBlob } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Writable } from 'node:stream';
import type { EvaluationResponse } from '../evaluation/response.js';
import { summarizeEvaluation } from '../evaluation/summary.js';
import { formatResult, type ResultLike } from './format.js';
import { ProgressBar } from './progress.js';

const USAGE = `Usage:
  maskrcnn-serve evaluate --images DIR --annotations FILE [options]      model mode: run the model on the images
  maskrcnn-serve evaluate --annotations FILE --detections FILE [options] detections mode: score COCO results

Options:
  --server URL          submit a job to a running service (e.g. http://localhost:8080) and poll it;
                        without it the evaluation runs in this process (MODEL_DIR, MODEL_NAME, ... apply)
  --iou-types LIST      bbox,segm (default: both when masks are available)
  --voc-mode MODE       area (default) | 11points
  --voc-iou-thr X       IoU threshold of the per-class table (default 0.5)
  --loss-sampling MODE  expected (default) | all
  --json FILE           also write the whole result as JSON ("-" = stdout instead of the text)
  --report FILE         also save the HTML report
  --poll-ms N           polling interval with --server (default 500)
                        a service with access control needs a token with the scope evaluate: put it in
                        the environment variable MASKRCNN_SERVE_TOKEN (docs/security.md)
  -h, --help            this text
`;

export interface CliIo {
  stdout: Writable;
  stderr: Writable & { isTTY?: boolean; columns?: number };
}

class UsageError extends Error {}

interface JobView {
  id: string;
  status: string;
  progress: { phase: string; images_done: number; images_total: number; eta_seconds: number | null };
  error: { code: string; message: string; field: string | null } | null;
  result: ResultLike | null;
}

/** Runs the CLI; resolves with the exit code. */
export async function main(argv: readonly string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let args;
  try {
    const [command, ...rest] = argv;
    if (command === '-h' || command === '--help' || command === undefined) {
      io.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    }
    if (command !== 'evaluate') throw new UsageError(`unknown command "${command}"`);
    args = parseArgs({
      args: [...rest], allowPositionals: false, strict: true,
      options: {
        images: { type: 'string' }, annotations: { type: 'string' }, detections: { type: 'string' }, server: { type: 'string' },
        'iou-types': { type: 'string' }, 'voc-mode': { type: 'string' }, 'voc-iou-thr': { type: 'string' }, 'loss-sampling': { type: 'string' },
        json: { type: 'string' }, report: { type: 'string' }, 'poll-ms': { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
    }).values;
    if (args.help) {
      io.stdout.write(USAGE);
      return 0;
    }
    if (!args.annotations) throw new UsageError('--annotations FILE is required');
    if (!args.images && !args.detections) throw new UsageError('give --images DIR (model mode) or --detections FILE (detections mode)');
    if (args.images && args.detections) throw new UsageError('--images and --detections are exclusive');
  } catch (err) {
    io.stderr.write(`maskrcnn-serve: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const query = new URLSearchParams();
  if (args['iou-types']) query.set('iou_types', args['iou-types']);
  if (args['voc-mode']) query.set('voc_mode', args['voc-mode']);
  if (args['voc-iou-thr']) query.set('voc_iou_thr', args['voc-iou-thr']);
  if (args['loss-sampling']) query.set('loss_sampling', args['loss-sampling']);
  const progress = new ProgressBar(io.stderr);
  try {
    const annotationsText = await readFile(resolve(args.annotations), 'utf8');
    const annotations = JSON.parse(annotationsText) as { images?: Array<{ file_name?: unknown }> };
    const files = args.images ? findImages(resolve(args.images), annotations, io) : [];
    const detections = args.detections ? await readFile(resolve(args.detections), 'utf8') : null;
    const run = args.server
      ? await viaServer(args.server.replace(/\/+$/, ''), query, annotationsText, files, detections, progress, Number(args['poll-ms'] ?? 500), args.report)
      : await inProcess(query, annotations, files, detections, progress, args.report);
    progress.end();
    if (run.job.status !== 'done' || !run.job.result) {
      const e = run.job.error;
      io.stderr.write(`evaluation ${run.job.status}${e ? `: ${e.code}: ${e.message}${e.field ? ` (field ${e.field})` : ''}` : ''}\n`);
      return 1;
    }
    const r = run.job.result;
    const sum = summarizeEvaluation(r as unknown as EvaluationResponse);
    const text = formatResult(r, `Evaluated ${sum.images} images, ${sum.gtInstances} GT instances, ${sum.detections} detections (${detections ? 'detections' : 'model'} mode, job ${run.job.id})`);
    if (args.json === '-') io.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    else {
      io.stdout.write(text);
      if (args.json) await writeFile(args.json, `${JSON.stringify(r, null, 2)}\n`);
    }
    if (args.report && run.report !== null) {
      await writeFile(args.report, run.report);
      io.stderr.write(`report written to ${args.report}\n`);
    }
    return 0;
  } catch (err) {
    progress.end();
    io.stderr.write(`maskrcnn-serve: ${(err as Error).message}\n`);
    return 1;
  }
}

/** The annotated images present in `dir` (by file_name, else its base name), in annotation order. */
function findImages(dir: string, annotations: { images?: Array<{ file_name?: unknown }> }, io: CliIo): Array<{ fileName: string; path: string }> {
  if (!existsSync(dir)) throw new Error(`--images: no such directory ${dir}`);
  const out: Array<{ fileName: string; path: string }> = [];
  let missing = 0;
  for (const e of annotations.images ?? []) {
    if (typeof e.file_name !== 'string') continue;
    const candidates = [join(dir, e.file_name), join(dir, basename(e.file_name))];
    const path = candidates.find((p) => existsSync(p));
    if (path) out.push({ fileName: e.file_name, path });
    else missing++;
  }
  if (missing > 0) io.stderr.write(`note: ${missing} annotated images are not in ${dir} and are left out\n`);
  if (out.length === 0) throw new Error(`--images: none of the annotated images is in ${dir}`);
  return out;
}

function show(progress: ProgressBar, j: JobView): void {
  progress.update({ status: j.status, phase: j.progress.phase, done: j.progress.images_done, total: j.progress.images_total, eta: j.progress.eta_seconds });
}

async function viaServer(
  server: string, query: URLSearchParams, annotationsText: string, files: Array<{ fileName: string; path: string }>,
  detections: string | null, progress: ProgressBar, pollMs: number, reportFile: string | undefined,
): Promise<{ job: JobView; report: string | null }> {
  const url = `${server}/evaluations${query.size > 0 ? `?${query}` : ''}`;
  // access control (docs/security.md): the token from the environment, never from a flag (process list)
  const token = process.env.MASKRCNN_SERVE_TOKEN?.trim();
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  let res: Response;
  if (detections !== null) {
    const body = `{"ground_truth":${annotationsText},"detections":${detections}}`;
    res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body });
  } else {
    const form = new FormData();
    for (const f of files) form.append('image', await openAsBlob(f.path), f.fileName);
    form.append('annotations', new Blob([annotationsText], { type: 'application/json' }), 'annotations.json');
    res = await fetch(url, { method: 'POST', body: form, headers: auth });
  }
  const accepted = await res.json() as { id?: string; code?: string; message?: string; field?: string | null };
  if (res.status !== 202 || !accepted.id) {
    const hint = res.status === 401 || res.status === 403 ? ' (set MASKRCNN_SERVE_TOKEN to a token with the scope evaluate)' : '';
    throw new Error(`${res.status} ${accepted.code ?? ''}: ${accepted.message ?? ''}${accepted.field ? ` (field ${accepted.field})` : ''}${hint}`);
  }
  let job: JobView;
  for (;;) {
    const r = await fetch(`${server}/evaluations/${accepted.id}`, { headers: auth });
    job = await r.json() as JobView;
    if (r.status !== 200) throw new Error(`GET /evaluations/${accepted.id}: ${r.status} ${JSON.stringify(job)}`);
    show(progress, job);
    if (['done', 'failed', 'cancelled'].includes(job.status)) break;
    await sleep(pollMs);
  }
  let report: string | null = null;
  if (reportFile && job.status === 'done') report = await (await fetch(`${server}/evaluations/${job.id}/report`, { headers: auth })).text();
  return { job, report };
}

async function inProcess(
  query: URLSearchParams, annotations: unknown, files: Array<{ fileName: string; path: string }>,
  detections: string | null, progress: ProgressBar, reportFile: string | undefined,
): Promise<{ job: JobView; report: string | null }> {
  const [{ buildApp }, { loadConfig }, { MemoryStore }, { JobService, detectionsTotal }, { prepareModelInput }, { jobView }, { renderReport }, { errorBody, normalizeError }] = await Promise.all([
    import('../app.js'), import('../config.js'), import('../jobs/memory-store.js'), import('../jobs/service.js'), import('../evaluation/model-input.js'),
    import('../jobs/view.js'), import('../report/html.js'), import('../errors.js'),
  ]);
  const config = loadConfig({ LOG_LEVEL: 'silent', ...process.env, JOBS_MAX_QUEUED: '1' });
  const opts = {
    ...(query.get('iou_types') ? { iouTypes: query.get('iou_types')!.split(',').map((s) => s.trim()) as Array<'bbox' | 'segm'> } : {}),
    ...(query.get('voc_mode') ? { vocMode: query.get('voc_mode') as 'area' | '11points' } : {}),
    ...(query.get('voc_iou_thr') ? { vocIouThr: Number(query.get('voc_iou_thr')) } : {}),
    lossSampling: (query.get('loss_sampling') ?? 'expected') as 'expected' | 'all',
  };
  if (opts.lossSampling !== 'expected' && opts.lossSampling !== 'all') throw new Error('--loss-sampling must be expected or all');
  // Nothing to keep after the command: the jobs live in memory. Detections mode needs no model: a
  // bare job service. Model mode: the whole app (model, workers) with the same service.
  const store = new MemoryStore();
  const app = detections === null ? await buildApp(config, { logger: false, jobs: { store } }) : null;
  const service = app ? app.jobs : new JobService({
    store, limits: config.jobs,
    model: () => Promise.reject(new Error('detections mode runs no model')),
    describeError: (err) => {
      const b = errorBody(normalizeError(err), '');
      return { statusCode: b.statusCode, code: b.code, message: b.message, field: b.field };
    },
  });
  if (!app) service.start();
  try {
    let job;
    if (detections !== null) {
      const dets = JSON.parse(detections) as unknown;
      job = await service.submit({ mode: 'detections', groundTruth: annotations, detections: dets, options: opts, total: detectionsTotal(annotations) });
    } else {
      const prepared = prepareModelInput(annotations, files.map((f, i) => ({ ...f, field: `image[${i}]` })));
      const model = app!.models.get().require();
      job = await service.submit({
        mode: 'model', annotations: prepared.annotations, options: opts, modelName: model.name, modelVersion: model.version,
        images: prepared.images.map((f, k) => ({ index: k, fileName: f.fileName, field: f.field, path: f.path })),
      });
    }
    let view = jobView(job) as unknown as JobView;
    while (!['done', 'failed', 'cancelled'].includes(view.status)) {
      show(progress, view);
      await sleep(progress.tty ? 200 : 1000);
      job = await service.get(job.id);
      view = jobView(job) as unknown as JobView;
    }
    show(progress, view);
    let report: string | null = null;
    if (reportFile && job.status === 'done') {
      const r = await service.report(job.id);
      report = renderReport(r.job, r.report);
    }
    return { job: view, report };
  } finally {
    if (app) await app.close();
    else await service.close();
    await store.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exitCode = 1;
  });
}
