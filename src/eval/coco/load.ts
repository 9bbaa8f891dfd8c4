/**
 * @file Ground truth (`COCO(gt.json)` + `createIndex`) and results (`COCO.loadRes`) loading with
 * validation, reproducing pycocotools' semantics (docs/evaluation.md#inputs) in struct-of-arrays form:
 *  - evaluated images = every GT image id, ascending; categories = every category id, ascending;
 *  - GT `area` taken as stored, `ignore := iscrowd`, per-cell file order;
 *  - result ids = 1-based index in the results array; `area` from the branch picked by results[0]
 *    (box area if it has a non-empty `bbox`, else mask area); unknown categories dropped.
 * Invalid input throws InputError with the JSON path; pycocotools-defined oddities become warnings.
 */
import {
  expectArray, expectInteger, expectNumber, expectObject, expectXywh, expectFlag, fail, isObject,
  pyTruthy, typeName, type WarningCollector,
} from '../json-check.js';
import { rleArea, rleToBbox } from '../rle.js';
import { parseRleObject } from './segmentation.js';

/** Validated ground truth. Image/category arrays are indexed by sorted position. */
export interface CocoGroundTruth {
  /** JSON path prefix of the ground truth (for lazy segmentation errors). */
  path: string;
  /** [I] evaluated image ids, ascending (`sorted(coco.getImgIds())`). */
  imageIds: Float64Array;
  /** [I] image heights / widths. */
  heights: Float64Array;
  widths: Float64Array;
  /** [I] sorted positions in `images` file order (mmdet's dataset order). */
  imageFileOrder: Int32Array;
  imageIndex: Map<number, number>;
  /** [K] category ids, ascending. */
  categoryIds: Float64Array;
  /** [K] category names. */
  categoryNames: string[];
  /** [K] sorted positions in `categories` file order (mmdet labels). */
  categoryFileOrder: Int32Array;
  categoryIndex: Map<number, number>;
  /** Annotations on a known image and category, in file order. */
  anns: {
    count: number;
    id: Float64Array;
    /** sorted image position */
    image: Int32Array;
    /** sorted category position */
    category: Int32Array;
    area: Float64Array;
    iscrowd: Uint8Array;
    /** JSON `ignore` key is truthy: mmdet drops the box; pycocotools overwrites the key. */
    ignoreKey: Uint8Array;
    /** [n×4] xywh */
    bbox: Float64Array;
    /** raw JSON segmentation, validated when segm is evaluated */
    segmentation: unknown[];
    /** index in the JSON `annotations` array */
    source: Int32Array;
  };
}

const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isSafeNonNegative = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * `[x, y, w, h]` of 4 finite numbers with w, h >= 0 copied into `out` (true), or false (then
 * `expectXywh` names the problem).
 */
function readXywh(v: unknown, out: Float64Array, offset: number): boolean {
  if (!Array.isArray(v) || v.length !== 4) return false;
  const x = v[0], y = v[1], w = v[2], h = v[3];
  if (!isFiniteNumber(x) || !isFiniteNumber(y) || !isFiniteNumber(w) || !isFiniteNumber(h) || w < 0 || h < 0) return false;
  out[offset] = x;
  out[offset + 1] = y;
  out[offset + 2] = w;
  out[offset + 3] = h;
  return true;
}

/** Validate a COCO instances object. Mirrors `coco.py: COCO.__init__/createIndex` + `Params` ids. */
export function loadGroundTruth(json: unknown, path: string, warnings: WarningCollector): CocoGroundTruth {
  const root = expectObject(json, path);
  const images = expectArray(root.images, `${path}.images`);
  const cats = expectArray(root.categories, `${path}.categories`);
  let annsIn: unknown[] = [];
  if (root.annotations === undefined) warnings.add('no-annotations', `${path}.annotations`, 'missing; evaluating with no ground-truth instances');
  else annsIn = expectArray(root.annotations, `${path}.annotations`);

  const seenImg = new Map<number, number>();
  const rawImg: Array<{ id: number; h: number; w: number }> = [];
  images.forEach((v, i) => {
    const p = `${path}.images[${i}]`;
    const o = expectObject(v, p);
    const id = expectInteger(o.id, `${p}.id`, 0);
    const prev = seenImg.get(id);
    if (prev !== undefined) fail(`${p}.id`, `duplicate image id ${id} (also images[${prev}])`);
    seenImg.set(id, i);
    const h = expectInteger(o.height, `${p}.height`, 1);
    const w = expectInteger(o.width, `${p}.width`, 1);
    rawImg.push({ id, h, w });
  });
  const imgOrder = rawImg.map((_, i) => i).sort((a, b) => rawImg[a]!.id - rawImg[b]!.id);
  const I = rawImg.length;
  const imageIds = new Float64Array(I), heights = new Float64Array(I), widths = new Float64Array(I);
  const imageFileOrder = new Int32Array(I);
  const imageIndex = new Map<number, number>();
  imgOrder.forEach((src, k) => {
    const r = rawImg[src]!;
    imageIds[k] = r.id;
    heights[k] = r.h;
    widths[k] = r.w;
    imageFileOrder[src] = k;
    imageIndex.set(r.id, k);
  });

  const seenCat = new Map<number, number>();
  const rawCat: Array<{ id: number; name: string }> = [];
  cats.forEach((v, i) => {
    const p = `${path}.categories[${i}]`;
    const o = expectObject(v, p);
    const id = expectInteger(o.id, `${p}.id`, 0);
    const prev = seenCat.get(id);
    if (prev !== undefined) fail(`${p}.id`, `duplicate category id ${id} (also categories[${prev}])`);
    seenCat.set(id, i);
    if (o.name !== undefined && typeof o.name !== 'string') fail(`${p}.name`, `must be a string, got ${typeName(o.name)}`, 400);
    rawCat.push({ id, name: typeof o.name === 'string' ? o.name : String(id) });
  });
  const catOrder = rawCat.map((_, i) => i).sort((a, b) => rawCat[a]!.id - rawCat[b]!.id);
  const K = rawCat.length;
  const categoryIds = new Float64Array(K), categoryFileOrder = new Int32Array(K);
  const categoryNames: string[] = [];
  const categoryIndex = new Map<number, number>();
  catOrder.forEach((src, k) => {
    categoryIds[k] = rawCat[src]!.id;
    categoryNames.push(rawCat[src]!.name);
    categoryFileOrder[src] = k;
    categoryIndex.set(rawCat[src]!.id, k);
  });

  const n0 = annsIn.length;
  const id = new Float64Array(n0), image = new Int32Array(n0), category = new Int32Array(n0);
  const area = new Float64Array(n0), bbox = new Float64Array(4 * n0);
  const iscrowd = new Uint8Array(n0), ignoreKey = new Uint8Array(n0), source = new Int32Array(n0);
  const segmentation: unknown[] = [];
  const seenAnn = new Map<number, number>();
  let n = 0;
  for (let i = 0; i < n0; i++) {
    // fast checks first; the JSON path is only spelled out for an error or a warning
    const v = annsIn[i];
    const o = isObject(v) ? v : expectObject(v, `${path}.annotations[${i}]`);
    const aid = isSafeNonNegative(o.id) ? o.id : expectInteger(o.id, `${path}.annotations[${i}].id`, 0);
    const prev = seenAnn.get(aid);
    if (prev !== undefined) fail(`${path}.annotations[${i}].id`, `duplicate annotation id ${aid} (also annotations[${prev}]); pycocotools would evaluate one of them twice`);
    seenAnn.set(aid, i);
    const img = imageIndex.get(isFiniteNumber(o.image_id) ? o.image_id : expectNumber(o.image_id, `${path}.annotations[${i}].image_id`));
    const cat = categoryIndex.get(isFiniteNumber(o.category_id) ? o.category_id : expectNumber(o.category_id, `${path}.annotations[${i}].category_id`));
    if (img === undefined) {
      warnings.add('gt-unknown-image', `${path}.annotations[${i}].image_id`, 'annotation on an image not listed in images; not evaluated (as pycocotools)');
      continue;
    }
    if (cat === undefined) {
      warnings.add('gt-unknown-category', `${path}.annotations[${i}].category_id`, 'annotation of a category not listed in categories; not evaluated (as pycocotools)');
      continue;
    }
    if (aid === 0) warnings.add('gt-id-zero', `${path}.annotations[${i}].id`, 'annotation id 0 can never be matched (pycocotools uses 0 for "unmatched"); detections on it count as false positives. Use ids >= 1');
    id[n] = aid;
    image[n] = img;
    category[n] = cat;
    if (!readXywh(o.bbox, bbox, 4 * n)) expectXywh(o.bbox, `${path}.annotations[${i}].bbox`, bbox, 4 * n);
    const ar = isFiniteNumber(o.area) ? o.area : expectNumber(o.area, `${path}.annotations[${i}].area`);
    if (ar < 0) fail(`${path}.annotations[${i}].area`, `must be >= 0, got ${ar}`);
    area[n] = ar;
    const c = o.iscrowd;
    iscrowd[n] = c === 0 || c === false ? 0 : c === 1 || c === true ? 1 : expectFlag(c, `${path}.annotations[${i}].iscrowd`);
    ignoreKey[n] = o.ignore === undefined ? 0 : pyTruthy(o.ignore) ? 1 : 0;
    segmentation.push(o.segmentation);
    source[n] = i;
    n++;
  }
  return {
    path, imageIds, heights, widths, imageFileOrder, imageIndex, categoryIds, categoryNames, categoryFileOrder, categoryIndex,
    anns: {
      count: n, id: id.slice(0, n), image: image.slice(0, n), category: category.slice(0, n), area: area.slice(0, n),
      iscrowd: iscrowd.slice(0, n), ignoreKey: ignoreKey.slice(0, n), bbox: bbox.slice(0, 4 * n), segmentation, source: source.slice(0, n),
    },
  };
}

/** Validated results (detections) on known categories, in input order. */
export interface CocoResults {
  path: string;
  /** loadRes branch chosen by results[0]; 'empty' for []. */
  branch: 'bbox' | 'segm' | 'empty';
  /** Number of results in the input (including dropped ones). */
  inputCount: number;
  count: number;
  /** result id = 1-based index in the input array */
  id: Float64Array;
  image: Int32Array;
  category: Int32Array;
  score: Float64Array;
  /** loadRes `area`: box area (bbox branch) or mask pixel count (segm branch) */
  area: Float64Array;
  /** [n×4] xywh: as given, or the mask's `rleToBbox` when missing (segm branch) */
  bbox: Float64Array;
  /** raw JSON segmentation (undefined when absent) */
  segmentation: unknown[];
  /** index in the input array */
  source: Int32Array;
}

/**
 * Where a batch of results sits in the whole results array (an evaluation fed image by image):
 * `offset` results come before it (ids and JSON paths continue from there), and `branch` is the
 * loadRes branch the whole array's results[0] chose (the first non-empty batch's).
 */
export interface ResultsBatchPosition {
  offset?: number;
  branch?: 'bbox' | 'segm';
}

/** Validate a COCO results array against `gt`. Mirrors `coco.py: COCO.loadRes` (detection branches). */
export function loadResults(gt: CocoGroundTruth, json: unknown, path: string, warnings: WarningCollector, at: ResultsBatchPosition = {}): CocoResults {
  const arr = expectArray(json, path);
  const N = arr.length;
  const offset = at.offset ?? 0;
  let branch: CocoResults['branch'] = 'empty';
  if (N > 0 && at.branch) branch = at.branch;
  else if (N > 0) {
    const first = expectObject(arr[0], `${path}[0]`);
    if (first.bbox !== undefined && !(Array.isArray(first.bbox) && first.bbox.length === 0)) branch = 'bbox';
    else if (first.segmentation !== undefined) branch = 'segm';
    else fail(`${path}[0]`, 'must have a non-empty bbox or a segmentation (results[0] decides which, as in loadRes)', 400);
  }
  const id = new Float64Array(N), image = new Int32Array(N), category = new Int32Array(N);
  const score = new Float64Array(N), area = new Float64Array(N), bbox = new Float64Array(4 * N);
  const source = new Int32Array(N);
  const segmentation: unknown[] = [];
  let n = 0, dropped = 0, firstDropped = '';
  for (let i = 0; i < N; i++) {
    // fast checks first; the JSON path is only spelled out for an error or a warning
    const v = arr[i];
    const o = isObject(v) ? v : expectObject(v, `${path}[${offset + i}]`);
    const imgId = isFiniteNumber(o.image_id) ? o.image_id : expectNumber(o.image_id, `${path}[${offset + i}].image_id`);
    const img = gt.imageIndex.get(imgId);
    if (img === undefined) fail(`${path}[${offset + i}].image_id`, `image id ${imgId} is not in the ground truth (pycocotools: "Results do not correspond to current coco set")`);
    const catId = isFiniteNumber(o.category_id) ? o.category_id : expectNumber(o.category_id, `${path}[${offset + i}].category_id`);
    const s = isFiniteNumber(o.score) ? o.score : expectNumber(o.score, `${path}[${offset + i}].score`);
    let a: number;
    if (branch === 'bbox') {
      if (!readXywh(o.bbox, bbox, 4 * n)) expectXywh(o.bbox, `${path}[${offset + i}].bbox`, bbox, 4 * n);
      a = bbox[4 * n + 2]! * bbox[4 * n + 3]!;
    } else {
      const p = `${path}[${offset + i}]`;
      if (!isObject(o.segmentation)) {
        fail(`${p}.segmentation`, o.segmentation === undefined
          ? 'is required: results[0] has no bbox, so every result must carry an RLE segmentation (loadRes)'
          : `must be an RLE object when results[0] has no bbox, got ${typeName(o.segmentation)}`, 400);
      }
      const rle = parseRleObject(o.segmentation, `${p}.segmentation`, true);
      a = rleArea(rle.counts);
      // a bbox of [] (which sent results[0] here) is kept by loadRes; we fill it from the mask instead
      if (o.bbox !== undefined && !(Array.isArray(o.bbox) && o.bbox.length === 0)) expectXywh(o.bbox, `${p}.bbox`, bbox, 4 * n);
      else bbox.set(rleToBbox(rle.counts, rle.h, rle.w), 4 * n);
    }
    const cat = gt.categoryIndex.get(catId);
    if (cat === undefined) {
      if (dropped++ === 0) firstDropped = `${path}[${offset + i}].category_id`;
      continue;
    }
    id[n] = offset + i + 1;
    image[n] = img;
    category[n] = cat;
    score[n] = s;
    area[n] = a;
    segmentation.push(o.segmentation);
    source[n] = offset + i;
    n++;
  }
  if (dropped > 0) {
    warnings.addSummary('dt-unknown-category', firstDropped, `${dropped} result(s) with a category_id not in the ground truth were dropped (as pycocotools)`);
  }
  return {
    path, branch, inputCount: N, count: n,
    id: id.slice(0, n), image: image.slice(0, n), category: category.slice(0, n), score: score.slice(0, n),
    area: area.slice(0, n), bbox: bbox.slice(0, 4 * n), segmentation, source: source.slice(0, n),
  };
}
