/**
 * @file A deterministic COCO-like evaluation set for the evaluation benchmark (bench/eval-speed.ts)
 * and the differential test against pycocotools (test/eval/pycocotools-diff.test.ts). Nothing big is
 * committed: the set is regenerated from (images, seed) in about a second.
 *
 * What it looks like (close to COCO val2017 with a Mask R-CNN's results):
 *  - image sizes drawn from the common COCO ones (640x480, 480x640, 640x427, 500x375, ...);
 *  - ~7 ground-truth objects per image with a long tail (0 to 40), 1% of images without any;
 *  - 12 categories with non-contiguous ids and skewed frequencies (the first ones much more common);
 *  - object sizes log-uniform, so about 40% small (< 32²), 35% medium, 25% large;
 *  - GT masks as COCO polygons (star-shaped, 8-24 vertices, 2-decimal coordinates, 10% in two parts),
 *    `area` the polygon's area, `bbox` its extent; 1% crowd regions given as uncompressed RLE;
 *  - results as detectron2 writes them: `bbox` + compressed-RLE `segmentation` + `score` rounded to 3
 *    decimals (so there are score ties, which must be ordered as numpy's stable mergesort does);
 *    ~78% of objects detected (jittered shape, 7% with a wrong category, some duplicates), plus
 *    false positives: ~6.5 results per image.
 */
import { countsToString, frPolygons } from '../src/eval/index.js';
import { mulberry32 } from '../test/prng.js';

/** [width, height] of common COCO images, with weights. */
const SIZES: Array<[number, number, number]> = [
  [640, 480, 30], [480, 640, 12], [640, 427, 14], [427, 640, 6], [640, 426, 5], [500, 375, 6],
  [640, 360, 5], [612, 612, 4], [640, 640, 3], [375, 500, 3], [640, 512, 3], [333, 500, 2],
  [640, 424, 4], [640, 383, 3],
];

const CATEGORIES = [
  { id: 1, name: 'person' }, { id: 3, name: 'car' }, { id: 62, name: 'chair' }, { id: 44, name: 'bottle' },
  { id: 47, name: 'cup' }, { id: 9, name: 'boat' }, { id: 84, name: 'book' }, { id: 20, name: 'sheep' },
  { id: 15, name: 'bench' }, { id: 31, name: 'handbag' }, { id: 64, name: 'potted plant' }, { id: 86, name: 'vase' },
];

export interface EvalSet {
  gt: { images: unknown[]; annotations: unknown[]; categories: unknown[] };
  dets: unknown[];
}

/** The set of `images` images for `seed` (same arguments, same JSON, on any machine). */
export function generateEvalSet(images = 5000, seed = 20261130): EvalSet {
  const rnd = mulberry32(seed);
  const r2 = (v: number): number => Math.round(v * 100) / 100;
  const pick = <T>(items: T[], weight: (t: T) => number): T => {
    let total = 0;
    for (const it of items) total += weight(it);
    let u = rnd() * total;
    for (const it of items) if ((u -= weight(it)) < 0) return it;
    return items[items.length - 1]!;
  };
  const catWeight = (c: { id: number }): number => 1 / (1 + CATEGORIES.findIndex((x) => x.id === c.id));
  const imgs: unknown[] = [], anns: unknown[] = [], dets: unknown[] = [];

  /** A star-shaped polygon around (cx, cy) with radii (rx, ry), clipped to the image. */
  const star = (cx: number, cy: number, rx: number, ry: number, W: number, H: number): number[] => {
    const n = 8 + Math.floor(rnd() * 17);
    const out: number[] = [];
    const phase = rnd() * Math.PI * 2;
    for (let k = 0; k < n; k++) {
      const a = phase + (2 * Math.PI * k) / n;
      const f = 0.65 + 0.35 * rnd();
      out.push(r2(Math.min(W, Math.max(0, cx + rx * f * Math.cos(a)))), r2(Math.min(H, Math.max(0, cy + ry * f * Math.sin(a)))));
    }
    return out;
  };
  const polyArea = (p: number[]): number => {
    let s = 0;
    for (let i = 0, n = p.length / 2; i < n; i++) {
      const j = (i + 1) % n;
      s += p[2 * i]! * p[2 * j + 1]! - p[2 * j]! * p[2 * i + 1]!;
    }
    return Math.abs(s) / 2;
  };
  const extent = (parts: number[][]): [number, number, number, number] => {
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const p of parts) {
      for (let i = 0; i < p.length; i += 2) {
        x0 = Math.min(x0, p[i]!); x1 = Math.max(x1, p[i]!);
        y0 = Math.min(y0, p[i + 1]!); y1 = Math.max(y1, p[i + 1]!);
      }
    }
    return [r2(x0), r2(y0), r2(x1 - x0), r2(y1 - y0)];
  };
  /** A result: compressed RLE of its polygon(s), bbox = the polygon extent (as detectron2's box). */
  const result = (imageId: number, cat: number, parts: number[][], W: number, H: number, score: number): void => {
    const rle = frPolygons(parts, H, W);
    dets.push({ image_id: imageId, category_id: cat, bbox: extent(parts), score: Math.round(score * 1000) / 1000, segmentation: { size: [H, W], counts: countsToString(rle.counts) } });
  };

  for (let i = 0; i < images; i++) {
    const id = 100_000 + i * 7 + Math.floor(rnd() * 7); // sparse ids, ascending
    const [W, H] = pick(SIZES, (s) => s[2]);
    imgs.push({ id, width: W, height: H, file_name: `${String(id).padStart(12, '0')}.jpg` });
    const n = rnd() < 0.01 ? 0 : Math.min(40, 1 + Math.floor(-Math.log(1 - rnd()) * 6.2));
    for (let k = 0; k < n; k++) {
      const cat = pick(CATEGORIES, catWeight).id;
      const side = Math.exp(Math.log(6) + rnd() * (Math.log(0.8 * Math.min(W, H)) - Math.log(6)));
      const aspect = Math.exp((rnd() - 0.5) * 1.2);
      const rx = (side * Math.sqrt(aspect)) / 2, ry = side / Math.sqrt(aspect) / 2;
      const cx = rx + rnd() * Math.max(1, W - 2 * rx), cy = ry + rnd() * Math.max(1, H - 2 * ry);
      const crowd = rnd() < 0.01;
      const parts = [star(cx, cy, rx, ry, W, H)];
      if (!crowd && rnd() < 0.1) parts.push(star(Math.min(W - 1, cx + rx), cy, rx / 3, ry / 3, W, H));
      const bbox = extent(parts);
      if (crowd) {
        const rle = frPolygons(parts, H, W);
        let area = 0;
        for (let j = 1; j < rle.counts.length; j += 2) area += rle.counts[j]!;
        anns.push({ id: anns.length + 1, image_id: id, category_id: cat, iscrowd: 1, area, bbox, segmentation: { size: [H, W], counts: Array.from(rle.counts) } });
      } else {
        anns.push({ id: anns.length + 1, image_id: id, category_id: cat, iscrowd: 0, area: r2(parts.reduce((s, p) => s + polyArea(p), 0)), bbox, segmentation: parts });
      }
      // detections of this object: usually one, sometimes a duplicate, sometimes missed
      const hits = rnd() < 0.78 ? (rnd() < 0.08 ? 2 : 1) : 0;
      for (let h = 0; h < hits; h++) {
        const j = 0.25 * (rnd() - 0.5);
        const dcat = rnd() < 0.07 ? pick(CATEGORIES, catWeight).id : cat;
        const dparts = [star(cx + rx * j, cy + ry * (rnd() - 0.5) * 0.25, rx * (1 + j), ry * (1 - j), W, H)];
        result(id, dcat, dparts, W, H, 0.2 + 0.8 * rnd() ** 0.5);
      }
    }
    const fp = Math.floor(-Math.log(1 - rnd()) * 1.5);
    for (let k = 0; k < fp; k++) {
      const side = Math.exp(Math.log(5) + rnd() * (Math.log(0.5 * Math.min(W, H)) - Math.log(5)));
      const cx = side / 2 + rnd() * (W - side), cy = side / 2 + rnd() * (H - side);
      result(id, pick(CATEGORIES, catWeight).id, [star(cx, cy, side / 2, side / 2, W, H)], W, H, 0.05 + 0.6 * rnd() ** 2);
    }
  }
  return { gt: { images: imgs, annotations: anns, categories: CATEGORIES }, dets };
}

/** Command line: `tsx bench/eval-data.ts [images] [outDir]` writes gt.json and dt.json. */
if (import.meta.url === `file://${process.argv[1]}`) {
  const { writeFileSync, mkdirSync } = await import('node:fs');
  const images = Number(process.argv[2] ?? 5000);
  const dir = process.argv[3] ?? '.';
  mkdirSync(dir, { recursive: true });
  const set = generateEvalSet(images);
  writeFileSync(`${dir}/gt.json`, JSON.stringify(set.gt));
  writeFileSync(`${dir}/dt.json`, JSON.stringify(set.dets));
  process.stdout.write(`${images} images, ${set.gt.annotations.length} GT, ${set.dets.length} results -> ${dir}\n`);
}
