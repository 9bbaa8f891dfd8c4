/**
 * @file COCO evaluation throughput for `npm run bench`: a deterministic synthetic set (seeded
 * PRNG; default 5000 images of 640x480, 1-8 objects each over 3 categories, polygons for the
 * ground truth, one jittered detection per object most of the time plus false positives, detection
 * masks as compressed RLE strings like real results) evaluated by src/eval's evaluateDetections
 * (what POST /evaluate runs), bbox and segm separately, in images/s. When pycocotools is found (as
 * for npm run bench:eval: PYCOCOTOOLS_DIR, work/pycocotools/PythonAPI, or installed for python3),
 * the same JSON goes through COCOeval for a ratio; otherwise the reason is reported.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { countsToString, evaluateDetections, frPolygons } from '../src/eval/index.js';
import { PYTHON } from './lib.js';
import { pycocotoolsDir } from './eval-speed-lib.js';
import { mulberry32 } from '../test/prng.js';

const prng = mulberry32;

const W = 640, H = 480;

/** A polygon inside the box: a rectangle, a diamond or a triangle (COCO flat [x0, y0, ...]). */
function shape(kind: number, x: number, y: number, w: number, h: number): number[] {
  if (kind === 1) return [x, y, x + w, y, x + w, y + h, x, y + h];
  if (kind === 2) return [x + w / 2, y, x + w, y + h / 2, x + w / 2, y + h, x, y + h / 2];
  return [x + w / 2, y, x + w, y + h, x, y + h];
}

/** The synthetic GT and results (deterministic for a given image count and seed). */
export function synthesize(images: number, seed = 1234): { gt: Record<string, unknown>; dets: Array<Record<string, unknown>> } {
  const rnd = prng(seed);
  const imgs: unknown[] = [];
  const anns: unknown[] = [];
  const dets: Array<Record<string, unknown>> = [];
  const r2 = (v: number): number => Math.round(v * 100) / 100;
  for (let i = 1; i <= images; i++) {
    imgs.push({ id: i, width: W, height: H, file_name: `${i}.png` });
    const n = 1 + Math.floor(rnd() * 8);
    const detect = (cat: number, x: number, y: number, w: number, h: number, score: number): void => {
      const poly = shape(cat, x, y, w, h).map(r2);
      const rle = frPolygons([poly], H, W);
      dets.push({ image_id: i, category_id: cat, bbox: [x, y, w, h].map(r2), score: r2(score * 1000) / 1000, segmentation: { size: [H, W], counts: countsToString(rle.counts) } });
    };
    for (let k = 0; k < n; k++) {
      const cat = 1 + Math.floor(rnd() * 3);
      const w = 8 + rnd() * 200, h = 8 + rnd() * 200;
      const x = rnd() * (W - w), y = rnd() * (H - h);
      const iscrowd = rnd() < 0.02 ? 1 : 0;
      anns.push({ id: anns.length + 1, image_id: i, category_id: cat, bbox: [x, y, w, h].map(r2), area: r2(w * h * (cat === 1 ? 1 : 0.5)), iscrowd, segmentation: [shape(cat, x, y, w, h).map(r2)] });
      if (rnd() < 0.85) {
        const j = (): number => (rnd() - 0.5) * 0.2;
        detect(rnd() < 0.9 ? cat : 1 + ((cat + 1) % 3), Math.max(0, x + w * j()), Math.max(0, y + h * j()), Math.min(W - x, w * (1 + j())), Math.min(H - y, h * (1 + j())), 0.3 + rnd() * 0.7);
      }
    }
    const fp = Math.floor(rnd() * 3);
    for (let k = 0; k < fp; k++) {
      const w = 8 + rnd() * 100, h = 8 + rnd() * 100;
      detect(1 + Math.floor(rnd() * 3), rnd() * (W - w), rnd() * (H - h), w, h, rnd() * 0.6);
    }
  }
  const categories = [{ id: 1, name: 'square' }, { id: 2, name: 'circle' }, { id: 3, name: 'triangle' }];
  return { gt: { images: imgs, annotations: anns, categories }, dets };
}

/** One evaluation per iou type: seconds and images/s; AP so runs can be compared. */
export function benchCoco(images: number): { images: number; gt: number; dets: number; bbox: Timing; segm: Timing; pycocotools: Record<string, unknown> } {
  const { gt, dets } = synthesize(images);
  const time = (iou: 'bbox' | 'segm'): Timing => {
    const t0 = performance.now();
    const r = evaluateDetections({ groundTruth: gt, detections: dets, iouTypes: [iou] });
    const s = (performance.now() - t0) / 1000;
    return { seconds: s, images_per_s: images / s, ap: r.coco[iou]!.stats[0] ?? null };
  };
  const bbox = time('bbox');
  const segm = time('segm');
  return { images, gt: (gt.annotations as unknown[]).length, dets: dets.length, bbox, segm, pycocotools: pycocotools(gt, dets, images) };
}

interface Timing { seconds: number; images_per_s: number; ap: number | null }

const PY = `
import json, sys, time, contextlib, io
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
d = sys.argv[1]; out = {}
for iou in ("bbox", "segm"):
    with contextlib.redirect_stdout(io.StringIO()):
        t0 = time.perf_counter()
        gt = COCO(d + "/gt.json"); dt = gt.loadRes(d + "/dt.json")
        e = COCOeval(gt, dt, iou); e.evaluate(); e.accumulate(); e.summarize()
        out[iou] = {"seconds": time.perf_counter() - t0, "ap": e.stats[0]}
print(json.dumps(out))
`;

/** pycocotools on the same data, or why not. */
function pycocotools(gt: unknown, dets: unknown, images: number): Record<string, unknown> {
  // the same pycocotools as npm run bench:eval: PYCOCOTOOLS_DIR, work/pycocotools/PythonAPI, or installed
  const where = pycocotoolsDir();
  if (!where.ok) return { skipped: where.reason };
  const env = where.path === '-' ? process.env : { ...process.env, PYTHONPATH: [where.path, process.env.PYTHONPATH].filter(Boolean).join(':') };
  const dir = mkdtempSync(join(tmpdir(), 'coco-bench-'));
  try {
    writeFileSync(join(dir, 'gt.json'), JSON.stringify(gt));
    writeFileSync(join(dir, 'dt.json'), JSON.stringify(dets));
    const r = spawnSync(PYTHON, ['-c', PY, dir], { encoding: 'utf8', timeout: 60 * 60_000, env });
    if (r.status !== 0) return { skipped: `pycocotools run failed: ${r.stderr.trim().split('\n').at(-1)}` };
    const j = JSON.parse(r.stdout) as Record<'bbox' | 'segm', { seconds: number; ap: number }>;
    return Object.fromEntries(Object.entries(j).map(([k, v]) => [k, { ...v, images_per_s: images / v.seconds }]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
