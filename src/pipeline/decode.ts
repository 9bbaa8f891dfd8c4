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
 * Used by src/pipeline/predict.ts and the model mode of evaluations. Errors are the typed image
 * errors of src/pipeline/errors.ts, with `field` set to the caller's input path (`image`, `body`,
 * `image[2]`...).
 */
import sharp, { type OutputInfo } from 'sharp';
import { EmptyImageError, ImageDecodeError, ImageTooLargeError, NotAnImageError } from './errors.js';

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
 * @throws EmptyImageError, NotAnImageError, ImageTooLargeError, ImageDecodeError, each with
 *   `field = opts.field`.
 */
export async function decodeImage(buf: Buffer, opts: DecodeOptions): Promise<DecodedImage> {
  if (buf.length === 0) throw new EmptyImageError(opts.field);
  const format = sniffFormat(buf);
  if (!format) {
    throw new NotAnImageError(opts.field);
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
      throw new ImageTooLargeError(opts.maxPixels, { field: opts.field, cause: err });
    }
    throw new ImageDecodeError(`${format.toUpperCase()} data is corrupt or truncated (${msg.trim()})`, { field: opts.field, cause: err });
  }
  const { width, height, channels } = out.info;
  if (width < 1 || height < 1 || channels !== 3 || out.data.length !== width * height * 3) {
    throw new ImageDecodeError(`unexpected decoded layout ${width}x${height}x${channels}`, { field: opts.field });
  }
  return { data: new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.length), width, height, format };
}
