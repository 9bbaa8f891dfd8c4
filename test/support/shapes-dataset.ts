/**
 * @file A seeded "shapes" data set made in code, like the one the default model was trained on:
 * each image a flat background with one to three filled squares (category 1), circles (2) and
 * triangles (3), as PNG, with COCO annotations (bbox, area = the shape's pixel count, polygon
 * segmentation). For tests and benchmarks that need many images (crash/resume of a 200-image job,
 * job throughput): deterministic for a seed, fast (raw pixels → sharp PNG, no SVG rendering).
 */
import sharp from 'sharp';
import { mulberry32 } from '../prng.js';

export interface ShapesDataset {
  annotations: { images: Array<{ id: number; file_name: string; width: number; height: number }>; annotations: Array<Record<string, unknown>>; categories: Array<{ id: number; name: string }> };
  files: Array<{ fileName: string; bytes: Buffer }>;
}

const SIZES: Array<[number, number]> = [[160, 128], [192, 160], [128, 128], [176, 144]];

/** `n` images (ids 1..n, `shape-0001.png`…) from `seed`. */
export async function shapesDataset(n: number, seed = 1): Promise<ShapesDataset> {
  const rnd = mulberry32(seed);
  const images: ShapesDataset['annotations']['images'] = [];
  const anns: Array<Record<string, unknown>> = [];
  const files: ShapesDataset['files'] = [];
  for (let i = 1; i <= n; i++) {
    const [W, H] = SIZES[Math.floor(rnd() * SIZES.length)]!;
    const px = Buffer.alloc(W * H * 3);
    const bg = [20 + Math.floor(rnd() * 40), 30 + Math.floor(rnd() * 40), 50 + Math.floor(rnd() * 40)];
    for (let p = 0; p < W * H; p++) px.set(bg, 3 * p);
    const count = 1 + Math.floor(rnd() * 3);
    for (let s = 0; s < count; s++) {
      const cat = 1 + Math.floor(rnd() * 3);
      const size = 24 + Math.floor(rnd() * 28);
      const x0 = Math.floor(rnd() * (W - size)), y0 = Math.floor(rnd() * (H - size));
      const color = [150 + Math.floor(rnd() * 100), 80 + Math.floor(rnd() * 170), 60 + Math.floor(rnd() * 190)];
      const r = size / 2, cx = x0 + r, cy = y0 + r;
      const inside = (x: number, y: number): boolean => {
        const u = x + 0.5, v = y + 0.5;
        if (cat === 1) return true;
        if (cat === 2) return (u - cx) ** 2 + (v - cy) ** 2 <= r * r;
        // triangle: apex at top centre, base at the bottom
        const t = (v - y0) / size;
        return t >= 0 && t <= 1 && Math.abs(u - cx) <= t * r;
      };
      let area = 0;
      for (let y = y0; y < y0 + size; y++) {
        for (let x = x0; x < x0 + size; x++) {
          if (!inside(x, y)) continue;
          px.set(color, 3 * (y * W + x));
          area++;
        }
      }
      const poly = cat === 1 ? [x0, y0, x0 + size, y0, x0 + size, y0 + size, x0, y0 + size]
        : cat === 2 ? Array.from({ length: 16 }, (_, k) => [cx + r * Math.cos((2 * Math.PI * k) / 16), cy + r * Math.sin((2 * Math.PI * k) / 16)]).flat()
          : [cx, y0, x0 + size, y0 + size, x0, y0 + size];
      anns.push({ id: anns.length + 1, image_id: i, category_id: cat, bbox: [x0, y0, size, size], area, iscrowd: 0, segmentation: [poly.map((c) => Math.round(c * 100) / 100)] });
    }
    const fileName = `shape-${String(i).padStart(4, '0')}.png`;
    images.push({ id: i, file_name: fileName, width: W, height: H });
    files.push({ fileName, bytes: await sharp(px, { raw: { width: W, height: H, channels: 3 } }).png().toBuffer() });
  }
  return { annotations: { images, annotations: anns, categories: [{ id: 1, name: 'square' }, { id: 2, name: 'circle' }, { id: 3, name: 'triangle' }] }, files };
}

/** The multipart body of a model-mode POST /evaluations (or /evaluate) over the data set. */
export function datasetForm(ds: ShapesDataset): FormData {
  const form = new FormData();
  for (const f of ds.files) form.append('image', new Blob([new Uint8Array(f.bytes)], { type: 'image/png' }), f.fileName);
  form.append('annotations', new Blob([JSON.stringify(ds.annotations)], { type: 'application/json' }), 'annotations.json');
  return form;
}
