/**
 * @file Measures the model card's numbers: COCO box/mask AP of the default model on a held-out
 * split (through the service's own predict pipeline and evaluation core, i.e. exactly what a user
 * gets), and raw onnxruntime-node latency on a 256x256 image.
 *
 *   /usr/bin/python3 tools/model/make_dataset.py --seed 3000 --count 200 --out work/heldout
 *   npx tsx scripts/model-card.ts work/heldout [--threads 2] [--out work/model-card.json]
 *
 * Detections: every instance the graph returns (its own score threshold 0.05, at most 100), as
 * COCO results with compressed RLE masks; evaluated with src/eval (pycocotools semantics).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { evaluateDetections } from '../src/eval/index.js';

const args = process.argv.slice(2);
const dir = resolve(args[0] ?? 'work/heldout');
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
};
const threads = Number(opt('threads', '2'));
const outFile = opt('out', 'work/model-card.json');
const root = resolve(import.meta.dirname, '..');

const gt = JSON.parse(await readFile(join(dir, 'annotations.json'), 'utf8')) as {
  images: Array<{ id: number; file_name: string }>;
};
const config = loadConfig({
  MODEL_DIR: process.env.CARD_MODEL_DIR ?? join(root, 'models'), MODEL_NAME: 'shapes', LOG_LEVEL: 'warn', EXECUTION_PROVIDER: 'cpu',
  INFERENCE_WORKERS: '1', INTRA_OP_THREADS: String(threads), QUEUE_SIZE: '1000',
}, [], root);
const app = await buildApp(config, { logger: false });
const results: object[] = [];
const t0 = performance.now();
for (const im of gt.images) {
  const bytes = await readFile(join(dir, 'images', im.file_name));
  const p = await app.models.get().require().predict(bytes, {
    scoreThreshold: 0, maxDetections: 100, maskFormat: 'rle', render: false, field: 'image',
  });
  for (const inst of p.instances) {
    results.push({ image_id: im.id, category_id: inst.category_id, score: inst.score, segmentation: inst.segmentation, bbox: inst.bbox });
  }
}
const predictSeconds = (performance.now() - t0) / 1000;
await app.close();

// pycocotools' segm evaluation of results that carry a bbox uses the box area for S/M/L; evaluate
// segm on mask-only results (what mmdetection does) so APs/APm/APl are the mask's own.
const bboxRes = evaluateDetections({ groundTruth: gt, detections: results, iouTypes: ['bbox'] });
const segmRes = evaluateDetections({
  groundTruth: gt,
  detections: results.map((r) => { const { bbox: _b, ...rest } = r as { bbox: unknown }; return rest; }),
  iouTypes: ['segm'],
});

// raw session.run latency, 256x256, `threads` intra-op threads
const session = await ort.InferenceSession.create(join(process.env.CARD_MODEL_DIR ?? join(root, 'models'), 'shapes/model.onnx'), {
  intraOpNumThreads: threads, interOpNumThreads: 1, executionProviders: ['cpu'],
});
const img = new Float32Array(3 * 256 * 256);
for (let i = 0; i < img.length; i++) img[i] = ((i * 2654435761) % 1000) / 1000;
const feeds: Record<string, ort.Tensor> = { image: new ort.Tensor('float32', img, [3, 256, 256]) };
if (session.inputNames.includes('gt_boxes')) feeds.gt_boxes = new ort.Tensor('float32', new Float32Array(0), [0, 4]);
const times: number[] = [];
for (let i = 0; i < 25; i++) {
  const s = performance.now();
  await session.run(feeds);
  if (i >= 5) times.push(performance.now() - s);
}
times.sort((a, b) => a - b);
const p50 = times[Math.floor(times.length / 2)]!;

const stats = (s: Array<number | null>) => ({
  AP: s[0], AP50: s[1], AP75: s[2], APs: s[3], APm: s[4], APl: s[5], AR1: s[6], AR10: s[7], AR100: s[8],
});
const card = {
  heldout: { dir, images: gt.images.length, detections: results.length },
  box: stats(bboxRes.coco.bbox!.stats),
  mask: stats(segmRes.coco.segm!.stats),
  voc: { mAP: bboxRes.voc.mAP, classes: bboxRes.voc.classes },
  box_per_category: bboxRes.coco.bbox!.per_category,
  mask_per_category: segmRes.coco.segm!.per_category,
  latency: { raw_ort_p50_ms_256x256: Math.round(p50 * 10) / 10, threads, runs: times.length },
  predict_pipeline_seconds_per_image: predictSeconds / gt.images.length,
};
await writeFile(outFile, JSON.stringify(card, null, 2) + '\n');
console.log(JSON.stringify({ box: card.box, mask: card.mask, voc_mAP: card.voc.mAP, latency: card.latency }, null, 1));
