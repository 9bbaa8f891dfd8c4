/**
 * @file ② Decode: image bytes → 8-bit RGB pixels, HWC row-major, as the user sees the image.
 *
 * - Only JPEG, PNG and WebP are accepted, recognised by their magic bytes (never by the client's
 *   Content-Type alone), so sharp's other loaders (SVG, TIFF, GIF, ...) are never reached.
 * - EXIF orientation is applied (`.rotate()` with no angle), so boxes are in the displayed frame.
 * - Grayscale becomes RGB (toColourspace srgb), alpha is dropped like PIL's `convert('RGB')`,
 *   16-bit input is reduced to 8 bits.
 * - sharp runs with `failOn: 'error'` (truncated or corrupt data fails instead of decoding grey) and
 *   `limitInputPixels` (a decompression bomb is refused from its header, before any pixel is decoded).
 *
 * Used by src/pipeline/predict.ts. Errors come from the catalog in src/errors.ts, with `field` set
 * to the caller's input path (`image`, `body`, `image[2]`...).
 */
import sharp, { type OutputInfo } from 'sharp';
import { Errors, withField } from '../errors.js';

/** Formats /predict accepts. */
export type ImageFormat = 'jpeg' | 'png' | 'webp';

/** MIME types accepted as raw request bodies, per format. */
export const IMAGE_MIME_TYPES: Readonly<Record<string, ImageFormat>> = {
  'image/jpeg': 'jpeg', 'image/jpg': 'jpeg', 'image/png': 'png', 'image/webp': 'webp',
};

/** A decoded image: `data` is RGB, HWC, row-major, width*height*3 bytes. */
export interface DecodedImage {
  data: Uint8Array;
  width: number;
  height: number;
  /** Container format detected from the bytes. */
  format: ImageFormat;
}

/** Options of {@link decodeImage}. */
export interface DecodeOptions {
  /** Max width*height (decompression-bomb guard). */
  maxPixels: number;
  /** Input path for error messages (`image`, `body`). */
  field: string;
}

/** Detects JPEG / PNG / WebP from the first bytes; undefined for anything else. */
export function sniffFormat(buf: Uint8Array): ImageFormat | undefined {
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return 'jpeg';
  if (buf.length >= 8 && buf[0] === 0x89 && buf[1] === 0x50 && buf[2] === 0x4e && buf[3] === 0x47
    && buf[4] === 0x0d && buf[5] === 0x0a && buf[6] === 0x1a && buf[7] === 0x0a) return 'png';
  if (buf.length >= 12 && buf[0] === 0x52 && buf[1] === 0x49 && buf[2] === 0x46 && buf[3] === 0x46
    && buf[8] === 0x57 && buf[9] === 0x45 && buf[10] === 0x42 && buf[11] === 0x50) return 'webp';
  return undefined;
}

/**
 * Decodes an upload to RGB.
 * @throws MRC_ERR_EMPTY_BODY (400), MRC_ERR_UNSUPPORTED_MEDIA_TYPE (415), MRC_ERR_IMAGE_TOO_LARGE (413),
 *   MRC_ERR_IMAGE_DECODE (422), each with `field = opts.field`.
 */
export async function decodeImage(buf: Buffer, opts: DecodeOptions): Promise<DecodedImage> {
  if (buf.length === 0) throw withField(new Errors.EMPTY_BODY(`no image bytes in ${opts.field}`), opts.field);
  const format = sniffFormat(buf);
  if (!format) {
    throw withField(new Errors.UNSUPPORTED_MEDIA_TYPE('the data is not a JPEG, PNG or WebP image'), opts.field);
  }
  let out: { data: Buffer; info: OutputInfo };
  try {
    out = await sharp(buf, { failOn: 'error', limitInputPixels: opts.maxPixels, sequentialRead: true })
      .rotate()
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0] ?? 'unknown error';
    if (/pixel limit/i.test(msg)) {
      throw withField(new Errors.IMAGE_TOO_LARGE(`more than ${opts.maxPixels} pixels (MAX_IMAGE_PIXELS)`, { cause: err }), opts.field);
    }
    throw withField(new Errors.IMAGE_DECODE(`${format.toUpperCase()} data is corrupt or truncated (${msg.trim()})`, { cause: err }), opts.field);
  }
  const { width, height, channels } = out.info;
  if (width < 1 || height < 1 || channels !== 3 || out.data.length !== width * height * 3) {
    throw withField(new Errors.IMAGE_DECODE(`unexpected decoded layout ${width}x${height}x${channels}`), opts.field);
  }
  return { data: new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.length), width, height, format };
}
