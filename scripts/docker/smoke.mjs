#!/usr/bin/env node
/**
 * HTTP checks of a running container (used by scripts/docker/test.sh; plain Node >= 20, no
 * dependencies, so it runs with any node on the host and needs neither node_modules nor a build).
 *
 *   node scripts/docker/smoke.mjs --url http://127.0.0.1:18080 [--provider cpu] [--png-out f.png]
 *       [--phase full|predict]
 *
 * Checks (phase full): /health/live, /health/ready, POST /predict with a generated PNG (one filled
 * square, drawn like the shapes training data) -> instances JSON with a detection matching the
 * square, GET /models -> execution provider, GET /metrics -> Prometheus text with the model info
 * and the /predict request counted. Phase "predict" (a second container with a mounted model):
 * /health/ready + /predict + /models only.
 * Phase full also submits a detections-mode evaluation job (kept by the embedded store under
 * DATA_DIR=/data) and writes its id to --job-file; phase "after-restart" (the same container,
 * stopped and started again) checks that job is still answered, done, with the same result.
 * Prints one "PASS|FAIL <check>: detail" line per check and exits 1 if any failed.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { deflateSync } from 'node:zlib';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    provider: { type: 'string', default: 'cpu' },
    'png-out': { type: 'string' },
    phase: { type: 'string', default: 'full' },
    'job-file': { type: 'string' },
    timeout: { type: 'string', default: '120000' },
  },
});
if (!args.url) {
  console.error('usage: smoke.mjs --url http://127.0.0.1:PORT [--provider cpu|cuda] [--phase full|predict]');
  process.exit(2);
}
const base = args.url.replace(/\/$/, '');
const timeoutMs = Number(args.timeout);
const results = [];

function report(name, ok, detail) {
  results.push({ name, ok });
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}: ${detail}`);
}

async function check(name, fn) {
  try {
    const detail = await fn();
    report(name, true, detail ?? 'ok');
  } catch (err) {
    report(name, false, err instanceof Error ? err.message : String(err));
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

async function http(method, path, init = {}) {
  const res = await fetch(base + path, { method, signal: AbortSignal.timeout(timeoutMs), ...init });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { res, status: res.status, text, json, type: res.headers.get('content-type') ?? '' };
}

const short = (s, n = 300) => (s.length > n ? `${s.slice(0, n)}...` : s);

// ---------------------------------------------------------------- test image (PNG, no deps)
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
/** RGB PNG: flat background, one filled square (inclusive box), like tools/model/shapes.py. */
function makePng(w, h, bg, fg, [x0, y0, x1, y1]) {
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    const row = y * (w * 3 + 1); // filter byte 0 (None) at row start
    for (let x = 0; x < w; x++) {
      const inSq = x >= x0 && x <= x1 && y >= y0 && y <= y1;
      raw.set(inSq ? fg : bg, row + 1 + x * 3);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; ihdr[9] = 2; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0; // 8-bit RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0)),
  ]);
}
const W = 256, H = 224, HALF = Math.floor(Math.min(W, H) / 5); // half side in the training range [min/16, min/4]
const CX = W / 2 - 10, CY = H / 2 + 6;
const SQUARE = [CX - HALF, CY - HALF, CX + HALF, CY + HALF];
const png = makePng(W, H, [40, 60, 90], [235, 200, 40], SQUARE);
if (args['png-out']) writeFileSync(args['png-out'], png);

// ---------------------------------------------------------------- response helpers
/** COCO xywh -> xyxy. */
const xyxy = ([x, y, w, h]) => [x, y, x + w, y + h];
function iou(a, b) {
  const iw = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const ih = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}
/** The square as a continuous xyxy box (its pixel range is inclusive). */
const SQUARE_XYXY = [SQUARE[0], SQUARE[1], SQUARE[2] + 1, SQUARE[3] + 1];

/** Validates a /predict answer (src/schemas/predict.ts) for the test image; returns a summary. */
function checkPrediction(r) {
  assert(r.status === 200, `status ${r.status}: ${short(r.text)}`);
  assert(/application\/json/.test(r.type), `content-type ${r.type}`);
  const body = r.json;
  assert(body && Array.isArray(body.instances), `no instances array in ${short(r.text)}`);
  assert(body.image?.width === W && body.image?.height === H, `image ${JSON.stringify(body.image)}, expected ${W}x${H}`);
  assert(typeof body.model?.name === 'string', 'no model.name');
  assert(Number.isFinite(body.timings_ms?.inference), 'no timings_ms.inference');
  const inst = body.instances;
  assert(inst.length > 0, `0 instances for a clearly visible square: ${short(r.text)}`);
  for (const [i, d] of inst.entries()) {
    const where = `instance ${i} ${short(JSON.stringify(d), 160)}`;
    assert(Number.isInteger(d.category_id) && d.category_id >= 1, `${where}: category_id`);
    assert(typeof d.label === 'string' && d.label.length > 0, `${where}: label`);
    assert(typeof d.score === 'number' && d.score >= 0 && d.score <= 1, `${where}: score`);
    assert(Array.isArray(d.bbox) && d.bbox.length === 4 && d.bbox.every(Number.isFinite) && d.bbox[2] > 0 && d.bbox[3] > 0, `${where}: bbox`);
    assert(typeof d.area === 'number' && d.area > 0, `${where}: area`);
    const seg = d.segmentation;
    assert(seg && typeof seg.counts === 'string' && seg.counts.length > 0, `${where}: no RLE segmentation`);
    assert(seg.size?.[0] === H && seg.size?.[1] === W, `${where}: RLE size ${JSON.stringify(seg.size)}, expected [${H},${W}]`);
  }
  const best = inst.map((d) => ({ d, iou: iou(xyxy(d.bbox), SQUARE_XYXY) })).sort((a, b) => b.iou - a.iou)[0];
  assert(best.iou >= 0.5, `no detection overlaps the square (best IoU ${best.iou.toFixed(2)}): ${short(r.text)}`);
  assert(best.d.label === 'square', `the detection on the square is "${best.d.label}", not square`);
  const side = SQUARE[2] - SQUARE[0] + 1;
  return `${inst.length} instance(s); on the square: ${best.d.label} score ${best.d.score.toFixed(3)} IoU ${best.iou.toFixed(2)} `
    + `mask area ${best.d.area} (square ${side * side} px); inference ${body.timings_ms.inference.toFixed(0)} ms`;
}

// ---------------------------------------------------------------- checks
const full = args.phase === 'full';

if (full) {
  await check('GET /health/live', async () => {
    const r = await http('GET', '/health/live');
    assert(r.status === 200, `status ${r.status}: ${short(r.text)}`);
    return `200 ${short(r.text, 120)}`;
  });
}

await check('GET /health/ready', async () => {
  const r = await http('GET', '/health/ready');
  assert(r.status === 200, `status ${r.status}: ${short(r.text)}`);
  return `200 ${short(r.text, 160)}`;
});

let predictOk = false;
await check('POST /predict, raw image/png body (generated PNG, one square)', async () => {
  const r = await http('POST', '/predict', { body: png, headers: { 'content-type': 'image/png' } });
  const detail = checkPrediction(r);
  predictOk = true;
  return detail;
});

if (full) {
  await check('POST /predict, multipart field "image"', async () => {
    const fd = new FormData();
    fd.append('image', new Blob([png], { type: 'image/png' }), 'square.png');
    return checkPrediction(await http('POST', '/predict', { body: fd }));
  });
}

await check(`GET /models reports execution provider ${args.provider}`, async () => {
  const r = await http('GET', '/models');
  assert(r.status === 200, `status ${r.status}: ${short(r.text)}`);
  const m = r.json?.models?.[0];
  assert(m, `no models[0] in ${short(r.text)}`);
  assert(m.execution_provider === args.provider, `execution_provider "${m.execution_provider}", expected ${args.provider}`);
  const fallback = m.execution_provider_fallback_reason ? `; fallback reason: ${short(m.execution_provider_fallback_reason, 160)}` : '';
  return `${m.name} ${m.version} (${m.file}), execution_provider ${m.execution_provider}, onnxruntime ${m.onnxruntime_version}${fallback}`;
});

if (full) {
  await check('GET /metrics (Prometheus text)', async () => {
    const r = await http('GET', '/metrics');
    assert(r.status === 200, `status ${r.status}`);
    assert(/^text\/plain/.test(r.type) && /version=0\.0\.4/.test(r.type), `content-type "${r.type}"`);
    assert(/^# HELP \S+ /m.test(r.text) && /^# TYPE \S+ (counter|gauge|histogram|summary|untyped)$/m.test(r.text), 'no # HELP / # TYPE lines');
    const info = r.text.split('\n').find((l) => l.startsWith('mrcnn_model_info{'));
    assert(info, 'no mrcnn_model_info series');
    assert(info.includes(`execution_provider="${args.provider}"`), `model info: ${info}`);
    assert(/^mrcnn_model_ready(\{[^}]*\})? 1$/m.test(r.text), 'mrcnn_model_ready is not 1');
    if (predictOk) {
      const counted = r.text.split('\n').some((l) => l.startsWith('mrcnn_http_requests_total{') && l.includes('route="/predict"') && !/ 0$/.test(l));
      assert(counted, 'the /predict request is not counted in mrcnn_http_requests_total');
    }
    const series = r.text.split('\n').filter((l) => l && !l.startsWith('#')).length;
    return `${series} samples; ${info}`;
  });
}

// ---------------------------------------------------------------- jobs (the embedded store)
const JOB_GT = {
  images: [{ id: 1, file_name: 'a.png', width: 100, height: 80 }],
  categories: [{ id: 1, name: 'square' }],
  annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [10, 10, 20, 20], area: 400, iscrowd: 0,
    segmentation: [[10, 10, 30, 10, 30, 30, 10, 30]] }],
};
const JOB_DT = [{ image_id: 1, category_id: 1, bbox: [10, 10, 20, 20], score: 0.9 }];

async function waitJob(id) {
  const t0 = Date.now();
  for (;;) {
    const r = await http('GET', `/evaluations/${id}`);
    assert(r.status === 200, `GET /evaluations/${id}: ${r.status} ${short(r.text)}`);
    if (!['queued', 'running'].includes(r.json.status)) return r.json;
    assert(Date.now() - t0 < timeoutMs, `job ${id} still ${r.json.status}`);
    await new Promise((res) => setTimeout(res, 250));
  }
}

if (full && args['job-file']) {
  await check('POST /evaluations (detections mode) -> 202, done, kept in DATA_DIR', async () => {
    const r = await http('POST', '/evaluations?iou_types=bbox', {
      body: JSON.stringify({ ground_truth: JOB_GT, detections: JOB_DT }), headers: { 'content-type': 'application/json' },
    });
    assert(r.status === 202, `status ${r.status}: ${short(r.text)}`);
    const job = await waitJob(r.json.id);
    assert(job.status === 'done', `job ended ${job.status}: ${short(JSON.stringify(job.error))}`);
    // pycocotools' precision is tp / (tp + fp + eps): a perfect detection of one object gives 1 - 2e-16
    assert(Math.abs(job.result.coco.bbox.stats[0] - 1) < 1e-9, `AP ${job.result.coco.bbox.stats[0]}, expected 1`);
    writeFileSync(args['job-file'], job.id);
    return `job ${job.id} done, AP ${job.result.coco.bbox.stats[0]}`;
  });
}

if (args.phase === 'after-restart') {
  await check('the job of the first run is answered after the container restarted', async () => {
    const { readFileSync } = await import('node:fs');
    const id = readFileSync(args['job-file'], 'utf8').trim();
    const job = await waitJob(id);
    assert(job.status === 'done' && Math.abs(job.result.coco.bbox.stats[0] - 1) < 1e-9, `job ${id}: ${job.status}`);
    return `job ${id} done, AP ${job.result.coco.bbox.stats[0]}`;
  });
}

const failed = results.filter((r) => !r.ok).length;
console.log(`smoke: ${results.length - failed}/${results.length} checks passed`);
process.exit(failed ? 1 : 0);
