/**
 * @file One "worst image" picture of the HTML report: the image (EXIF orientation applied, scaled to
 * fit `maxSide`) with ground-truth boxes (green, solid) and the model's detections (orange, dashed,
 * "label score") drawn over it, as a `data:image/png;base64,` URI so the report stays one
 * self-contained file. sharp composites an SVG of the same size over the pixels.
 */
import sharp from 'sharp';

export interface OverlayBox {
  /** COCO xywh in original pixels. */
  bbox: number[];
  label: string;
  score?: number;
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * Renders the overlay of the image at `file` (path or bytes).
 * Detections below `minScore` are left out; at most `maxDets` (highest scores) are drawn.
 */
export async function renderOverlay(
  file: string | Buffer,
  gt: OverlayBox[],
  dets: OverlayBox[],
  opts: { maxSide?: number; minScore?: number; maxDets?: number } = {},
): Promise<string> {
  const maxSide = opts.maxSide ?? 360;
  const base = sharp(file, { failOn: 'error' }).rotate();
  const { data, info } = await base.resize({ width: maxSide, height: maxSide, fit: 'inside', withoutEnlargement: false })
    .removeAlpha().png().toBuffer({ resolveWithObject: true });
  const meta = await sharp(file).metadata();
  const swap = (meta.orientation ?? 1) >= 5;
  const srcW = (swap ? meta.height : meta.width) ?? info.width;
  const s = info.width / srcW;
  const shown = [...dets].filter((d) => (d.score ?? 1) >= (opts.minScore ?? 0.05))
    .sort((a, b) => (b.score ?? 0) - (a.score ?? 0)).slice(0, opts.maxDets ?? 10);
  // GT labels above the box, prediction labels below it, on a dark plate so they read on any image.
  const rect = (b: OverlayBox, color: string, dash: boolean, text: string, below: boolean): string => {
    const [x = 0, y = 0, w = 0, h = 0] = b.bbox;
    const X = x * s, Y = y * s, Hs = h * s;
    let ty = below ? Y + Hs + 12 : Y - 3;
    if (ty > info.height - 2) ty = Y + Hs - 3;
    if (ty < 11) ty = Y + 12;
    const tw = 6.3 * text.length + 4;
    const tx = Math.max(0, Math.min(X, info.width - tw));
    return `<rect x="${X.toFixed(1)}" y="${Y.toFixed(1)}" width="${(w * s).toFixed(1)}" height="${Hs.toFixed(1)}" fill="none" stroke="${color}" stroke-width="2"${dash ? ' stroke-dasharray="5,3"' : ''}/>`
      + `<rect x="${tx.toFixed(1)}" y="${(ty - 10).toFixed(1)}" width="${tw.toFixed(1)}" height="13" fill="black" fill-opacity="0.6"/>`
      + `<text x="${(tx + 2).toFixed(1)}" y="${ty.toFixed(1)}" font-family="sans-serif" font-size="11" fill="${color}">${esc(text)}</text>`;
  };
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${info.width}" height="${info.height}">`
    + gt.map((b) => rect(b, '#22dd55', false, b.label, false)).join('')
    + shown.map((b) => rect(b, '#ff8c1a', true, `${b.label} ${(b.score ?? 0).toFixed(2)}`, true)).join('')
    + '</svg>';
  const png = await sharp(data).composite([{ input: Buffer.from(svg), top: 0, left: 0 }]).png().toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}
