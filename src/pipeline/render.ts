/**
 * @file ④ Render: the `Accept: image/png` answer of /predict. The decoded image (EXIF orientation
 * applied) with each instance's mask tinted in a semi-transparent colour per class, its box, and a
 * "label score" tag. Masks are painted into an RGBA layer while postprocess has them in its buffer
 * ({@link MaskLayer.paint} is postprocess' `onMask`); boxes and tags are an SVG layer; sharp
 * composites both over the image.
 *
 * Used by src/pipeline/predict.ts only.
 */
import sharp from 'sharp';
import type { DecodedImage } from './decode.js';
import type { PasteRegion } from './paste-masks.js';
import type { Instance } from './postprocess.js';

/** Distinct colours (Tableau 10); category id c uses PALETTE[(c - 1) % 10]. */
export const PALETTE: ReadonlyArray<readonly [number, number, number]> = [
  [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
  [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207],
];

/** Colour of a category id. */
export function classColor(categoryId: number): readonly [number, number, number] {
  return PALETTE[(((categoryId - 1) % PALETTE.length) + PALETTE.length) % PALETTE.length]!;
}

/** Mask opacity in the overlay (0..255). */
const MASK_ALPHA = 115;

/** An RGBA layer the masks are painted into. */
export class MaskLayer {
  readonly rgba: Uint8Array;

  constructor(readonly width: number, readonly height: number) {
    this.rgba = new Uint8Array(width * height * 4);
  }

  /** Paints the foreground pixels of `mask` (row-major W×H) inside `region` in `color`. */
  paint(mask: Uint8Array, region: PasteRegion, color: readonly [number, number, number]): void {
    const W = this.width;
    for (let y = Math.max(0, region.y0); y < Math.min(this.height, region.y1); y++) {
      for (let x = Math.max(0, region.x0); x < Math.min(W, region.x1); x++) {
        if (mask[y * W + x] === 0) continue;
        const o = (y * W + x) * 4;
        this.rgba[o] = color[0];
        this.rgba[o + 1] = color[1];
        this.rgba[o + 2] = color[2];
        this.rgba[o + 3] = MASK_ALPHA;
      }
    }
  }
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** SVG with one box and one "label 0.98" tag per instance, sized to the image. */
export function boxesSvg(instances: readonly Instance[], width: number, height: number): string {
  const stroke = Math.max(1, Math.round(Math.min(width, height) / 200));
  const font = Math.max(9, Math.round(Math.min(width, height) / 28));
  const parts: string[] = [];
  for (const inst of instances) {
    const [x, y, w, h] = inst.bbox;
    const [r, g, b] = classColor(inst.category_id);
    const color = `rgb(${r},${g},${b})`;
    const text = `${inst.label} ${inst.score.toFixed(2)}`;
    const tw = Math.ceil(text.length * font * 0.6) + 4;
    const ty = y - font - 2 >= 0 ? y - font - 2 : y;
    parts.push(
      `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(0, w).toFixed(1)}" height="${Math.max(0, h).toFixed(1)}" fill="none" stroke="${color}" stroke-width="${stroke}"/>`,
      `<rect x="${x.toFixed(1)}" y="${ty.toFixed(1)}" width="${tw}" height="${font + 2}" fill="${color}"/>`,
      `<text x="${(x + 2).toFixed(1)}" y="${(ty + font - 1).toFixed(1)}" font-family="DejaVu Sans, Arial, sans-serif" font-size="${font}" fill="#fff">${esc(text)}</text>`,
    );
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${parts.join('')}</svg>`;
}

/**
 * Composites the mask layer and the boxes over the image and encodes a PNG.
 * @returns PNG bytes, same size as the decoded image.
 */
export async function renderPng(image: DecodedImage, instances: readonly Instance[], layer: MaskLayer): Promise<Buffer> {
  const { width, height } = image;
  return sharp(image.data, { raw: { width, height, channels: 3 } })
    .composite([
      { input: Buffer.from(layer.rgba.buffer, layer.rgba.byteOffset, layer.rgba.byteLength), raw: { width, height, channels: 4 } },
      { input: Buffer.from(boxesSvg(instances, width, height)), top: 0, left: 0 },
    ])
    .png({ compressionLevel: 6 })
    .toBuffer();
}
