/**
 * @file Per-image COCO evaluation: `cocoeval.py: COCOeval.evaluate` → `computeIoU` + `evaluateImg`
 * (docs/evaluation.md#matching). Produces one {@link ImageEvalRecord} per non-empty (image, category) cell,
 * with all area ranges and IoU thresholds, ready for `accumulate`. Records of disjoint image subsets can be
 * computed separately (in batches, in workers) and accumulated together: the result is identical.
 */
import { cocoBoxIou } from '../box-iou.js';
import { InputError } from '../errors.js';
import { fail, isObject, type WarningCollector } from '../json-check.js';
import type { Rle } from '../rle.js';
import { sortIndicesDesc } from '../numeric.js';
import { frBbox } from '../rle.js';
import type { CocoGroundTruth, CocoResults } from './load.js';
import { matchCell, type CellInput } from './match.js';
import type { CocoParams } from './params.js';
import { ContentHash, StoredMasks, gtMasksFor, storeRleString } from './gt-masks.js';
import { RecordArena, type ImageEvalRecord } from './records.js';
import {
  checkPolygons, MAX_MASK_PIXELS, MaskSet, maskSetIou, parseRleObject, polygonsPlain, polygonsToCounts, segmentationToRle,
} from './segmentation.js';

export { ImageEvalRecord } from './records.js';

/** Which detection area splits small/medium/large in segm evaluation (docs/evaluation.md#results). */
export type SegmAreaSource = 'loadRes' | 'mask';

/** Records of a set of images, with what `accumulate` needs to combine them. */
export interface EvalRecords {
  params: CocoParams;
  /** [K] category ids, ascending: the K axis of precision/recall. */
  categoryIds: Float64Array;
  records: ImageEvalRecord[];
}

/** Ground truth + results indexed for per-image evaluation. */
export interface CocoEvalContext {
  gt: CocoGroundTruth;
  dt: CocoResults;
  params: CocoParams;
  segmArea: SegmAreaSource;
  warnings: WarningCollector | undefined;
  /** GT annotation indices sorted by (image, category, file order); image i owns [gtStart[i], gtStart[i+1]). */
  gtOrder: Int32Array;
  gtStart: Int32Array;
  dtOrder: Int32Array;
  dtStart: Int32Array;
  /** Record storage shared by every evaluateImages call on this context (chunks of images). */
  arena?: RecordArena;
}

function groupByImageThenCategory(image: Int32Array, category: Int32Array, I: number): [Int32Array, Int32Array] {
  const n = image.length;
  // stable counting sort by image, then a stable sort by category inside each image
  const start = new Int32Array(I + 1);
  for (let j = 0; j < n; j++) start[image[j]! + 1]!++;
  for (let i = 0; i < I; i++) start[i + 1]! += start[i]!;
  const order = new Int32Array(n);
  const fill = start.slice(0, I);
  for (let j = 0; j < n; j++) order[fill[image[j]!]!++] = j;
  for (let i = 0; i < I; i++) {
    const lo = start[i]!, hi = start[i + 1]!;
    if (hi - lo > 64) {
      order.subarray(lo, hi).sort((x, y) => category[x]! - category[y]! || x - y);
      continue;
    }
    for (let q = lo + 1; q < hi; q++) {
      const v = order[q]!, c = category[v]!;
      let p = q - 1;
      while (p >= lo && category[order[p]!]! > c) {
        order[p + 1] = order[p]!;
        p--;
      }
      order[p + 1] = v;
    }
  }
  return [order, start];
}

const gtGrouping = new WeakMap<CocoGroundTruth, [Int32Array, Int32Array]>();

/** Ground truths already validated, with the key of their stored masks (gt-masks.ts). */
const validatedGt = new WeakMap<CocoGroundTruth, StoredMasks>();

/**
 * Validate every segmentation segm evaluation will read (GT, and results that carry one), so that
 * invalid input fails before any work, as pycocotools' `_prepare` converts them all up front.
 * Warnings (odd polygons, RLE size different from the image) are reported here, once. A ground
 * truth is validated only the first time (batches of results may be evaluated against the same GT);
 * meanwhile its content is hashed to find masks rasterized for an identical ground truth earlier.
 */
export function validateSegmentations(gt: CocoGroundTruth, dt: CocoResults, warnings?: WarningCollector): void {
  // JSON paths are spelled out only for a warning or an error (an RLE is parsed again with its path
  // to report the error: the same input gives the same error)
  const pathOf = (isGt: boolean, i: number): string => (isGt
    ? `${gt.path}.annotations[${gt.anns.source[i]}].segmentation`
    : `${dt.path}[${dt.source[i]}].segmentation`);
  const check = (v: unknown, isGt: boolean, i: number, h: number, w: number, hash?: ContentHash): void => {
    if (Array.isArray(v)) {
      // a quick check without the JSON path first (it hashes what it reads); otherwise the full check
      // with the path (it throws, or only warns: then all of it is hashed after a marker)
      hash?.num(1);
      if (!polygonsPlain(v, hash)) {
        checkPolygons(v, pathOf(isGt, i), warnings);
        if (hash) {
          hash.num(-1);
          hash.num(v.length);
          for (const part of v as number[][]) hash.nums(part);
        }
      }
    } else if (isObject(v)) {
      if (!isGt && dtStore && typeof v.counts === 'string') {
        // the usual result: a compressed RLE of its image's size, decoded straight into stored runs
        const size = v.size;
        if (Array.isArray(size) && size.length === 2 && size[0] === h && size[1] === w && storeRleString(dtStore, i, v.counts, h, w) === 'stored') return;
      }
      let rle: Rle;
      try {
        rle = parseRleObject(v, '', true);
      } catch (e) {
        if (e instanceof InputError) parseRleObject(v, pathOf(isGt, i), true);
        throw e;
      }
      if (rle.h !== h || rle.w !== w) {
        warnings?.add('rle-size', `${pathOf(isGt, i)}.size`, `RLE size ${rle.h}x${rle.w} differs from the image's ${h}x${w}; it can never match (IoU -1, as in pycocotools)`);
      }
      if (!isGt && dtStore) {
        // keep the decoded mask for the cells (no second decode)
        scratchMask.clear();
        scratchMask.add(rle.counts, rle.h, rle.w);
        dtStore.store(i, scratchMask, 0);
      }
      if (hash) {
        hash.num(2);
        hash.num(rle.h);
        hash.num(rle.w);
        if (typeof v.counts === 'string') hash.str(v.counts);
        else hash.nums(rle.counts);
      }
    } else segmentationToRle(v, pathOf(isGt, i), h, w); // throws the type error
  };
  if (!validatedGt.has(gt)) {
    gt.imageFileOrder.forEach((k, src) => {
      const h = gt.heights[k]!, w = gt.widths[k]!;
      if (h * w > MAX_MASK_PIXELS) fail(`${gt.path}.images[${src}]`, `image of ${h}x${w} pixels is too large for mask evaluation`, 413);
    });
    const hash = new ContentHash();
    hash.num(GT_MASKS_FORMAT);
    hash.num(gt.anns.count);
    for (let a = 0; a < gt.anns.count; a++) {
      const img = gt.anns.image[a]!;
      const h = gt.heights[img]!, w = gt.widths[img]!;
      hash.num(h);
      hash.num(w);
      check(gt.anns.segmentation[a], true, a, h, w, hash);
    }
    validatedGt.set(gt, gtMasksFor(hash.digest(), gt.anns.count));
  }
  const dtStore = dt.count > 0 && !storedDt.has(dt) ? new StoredMasks(dt.count) : undefined;
  if (dtStore) {
    storedDt.set(dt, dtStore);
    // one allocation: a compressed RLE of n characters has at most n counts, so at most n + 1 run bounds
    let chars = 0;
    for (let r = 0; r < dt.count; r++) {
      const seg = dt.segmentation[r];
      if (isObject(seg) && typeof seg.counts === 'string') chars += seg.counts.length + 2;
    }
    dtStore.reserve(chars);
  }
  for (let r = 0; r < dt.count; r++) {
    const seg = dt.segmentation[r];
    if (seg === undefined) continue; // bbox branch without segmentation: the box polygon
    const img = dt.image[r]!;
    check(seg, false, r, gt.heights[img]!, gt.widths[img]!);
  }
}

/** Decoded result masks of a batch, kept by validation for its cells (freed with the batch). */
const storedDt = new WeakMap<CocoResults, StoredMasks>();
const scratchMask = new MaskSet();

/** Version of what the mask key covers (bump when rasterization or the hashed fields change). */
const GT_MASKS_FORMAT = 1;

/**
 * Index GT and results by image and category (and, for segm, validate all segmentations).
 * Mirrors `cocoeval.py: COCOeval._prepare`.
 */
export function prepareEvaluation(
  gt: CocoGroundTruth,
  dt: CocoResults,
  params: CocoParams,
  options: { segmArea?: SegmAreaSource; warnings?: WarningCollector } = {},
): CocoEvalContext {
  const I = gt.imageIds.length;
  // the GT grouping is the same for every batch of results (an evaluation fed image by image)
  let gtGroups = gtGrouping.get(gt);
  if (!gtGroups) gtGrouping.set(gt, (gtGroups = groupByImageThenCategory(gt.anns.image, gt.anns.category, I)));
  const [gtOrder, gtStart] = gtGroups;
  const [dtOrder, dtStart] = groupByImageThenCategory(dt.image, dt.category, I);
  if (params.iouType === 'segm') validateSegmentations(gt, dt, options.warnings);
  return { gt, dt, params, segmArea: options.segmArea ?? 'loadRes', warnings: options.warnings, gtOrder, gtStart, dtOrder, dtStart };
}

/**
 * Evaluate the given images (GT image ids; default all, ascending) and return their cell records.
 * Mirrors `cocoeval.py: COCOeval.evaluate` restricted to those images.
 */
export function evaluateImages(ctx: CocoEvalContext, imageIds?: Iterable<number>): EvalRecords {
  const records: ImageEvalRecord[] = [];
  const arena = (ctx.arena ??= new RecordArena());
  const I = ctx.gt.imageIds.length;
  if (imageIds === undefined) {
    for (let i = 0; i < I; i++) evaluateImage(ctx, i, records, arena);
  } else {
    for (const id of imageIds) {
      const i = ctx.gt.imageIndex.get(id);
      if (i === undefined) throw new RangeError(`image id ${id} is not in the ground truth`);
      evaluateImage(ctx, i, records, arena);
    }
  }
  return { params: ctx.params, categoryIds: ctx.gt.categoryIds, records };
}

function evaluateImage(ctx: CocoEvalContext, i: number, out: ImageEvalRecord[], arena: RecordArena): void {
  const { gt, dt, gtOrder, dtOrder } = ctx;
  let g = ctx.gtStart[i]!, d = ctx.dtStart[i]!;
  const gEnd = ctx.gtStart[i + 1]!, dEnd = ctx.dtStart[i + 1]!;
  while (g < gEnd || d < dEnd) {
    const gc = g < gEnd ? gt.anns.category[gtOrder[g]!]! : Infinity;
    const dc = d < dEnd ? dt.category[dtOrder[d]!]! : Infinity;
    const cat = Math.min(gc, dc);
    const g0 = g, d0 = d;
    while (g < gEnd && gt.anns.category[gtOrder[g]!] === cat) g++;
    while (d < dEnd && dt.category[dtOrder[d]!] === cat) d++;
    out.push(evaluateCell(ctx, i, cat, gtOrder.subarray(g0, g), dtOrder.subarray(d0, d), arena));
  }
}

/** Reused per-cell buffers (grown on demand). */
const cell: CellInput & { dIdx: Int32Array } = {
  imageId: 0, categoryId: 0, D: 0, G: 0,
  dtIds: new Float64Array(128), dtScores: new Float64Array(128), dtArea: new Float64Array(128),
  gtIds: new Float64Array(64), gtArea: new Float64Array(64), crowd: new Uint8Array(64),
  iou: new Float64Array(4096), dIdx: new Int32Array(128),
};

function reserve(D: number, nAll: number, G: number): void {
  if (cell.dIdx.length < nAll) cell.dIdx = new Int32Array(Math.max(nAll, 2 * cell.dIdx.length));
  if (cell.dtIds.length < nAll) {
    const n = Math.max(nAll, 2 * cell.dtIds.length);
    cell.dtIds = new Float64Array(n);
    cell.dtScores = new Float64Array(n);
    cell.dtArea = new Float64Array(n);
  }
  if (cell.gtIds.length < G) {
    const n = Math.max(G, 2 * cell.gtIds.length);
    cell.gtIds = new Float64Array(n);
    cell.gtArea = new Float64Array(n);
    cell.crowd = new Uint8Array(n);
  }
  if (cell.iou.length < D * G) cell.iou = new Float64Array(Math.max(D * G, 2 * cell.iou.length));
}

/** Reused mask storage of the current cell. */
const masks = new MaskSet();

/**
 * A segmentation validated by {@link validateSegmentations} → counts (RLE strings decoded
 * transiently). It cannot fail any more, so `path` is only the input's prefix.
 */
function validatedCounts(seg: unknown, path: string, h: number, w: number): { counts: ArrayLike<number>; h: number; w: number } {
  if (Array.isArray(seg)) return { counts: polygonsToCounts(seg as number[][], h, w), h, w };
  return segmentationToRle(seg, path, h, w, undefined, true);
}

/**
 * Masks of one cell into {@link masks}: the top D detections (score order) at 0..D-1, then the GT
 * (file order) at D..D+G-1.
 */
function cellMasks(ctx: CocoEvalContext, img: number, gIdx: Int32Array, dIdx: Int32Array, D: number): void {
  const { gt, dt } = ctx;
  const h = gt.heights[img]!, w = gt.widths[img]!;
  masks.clear();
  const storedResults = storedDt.get(dt);
  for (let j = 0; j < D; j++) {
    const r = dIdx[j]!;
    const seg = dt.segmentation[r];
    if (storedResults?.has(r)) masks.addStored(storedResults, r);
    else if (seg === undefined) {
      // loadRes bbox branch: segmentation = the box as a 4-point polygon
      masks.add(frBbox(dt.bbox.subarray(4 * r, 4 * r + 4), h, w), h, w);
    } else {
      const m = validatedCounts(seg, dt.path, h, w);
      masks.add(m.counts, m.h, m.w);
    }
  }
  const stored = validatedGt.get(gt);
  for (let k = 0; k < gIdx.length; k++) {
    const a = gIdx[k]!;
    if (stored?.has(a)) {
      masks.addStored(stored, a);
      continue;
    }
    const m = validatedCounts(gt.anns.segmentation[a], gt.path, h, w);
    const i = masks.add(m.counts, m.h, m.w);
    stored?.store(a, masks, i);
  }
}

/** `computeIoU` + `evaluateImg` for every area range of one cell. */
function evaluateCell(ctx: CocoEvalContext, img: number, cat: number, gAll: Int32Array, dAll: Int32Array, arena: RecordArena): ImageEvalRecord {
  const { gt, dt, params } = ctx;
  const maxDet = params.maxDets[params.maxDets.length - 1]!;
  const G = gAll.length;
  const D = Math.min(dAll.length, maxDet);
  reserve(D, dAll.length, G);
  // detections: stable sort by score, keep the first maxDets[-1]
  const dIdx = cell.dIdx;
  dIdx.set(dAll);
  sortIndicesDesc(dIdx, dAll.length, dt.score);
  for (let j = 0; j < D; j++) {
    const r = dIdx[j]!;
    cell.dtIds[j] = dt.id[r]!;
    cell.dtScores[j] = dt.score[r]!;
    cell.dtArea[j] = dt.area[r]!;
  }
  for (let k = 0; k < G; k++) {
    const a = gAll[k]!;
    cell.crowd[k] = gt.anns.iscrowd[a]!;
    cell.gtArea[k] = gt.anns.area[a]!;
    cell.gtIds[k] = gt.anns.id[a]!;
  }
  // IoU [D×G], GT in file order. Mirrors `COCOeval.computeIoU`.
  const iou = cell.iou;
  const needMasks = params.iouType === 'segm' && D > 0 && (G > 0 || ctx.segmArea === 'mask');
  if (params.iouType === 'bbox') {
    for (let j = 0; j < D; j++) {
      const r4 = 4 * dIdx[j]!;
      for (let k = 0; k < G; k++) iou[j * G + k] = cocoBoxIou(dt.bbox, r4, gt.anns.bbox, 4 * gAll[k]!, cell.crowd[k] === 1);
    }
  } else if (needMasks) {
    cellMasks(ctx, img, gAll, dIdx, D);
    for (let j = 0; j < D; j++) {
      if (ctx.segmArea === 'mask') cell.dtArea[j] = masks.area[j]!;
      for (let k = 0; k < G; k++) iou[j * G + k] = maskSetIou(masks, j, D + k, cell.crowd[k] === 1);
    }
  }
  cell.imageId = gt.imageIds[img]!;
  cell.categoryId = gt.categoryIds[cat]!;
  cell.D = D;
  cell.G = G;
  return matchCell(params, cell, arena);
}
