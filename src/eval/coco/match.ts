/**
 * @file Greedy COCO matching of one (image, category) cell for every area range and IoU threshold: the port
 * of `cocoeval.py: COCOeval.evaluateImg` (docs/evaluation.md#matching), including its quirks (a later GT
 * with an equal IoU wins, crowd GTs absorb any number of detections, GT id 0 reads as unmatched, unmatched
 * out-of-range detections are ignored). Called by `coco/evaluate.ts` with the cell's IoU matrix; writes one
 * compact `ImageEvalRecord` into the arena.
 */
import type { CocoParams } from './params.js';
import type { ImageEvalRecord, RecordArena } from './records.js';

/** One cell's inputs, in reusable buffers (only the first D / G / D×G entries are read). */
export interface CellInput {
  imageId: number;
  categoryId: number;
  /** detections kept (<= maxDets[-1]), in score order */
  D: number;
  /** ground truths, in file order */
  G: number;
  /** [D] result ids, scores and loadRes areas, score order */
  dtIds: Float64Array;
  dtScores: Float64Array;
  dtArea: Float64Array;
  /** [G] GT ids, stored areas and crowd flags, file order */
  gtIds: Float64Array;
  gtArea: Float64Array;
  crowd: Uint8Array;
  /** [D×G] IoU, `iou[d*G + g]`, GT in file order */
  iou: Float64Array;
}

let perm = new Int32Array(64);
let outOfRange = new Uint8Array(256);

/**
 * Match one cell at every area range a and threshold t. Mirrors `COCOeval.evaluateImg(imgId, catId,
 * aRng, maxDet)` called for each area range, with `maxDet = maxDets[-1]`.
 */
export function matchCell(p: CocoParams, c: CellInput, arena: RecordArena): ImageEvalRecord {
  const T = p.iouThrs.length, A = p.areaRng.length;
  const { D, G, iou, crowd } = c;
  const AT = A * T;
  const rec = arena.allocate(c.imageId, c.categoryId, D, G, A, T);
  // offsets into the record's regions of the shared chunks (layout: records.ts)
  const f64 = rec.data, u8 = rec.flags;
  const oIds = rec.dataOffset, oScores = oIds + D, oGtIds = oScores + D;
  const oDtm = oGtIds + A * G, oGtm = oDtm + AT * D;
  const oGtIg = rec.flagsOffset, oDtIg = oGtIg + A * G;
  for (let j = 0; j < D; j++) {
    f64[oIds + j] = c.dtIds[j]!;
    f64[oScores + j] = c.dtScores[j]!;
  }
  if (perm.length < G) perm = new Int32Array(Math.max(G, 2 * perm.length));
  if (outOfRange.length < D) outOfRange = new Uint8Array(Math.max(D, 2 * outOfRange.length));

  for (let a = 0; a < A; a++) {
    const [lo, hi] = p.areaRng[a]!;
    const gIg = oGtIg + a * G, gIds = oGtIds + a * G;
    // gIg = iscrowd || area out of range; stable partition: non-ignored GT first, then ignored
    let q = 0;
    for (let pass = 0; pass < 2; pass++) {
      for (let k = 0; k < G; k++) {
        const ar = c.gtArea[k]!;
        const ig = crowd[k] === 1 || ar < lo || ar > hi ? 1 : 0;
        if (ig === pass) {
          perm[q] = k;
          u8[gIg + q] = ig;
          f64[gIds + q] = c.gtIds[k]!;
          q++;
        }
      }
    }
    for (let j = 0; j < D; j++) {
      const ar = c.dtArea[j]!;
      outOfRange[j] = ar < lo || ar > hi ? 1 : 0;
    }
    for (let t = 0; t < T; t++) {
      const dtm = oDtm + (a * T + t) * D, dtIg = oDtIg + (a * T + t) * D, gtm = oGtm + (a * T + t) * G;
      if (G > 0) {
        const thr = Math.min(p.iouThrs[t]!, 1 - 1e-10);
        for (let j = 0; j < D; j++) {
          let best = thr, m = -1;
          const row = j * G;
          for (let k = 0; k < G; k++) {
            const gk = perm[k]!;
            // already matched and not a crowd: skip
            if (f64[gtm + k]! > 0 && crowd[gk] === 0) continue;
            // matched a regular GT and reached the ignored ones: stop
            if (m > -1 && u8[gIg + m] === 0 && u8[gIg + k] === 1) break;
            const v = iou[row + gk]!;
            if (v < best) continue;
            best = v;
            m = k;
          }
          if (m === -1) continue;
          u8[dtIg + j] = u8[gIg + m]!;
          f64[dtm + j] = f64[gIds + m]!;
          f64[gtm + m] = f64[oIds + j]!;
        }
      }
      for (let j = 0; j < D; j++) {
        if (outOfRange[j] === 1 && f64[dtm + j] === 0) u8[dtIg + j] = 1;
      }
    }
  }
  return rec;
}
