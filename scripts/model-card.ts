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

/**
 * Precision and recall of what /predict returns at its default score_threshold 0.5: per image,
 * detections with score >= 0.5 in descending score order each take the unmatched ground truth of the
 * same class with the highest box IoU >= 0.5 (a true positive); the rest are false positives
 * (duplicates and wrong classes among them). Recall = matched ground truth / all ground truth.
 */
function precisionRecall(threshold: number) {
  type Box = number[];
  const iou = (a: Box, b: Box): number => {
    const ix = Math.max(0, Math.min(a[0]! + a[2]!, b[0]! + b[2]!) - Math.max(a[0]!, b[0]!));
    const iy = Math.max(0, Math.min(a[1]! + a[3]!, b[1]! + b[3]!) - Math.max(a[1]!, b[1]!));
    const inter = ix * iy;
    return inter / (a[2]! * a[3]! + b[2]! * b[3]! - inter);
  };
  const anns = (gt as unknown as { annotations: Array<{ image_id: number; category_id: number; bbox: Box; iscrowd?: number }> }).annotations
    .filter((a) => !a.iscrowd);
  let tp = 0, fp = 0, sameClassDuplicates = 0, wrongClass = 0;
  for (const im of gt.images) {
    const g = anns.filter((a) => a.image_id === im.id);
    const used = new Array<boolean>(g.length).fill(false);
    const dets = (results as Array<{ image_id: number; category_id: number; score: number; bbox: Box }>)
      .filter((r) => r.image_id === im.id && r.score >= threshold).sort((a, b) => b.score - a.score);
    for (const d of dets) {
      let best = -1, bestIou = 0.5;
      g.forEach((a, j) => { const v = iou(d.bbox, a.bbox); if (!used[j] && a.category_id === d.category_id && v >= bestIou) { best = j; bestIou = v; } });
      if (best >= 0) { used[best] = true; tp++; continue; }
      fp++;
      if (g.some((a) => a.category_id === d.category_id && iou(d.bbox, a.bbox) >= 0.5)) sameClassDuplicates++;
      else if (g.some((a) => iou(d.bbox, a.bbox) >= 0.5)) wrongClass++;
    }
  }
  return {
    score_threshold: threshold, precision: tp / Math.max(1, tp + fp), recall: tp / Math.max(1, anns.length),
    true_positives: tp, false_positives: fp, false_positive_duplicates: sameClassDuplicates,
    false_positive_wrong_class: wrongClass, ground_truth: anns.length,
  };
}

const stats = (s: Array<number | null>) => ({
  AP: s[0], AP50: s[1], AP75: s[2], APs: s[3], APm: s[4], APl: s[5], AR1: s[6], AR10: s[7], AR100: s[8],
});
const card = {
  heldout: { dir, images: gt.images.length, detections: results.length },
  box: stats(bboxRes.coco.bbox!.stats),
  mask: stats(segmRes.coco.segm!.stats),
  voc: { mAP: bboxRes.voc.mAP, classes: bboxRes.voc.classes },
  at_default_threshold: precisionRecall(0.5),
  box_per_category: bboxRes.coco.bbox!.per_category,
  mask_per_category: segmRes.coco.segm!.per_category,
  latency: { raw_ort_p50_ms_256x256: Math.round(p50 * 10) / 10, threads, runs: times.length },
  predict_pipeline_seconds_per_image: predictSeconds / gt.images.length,
};
await writeFile(outFile, JSON.stringify(card, null, 2) + '\n');
console.log(JSON.stringify({ box: card.box, mask: card.mask, voc_mAP: card.voc.mAP, at_default_threshold: card.at_default_threshold, latency: card.latency }, null, 1));
