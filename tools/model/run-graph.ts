/**
 * @file Runs an exported model folder through the service itself, one JSON line per image: the
 * detections exactly as POST /predict answers them (graph → pasted masks → compressed RLE) and the
 * five losses as POST /evaluate answers them, in each requested sampling mode. tools/model/verify.py
 * compares these lines with eager torchvision; usable alone:
 *
 *   node --import tsx tools/model/run-graph.ts --model models/mine --images DIR --annotations coco.json \
 *     [--sampling all,expected] [--threads N] [--outputs proposals,det_scores] [--rgb-dir DIR]
 *
 * The real server (src/server.ts) is started as a child process on a loopback port with
 * MODEL_DIR/MODEL_NAME pointing at the folder (so the manifest and sha256 checks, the worker thread and
 * its onnxruntime-node session are the service's), then for every image listed in the annotations:
 *   POST /predict?score_threshold=0&max_detections=100&mask_format=rle   (what /evaluate keeps too)
 *   POST /evaluate?loss_sampling=<mode>  with the image and its own annotations, per mode
 * Only the public HTTP API is used, so the script follows the service through refactorings.
 *
 * Line: {"file_name", "image_id", "width", "height", "instances": [/predict instances: category_id,
 * label, score, bbox (xywh), area, segmentation {size, counts}], "losses": {"<mode>": /evaluate
 * losses.per_image[0]}, "gt": [{category_id, bbox, counts}] (non-crowd annotations in file order, masks
 * rasterised by src/eval as compressed RLE strings; the box when there is no segmentation),
 * "outputs"?: {name: {dims, dtype, b64}}}. --outputs NAMES adds raw graph outputs (little-endian) from
 * a separate onnxruntime-node session created as the service's worker creates it (same graph, same
 * options), fed the image and its GT boxes: diagnostics only. --rgb-dir DIR writes each image as the
 * service decodes it (src/pipeline/decode.ts) to DIR/<file name>.rgb (HWC uint8), so the eager side
 * can run on the very same pixels. Errors: one line on stderr, exit code 1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { segmentationToRle } from '../../src/eval/index.js';
import { frBbox } from '../../src/eval/polygon.js';
import { countsToString } from '../../src/eval/rle.js';
import { decodeImage } from '../../src/pipeline/decode.js';

const ROOT = resolve(import.meta.dirname, '..', '..');

const { values: a } = parseArgs({
  options: {
    model: { type: 'string' }, images: { type: 'string' }, annotations: { type: 'string' },
    sampling: { type: 'string', default: 'all,expected' }, threads: { type: 'string', default: '1' },
    outputs: { type: 'string', default: '' }, 'rgb-dir': { type: 'string' },
  },
  strict: true,
});

let server = null as ChildProcess | null;
/** The server's last output (for error messages). */
let serverOutput = '';
// Never leave the server behind: on exit, on a signal, and when our reader goes away (EPIPE).
process.on('exit', () => { server?.kill('SIGKILL'); });
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => process.exit(1));
process.stdout.on('error', () => process.exit(1));
function fail(msg: string): never {
  process.stderr.write(`run-graph: ${msg.split('\n')[0]}\n`);
  server?.kill('SIGKILL');
  process.exit(1);
}

if (!a.model || !a.images || !a.annotations) fail('usage: --model DIR --images DIR --annotations FILE [--sampling all,expected] [--threads N]');
const modes = a.sampling.split(',').map((s) => s.trim()).filter(Boolean);
for (const m of modes) if (m !== 'all' && m !== 'expected') fail(`--sampling: "${m}" is not all or expected`);
const wanted = a.outputs.split(',').map((s) => s.trim()).filter(Boolean);
const modelDir = resolve(a.model);
type Json = Record<string, unknown>;
function readJson<T>(file: string, what: string): T {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch (err) {
    return fail(`cannot read ${what} ${file}: ${(err as Error).message}`);
  }
}
const gtJson = readJson<{ images?: Json[]; annotations?: Json[]; categories?: unknown[] }>(resolve(a.annotations), 'the annotations');
const manifest = readJson<{ file: string; input?: { name?: string }; gt_input?: string }>(join(modelDir, 'manifest.json'), 'the model manifest');

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => res(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

/** The real server on the model folder; resolves with its base URL once /health/ready is 200. */
async function startServer(): Promise<string> {
  const port = await freePort();
  server = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'server.ts')], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env, MODEL_DIR: dirname(modelDir), MODEL_NAME: basename(modelDir), HOST: '127.0.0.1', PORT: String(port),
      LOG_LEVEL: 'warn', EXECUTION_PROVIDER: 'cpu', INFERENCE_WORKERS: '1', INTRA_OP_THREADS: a.threads, WARMUP: 'false',
    },
  });
  const keep = (d: Buffer): void => { serverOutput = (serverOutput + d.toString()).slice(-20_000); };
  server.stdout!.on('data', keep);
  server.stderr!.on('data', keep);
  let exited = false;
  server.once('exit', () => { exited = true; });
  const url = `http://127.0.0.1:${port}`;
  for (let t = Date.now(); Date.now() - t < 300_000 && !exited;) {
    try {
      const r = await fetch(`${url}/health/ready`);
      await r.arrayBuffer();
      if (r.status === 200) return url;
    } catch { /* not listening yet */ }
    await sleep(250);
  }
  const last = serverOutput.trim().split('\n').filter(Boolean).pop() ?? '';
  return fail(`the service did not start on ${modelDir}${last ? `: ${last.slice(0, 400)}` : ''}`);
}

async function call(url: string, body: Buffer | FormData, headers: Record<string, string> = {}): Promise<Json> {
  let r: Response | null = null;
  for (let attempt = 1; !r; attempt++) {
    try {
      r = await fetch(url, { method: 'POST', body, headers });
    } catch (err) {
      const last = serverOutput.trim().split('\n').filter(Boolean).slice(-2).join(' | ');
      if (server?.exitCode !== null || attempt >= 3) {
        throw new Error(`${new URL(url).pathname}: ${(err as Error).message} (${(err as { cause?: Error }).cause?.message ?? ''}); server ${server?.exitCode !== null ? `exited with ${String(server?.exitCode ?? server?.signalCode)}` : 'running'}${last ? `: ${last.slice(0, 300)}` : ''}`);
      }
      await sleep(1000);
    }
  }
  const text = await r.text();
  if (r.status !== 200) {
    let msg = text.slice(0, 300);
    try {
      const e = JSON.parse(text) as Json;
      msg = `${String(e.code ?? r.status)}: ${String(e.message ?? '')}${e.field ? ` (field ${String(e.field)})` : ''}`;
    } catch { /* not JSON */ }
    throw new Error(`${new URL(url).pathname} answered ${r.status} ${msg}`);
  }
  return JSON.parse(text) as Json;
}

const mime = (f: string): string => (/\.jpe?g$/i.test(f) ? 'image/jpeg' : /\.webp$/i.test(f) ? 'image/webp' : 'image/png');

const base = await startServer();
let raw: { run(feeds: Record<string, unknown>): Promise<Record<string, { dims: readonly number[]; type: string; data: ArrayLike<unknown> & { buffer: ArrayBufferLike; byteOffset: number; byteLength: number } }>>; Tensor: new (t: string, d: unknown, dims: number[]) => unknown } | null = null;
if (wanted.length) {
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(join(modelDir, manifest.file), {
    intraOpNumThreads: Number(a.threads), interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all', executionProviders: ['cpu'],
  });
  raw = { run: (feeds) => session.run(feeds as never) as never, Tensor: ort.Tensor as never };
}
try {
  for (const entry of gtJson.images ?? []) {
    const fileName = String(entry.file_name);
    const bytes = readFileSync(join(resolve(a.images), basename(fileName)));
    const anns = (gtJson.annotations ?? []).filter((x) => x.image_id === entry.id);
    const H = Number(entry.height), W = Number(entry.width);
    const pred = await call(`${base}/predict?score_threshold=0&max_detections=100&mask_format=rle`, bytes, { 'content-type': mime(fileName) });
    const losses: Json = {};
    for (const mode of modes) {
      const fd = new FormData();
      fd.append('annotations', JSON.stringify({ images: [entry], annotations: anns, categories: gtJson.categories ?? [] }));
      fd.append('image', new Blob([bytes], { type: mime(fileName) }), basename(fileName));
      const ev = await call(`${base}/evaluate?loss_sampling=${mode}`, fd);
      const block = ev.losses as { per_image?: Json[] } | null;
      if (!block?.per_image?.[0]) throw new Error(`/evaluate gave no losses for ${fileName}: ${String(ev.losses_unavailable ?? 'losses is null')}`);
      losses[mode] = block.per_image[0];
    }
    const kept = anns.filter((x) => !x.iscrowd);
    const gt = kept.map((x, i) => {
      const bbox = (x.bbox as number[]).map(Number);
      const counts = x.segmentation !== undefined && x.segmentation !== null
        ? segmentationToRle(x.segmentation, `annotations[${i}].segmentation`, H, W).counts
        : frBbox(bbox, H, W);
      return { category_id: x.category_id, bbox, counts: countsToString(counts) };
    });
    let image: Awaited<ReturnType<typeof decodeImage>> | null = null;
    if (a['rgb-dir'] || raw) image = await decodeImage(bytes, { maxPixels: 2 ** 31 - 1, field: 'image' });
    if (a['rgb-dir']) {
      mkdirSync(a['rgb-dir'], { recursive: true });
      writeFileSync(join(a['rgb-dir'], `${basename(fileName)}.rgb`), image!.data);
    }
    const outputs: Json = {};
    if (raw && image) {
      const chw = new Float32Array(3 * H * W);
      for (let p = 0, n = H * W; p < n; p++) for (let c = 0; c < 3; c++) chw[c * n + p] = image.data[p * 3 + c]! / 255;
      const boxes = new Float32Array(gt.flatMap((g) => [g.bbox[0]!, g.bbox[1]!, g.bbox[0]! + g.bbox[2]!, g.bbox[1]! + g.bbox[3]!]));
      const res = await raw.run({
        [manifest.input?.name ?? 'image']: new raw.Tensor('float32', chw, [3, H, W]),
        [manifest.gt_input ?? 'gt_boxes']: new raw.Tensor('float32', boxes, [gt.length, 4]),
      });
      for (const name of wanted) {
        const t = res[name];
        if (!t) fail(`--outputs: the graph has no output "${name}"`);
        outputs[name] = { dims: t.dims, dtype: t.type, b64: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('base64') };
      }
    }
    process.stdout.write(`${JSON.stringify({
      file_name: fileName, image_id: entry.id, width: W, height: H, instances: pred.instances, losses, gt,
      ...(wanted.length ? { outputs } : {}),
    })}\n`);
  }
} catch (err) {
  fail((err as Error).message);
} finally {
  server?.kill('SIGTERM');
}
