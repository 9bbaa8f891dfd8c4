/**
 * @file One image's outcome of a model evaluation ({@link ImageOutcome}: its COCO and VOC records,
 * losses and detections) as bytes, and back — what a job stores per image so that a resumed job
 * merges exactly what an uninterrupted run would have held in memory.
 *
 * Layout: `u32le headerBytes | header (UTF-8 JSON) | zero padding to 8 | typed arrays`. The header
 * holds the numbers that JSON keeps exactly (losses, boxes, scores: finite doubles round-trip
 * through JSON.stringify/parse bit for bit) and, per typed array, its kind and place in the binary
 * part; the records' Float64/Float32/Uint8 arrays are copied as raw little-endian bytes.
 */
import { ImageEvalRecord, type BatchSummary, type ImageRecords, type IouType, type VocClassRecord } from '../eval/index.js';
import type { ImageOutcome } from './model-evaluation.js';

type ArrayKind = 'f64' | 'f32' | 'u8';
/** [kind, byte offset in the binary part, element count] */
type ArrayRef = [ArrayKind, number, number];

interface CellHeader {
  categoryId: number; numDt: number; numGt: number; numAreas: number; numThrs: number;
  data: ArrayRef; flags: ArrayRef;
}

interface Header {
  v: 1;
  k: number;
  imageId: number;
  ms: number;
  losses: ImageOutcome['losses'];
  detections: ImageOutcome['detections'];
  batch: BatchSummary | null;
  images: Array<{
    imageId: number;
    coco: Partial<Record<IouType, CellHeader[]>>;
    voc: { filePos: number; classes: Array<{ label: number; scores: ArrayRef; tp: ArrayRef; fp: ArrayRef }> } | null;
  }>;
}

const SIZE: Record<ArrayKind, number> = { f64: 8, f32: 4, u8: 1 };

/** Encodes an outcome (see the file header). */
export function encodeImageOutcome(o: ImageOutcome): Uint8Array {
  const arrays: Array<Float64Array | Float32Array | Uint8Array> = [];
  let offset = 0;
  const put = (a: Float64Array | Float32Array | Uint8Array, kind: ArrayKind): ArrayRef => {
    offset = Math.ceil(offset / 8) * 8;
    const ref: ArrayRef = [kind, offset, a.length];
    arrays.push(a);
    offset += a.length * SIZE[kind];
    return ref;
  };
  const header: Header = {
    v: 1, k: o.k, imageId: o.imageId, ms: o.ms, losses: o.losses, detections: o.detections, batch: o.records.batch,
    images: o.records.images.map((im) => {
      const coco: Partial<Record<IouType, CellHeader[]>> = {};
      for (const t of ['bbox', 'segm'] as const) {
        const cells = im.coco[t];
        if (!cells) continue;
        coco[t] = cells.map((c) => {
          const D = c.numDt, G = c.numGt, A = c.numAreas, T = c.numThrs;
          const nData = 2 * D + A * G + A * T * (D + G), nFlags = A * G + A * T * D;
          return {
            categoryId: c.categoryId, numDt: D, numGt: G, numAreas: A, numThrs: T,
            data: put(c.data.subarray(c.dataOffset, c.dataOffset + nData), 'f64'),
            flags: put(c.flags.subarray(c.flagsOffset, c.flagsOffset + nFlags), 'u8'),
          };
        });
      }
      const voc = im.voc ? {
        filePos: im.voc.filePos,
        classes: im.voc.classes.map((c) => ({ label: c.label, scores: put(c.scores, 'f32'), tp: put(c.tp, 'u8'), fp: put(c.fp, 'u8') })),
      } : null;
      return { imageId: im.imageId, coco, voc };
    }),
  };
  const head = Buffer.from(JSON.stringify(header), 'utf8');
  const start = Math.ceil((4 + head.length) / 8) * 8;
  const out = new Uint8Array(start + Math.ceil(offset / 8) * 8);
  new DataView(out.buffer).setUint32(0, head.length, true);
  out.set(head, 4);
  let i = 0;
  const walk = (ref: ArrayRef): void => {
    const a = arrays[i++]!;
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), start + ref[1]);
  };
  for (const im of header.images) {
    for (const t of ['bbox', 'segm'] as const) for (const c of im.coco[t] ?? []) { walk(c.data); walk(c.flags); }
    for (const c of im.voc?.classes ?? []) { walk(c.scores); walk(c.tp); walk(c.fp); }
  }
  return out;
}

/**
 * Decodes what {@link encodeImageOutcome} wrote.
 * @throws RangeError on bytes of another layout
 */
export function decodeImageOutcome(bytes: Uint8Array): ImageOutcome {
  if (bytes.length < 4) throw new RangeError('image outcome: too short');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getUint32(0, true);
  const header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 4, n).toString('utf8')) as Header;
  if (header.v !== 1) throw new RangeError(`image outcome: unknown layout version ${String(header.v)}`);
  const start = Math.ceil((4 + n) / 8) * 8;
  // copies into fresh buffers: the arrays must not alias the caller's bytes (a driver's Buffer may be
  // a view of a shared pool, whose slice() is not a copy), and Float64Array needs 8-byte alignment
  const read = <A extends Float64Array | Float32Array | Uint8Array>(ref: ArrayRef): A => {
    const [kind, off, count] = ref;
    const len = count * SIZE[kind];
    const own = new Uint8Array(len);
    own.set(bytes.subarray(start + off, start + off + len));
    const copy = own.buffer;
    return (kind === 'f64' ? new Float64Array(copy) : kind === 'f32' ? new Float32Array(copy) : new Uint8Array(copy)) as A;
  };
  const images: ImageRecords[] = header.images.map((im) => {
    const coco: ImageRecords['coco'] = {};
    for (const t of ['bbox', 'segm'] as const) {
      const cells = im.coco[t];
      if (!cells) continue;
      coco[t] = cells.map((c) => new ImageEvalRecord(im.imageId, c.categoryId, c.numDt, c.numGt, c.numAreas, c.numThrs, read<Float64Array>(c.data), 0, read<Uint8Array>(c.flags), 0));
    }
    const voc = im.voc ? {
      filePos: im.voc.filePos,
      classes: im.voc.classes.map((c): VocClassRecord => ({ label: c.label, scores: read<Float32Array>(c.scores), tp: read<Uint8Array>(c.tp), fp: read<Uint8Array>(c.fp) })),
    } : null;
    return { imageId: im.imageId, coco, voc };
  });
  return { k: header.k, imageId: header.imageId, ms: header.ms, losses: header.losses, detections: header.detections, records: { batch: header.batch, images } };
}
