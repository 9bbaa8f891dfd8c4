/**
 * @file One evaluation of detections against a ground truth that can be fed in pieces: the only
 * way the service evaluates (POST /evaluate in both modes, evaluation jobs, the CLI;
 * `evaluateDetections` is this class run in one go).
 *
 *   const ev = Evaluation.open(groundTruth, options);       // validate options + GT, once
 *   const batch = ev.loadResults(results, { offset });       // all results, or one image's
 *   const part = batch.evaluate(imageIds);                   // per-image COCO + VOC records
 *   ev.add(part);                                            // merge (any order, each image once)
 *   const out = ev.finish();                                 // or drive ev.finishSteps() with awaits
 *
 * A part ({@link RecordSet}) holds, per image, pycocotools' `evalImgs` cells of every IoU type and
 * mmdetection's per-class tp/fp; both merge bit for bit (accumulate orders cells by image id, the
 * VOC table concatenates by image file position), so evaluating images one at a time, in chunks, or
 * in another process whose parts were stored (src/evaluation/records.ts encodes them) gives exactly
 * the numbers of one pass. The finish runs per group of categories so a caller can yield between
 * steps ({@link Evaluation.finishSteps}); nothing here touches a clock, a timer or I/O.
 *
 * Warnings come out in the order one pass gives them: ground truth, results, "segm skipped",
 * segmentation checks (GT, then results), the VOC table.
 */
import { accumulate, type Accumulated } from './coco/accumulate.js';
import { evaluateImages, prepareEvaluation, validateSegmentations, type CocoEvalContext, type EvalRecords, type ImageEvalRecord, type SegmAreaSource } from './coco/evaluate.js';
import { loadGroundTruth, loadResults, type CocoGroundTruth, type CocoResults } from './coco/load.js';
import { resolveParams, type CocoParams, type IouType } from './coco/params.js';
import { perCategory, summarize, type CategoryMetrics } from './coco/summarize.js';
import type { Warning } from './errors.js';
import { expectArray, expectNumber, fail, WarningCollector, type WarningEntry } from './json-check.js';
import { prepareVoc, vocImageRecords, vocTable, type VocBlock, type VocGroundTruth, type VocImageRecord } from './voc-from-coco.js';
import type { VocMode } from './voc.js';

/** What an evaluation computes besides the data (the options of POST /evaluate). */
export interface EvaluationOptions {
  /** Default: bbox, plus segm when every GT annotation and every result carries a segmentation. */
  iouTypes?: Array<'bbox' | 'segm'>;
  /** VOC AP mode; default 'area' (mmdet eval_map's default). */
  vocMode?: 'area' | '11points';
  /** VOC IoU threshold; default 0.5. */
  vocIouThr?: number;
  /** COCOeval overrides: maxDets (3 values), iouThrs, areaRng (4 ranges). */
  params?: { maxDets?: unknown; iouThrs?: unknown; areaRng?: unknown };
  /** Detection area of segm small/medium/large: 'loadRes' (pycocotools, default) or 'mask' (mmdet). */
  segmArea?: SegmAreaSource;
  /** JSON path prefixes for errors and warnings; default 'ground_truth' / 'detections'. */
  paths?: { groundTruth: string; detections: string };
}

/** COCO result of one iouType. `stats` and per-category values are null where pycocotools gives -1. */
export interface CocoBlock {
  /** 12 values: AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl. */
  stats: Array<number | null>;
  per_category: CategoryMetrics[];
  /** [T×R×K×A×M], only with `includeArrays` (evaluateDetections). */
  precision?: ShapedArray;
  /** [T×K×A×M], only with `includeArrays`. */
  recall?: ShapedArray;
  /** [T×R×K×A×M], only with `includeArrays`. */
  scores?: ShapedArray;
}

/** A C-ordered array with its pycocotools shape (values -1 where there is no usable GT). */
export interface ShapedArray {
  shape: number[];
  data: Float64Array;
}

export interface EvaluateDetectionsResult {
  coco: { bbox?: CocoBlock; segm?: CocoBlock };
  voc: VocBlock;
  warnings: Warning[];
  counts: { images: number; gtInstances: number; detections: number };
}

/** What a batch of results contributed besides its images' records (counted once per batch). */
export interface BatchSummary {
  /** Results in the batch's input, and those kept (known category). */
  inputCount: number;
  kept: number;
  /** loadRes branch of the batch ('empty' when it had no results). */
  branch: CocoResults['branch'];
  /** Every result of the batch carries a segmentation. */
  masks: boolean;
  /** Results dropped for an unknown category, and the first one's path. */
  dropped: number;
  firstDropped: string;
  /** Warnings of the segmentation checks of these results (segm evaluated). */
  segmWarnings: WarningEntry[];
}

/** The mergeable records of one image. */
export interface ImageRecords {
  imageId: number;
  /** pycocotools `evalImgs` cells of this image, per IoU type computed. */
  coco: Partial<Record<IouType, ImageEvalRecord[]>>;
  /** mmdet tp/fp of this image's detections (null: no detection). */
  voc: VocImageRecord | null;
}

/** What {@link ResultsBatch.evaluate} returns and {@link Evaluation.add} takes. */
export interface RecordSet {
  /** Set on the first set taken from a batch. */
  batch: BatchSummary | null;
  images: ImageRecords[];
}

/** Missed GT and false positives of one image at IoU 0.5, all areas (first IoU type evaluated). */
export interface ImageErrors {
  imageId: number;
  /** Non-ignored GT not matched. */
  missed: number;
  /** Non-ignored detections not matched. */
  falsePositives: number;
  gt: number;
}

/** The end of an evaluation. */
export interface EvaluationOutcome {
  result: EvaluateDetectionsResult;
  /** The accumulated arrays per IoU type (PR curves of the report, `includeArrays`). */
  accumulated: Partial<Record<IouType, Accumulated>>;
  /** Per GT image, the errors of its detections (worst images of the report). */
  imageErrors: ImageErrors[];
}

/** How finely {@link Evaluation.finishSteps} cuts the accumulation. */
export interface FinishOptions {
  /** Detections per accumulation group (default: max(20 000, all / 8)); 1 = one category at a time. */
  groupDetections?: number;
}

/** Results loaded against the evaluation's GT, evaluated image by image. */
export class ResultsBatch {
  private summary: BatchSummary | null;
  private readonly contexts = new Map<IouType, CocoEvalContext>();

  constructor(private readonly ev: Evaluation, readonly dt: CocoResults, summary: BatchSummary, iouTypes: readonly IouType[]) {
    this.summary = summary;
    const warnings = new WarningCollector();
    for (const t of iouTypes) this.contexts.set(t, prepareEvaluation(ev.gt, dt, ev.paramsOf(t), { segmArea: ev.segmArea, warnings }));
    summary.segmWarnings = warnings.entries();
  }

  /**
   * Records of the given GT image ids (default: every GT image). Each image must be evaluated once
   * per evaluation; its detections must all be in this batch.
   */
  evaluate(imageIds?: readonly number[]): RecordSet {
    const ids = imageIds ?? Array.from(this.ev.gt.imageIds);
    const positions = ids.map((id) => {
      const i = this.ev.gt.imageIndex.get(id);
      if (i === undefined) throw new RangeError(`image id ${id} is not in the ground truth`);
      return i;
    });
    const byImage = new Map<number, ImageRecords>(ids.map((id) => [id, { imageId: id, coco: {}, voc: null }]));
    for (const [t, ctx] of this.contexts) {
      for (const rec of evaluateImages(ctx, ids).records) {
        const im = byImage.get(rec.imageId)!;
        (im.coco[t] ??= []).push(rec);
      }
    }
    for (const rec of vocImageRecords(this.ev.vocGt, this.dt, { iouThr: this.ev.vocIouThr }, positions)) {
      byImage.get(this.ev.gt.imageIds[this.ev.gt.imageFileOrder[rec.filePos]!]!)!.voc = rec;
    }
    const batch = this.summary;
    this.summary = null;
    return { batch, images: [...byImage.values()] };
  }
}

/** A chunkable evaluation (see the file header). */
export class Evaluation {
  readonly gt: CocoGroundTruth;
  readonly vocGt: VocGroundTruth;
  readonly vocMode: VocMode;
  readonly vocIouThr: number;
  readonly segmArea: SegmAreaSource;
  readonly paths: { groundTruth: string; detections: string };
  private readonly explicitTypes: IouType[] | undefined;
  private readonly paramsInput: EvaluationOptions['params'];
  private readonly params = new Map<IouType, CocoParams>();
  private readonly gtWarnings = new WarningCollector();
  private readonly gtSegmWarnings = new WarningCollector();
  private readonly vocWarnings = new WarningCollector();
  private readonly gtHasMasks: boolean;
  private readonly images = new Map<number, ImageRecords>();
  private readonly batches: BatchSummary[] = [];
  private branch: 'bbox' | 'segm' | null = null;
  private gtSegmChecked = false;
  /** Results fed (sum of the batches' inputCount) and whether every batch carried masks. */
  private fed = 0;
  private allMasks = true;

  private constructor(groundTruth: unknown, options: EvaluationOptions) {
    this.paths = options.paths ?? { groundTruth: 'ground_truth', detections: 'detections' };
    const vocMode: VocMode = options.vocMode ?? 'area';
    if (vocMode !== 'area' && vocMode !== '11points') fail('voc_mode', `must be "area" or "11points", got ${JSON.stringify(vocMode)}`, 400);
    this.vocMode = vocMode;
    this.vocIouThr = options.vocIouThr === undefined ? 0.5 : expectNumber(options.vocIouThr, 'voc_iou_thr');
    if (this.vocIouThr < 0 || this.vocIouThr > 1) fail('voc_iou_thr', `must be in [0, 1], got ${this.vocIouThr}`);
    this.segmArea = options.segmArea ?? 'loadRes';
    if (this.segmArea !== 'loadRes' && this.segmArea !== 'mask') fail('segm_area', `must be "loadRes" or "mask", got ${JSON.stringify(this.segmArea)}`, 400);
    this.explicitTypes = options.iouTypes === undefined ? undefined : parseIouTypes(options.iouTypes);
    this.paramsInput = options.params;
    resolveParams('bbox', options.params); // validate once (the iouType only labels them)
    this.gt = loadGroundTruth(groundTruth, this.paths.groundTruth, this.gtWarnings);
    this.gtHasMasks = this.gt.anns.segmentation.every((s) => s !== undefined);
    this.vocGt = prepareVoc(this.gt, this.vocWarnings);
  }

  /**
   * Validates the options and the ground truth.
   * @throws InputError naming the option or the JSON path of the ground truth.
   */
  static open(groundTruth: unknown, options: EvaluationOptions = {}): Evaluation {
    return new Evaluation(groundTruth, options);
  }

  /** pycocotools Params of one IoU type (the validated overrides; resolved once per type). */
  paramsOf(iouType: IouType): CocoParams {
    let p = this.params.get(iouType);
    if (!p) this.params.set(iouType, (p = resolveParams(iouType, this.paramsInput)));
    return p;
  }

  /** Images recorded so far. */
  get imagesRecorded(): number {
    return this.images.size;
  }

  /** Results fed so far (the offset of the next image's batch). */
  get resultsFed(): number {
    return this.fed;
  }

  /** The IoU types whose records a batch computes (those asked for, or the candidates). */
  private candidateTypes(masks: boolean): IouType[] {
    if (this.explicitTypes) return this.explicitTypes;
    return this.gtHasMasks && masks && this.allMasks ? ['bbox', 'segm'] : ['bbox'];
  }

  /**
   * Loads results (a COCO results array: all of them, or the next image's) against the GT.
   * `offset`: results fed before these, so ids and JSON paths continue (default {@link resultsFed}
   * when images are fed one by one; pass 0 for a single batch).
   * @throws InputError with the JSON path of the offending result.
   */
  loadResults(json: unknown, at: { offset?: number } = {}): ResultsBatch {
    const warnings = new WarningCollector();
    const dt = loadResults(this.gt, json, this.paths.detections, warnings, {
      offset: at.offset ?? this.resultsFed,
      ...(this.branch ? { branch: this.branch } : {}),
    });
    if (dt.branch !== 'empty') this.branch ??= dt.branch;
    const dropped = warnings.entries().find((e) => e.kind === 'dt-unknown-category');
    const masks = dt.segmentation.every((s) => s !== undefined);
    const summary: BatchSummary = {
      inputCount: dt.inputCount, kept: dt.count, branch: dt.branch, masks,
      dropped: dt.inputCount - dt.count, firstDropped: dropped?.path ?? '', segmWarnings: [],
    };
    const types = this.candidateTypes(masks);
    if (types.includes('segm')) this.checkGtSegmentations();
    return new ResultsBatch(this, dt, summary, types);
  }

  /** GT segmentations are checked once, before the first segm records (their warnings kept apart). */
  private checkGtSegmentations(): void {
    if (this.gtSegmChecked) return;
    validateSegmentations(this.gt, { ...EMPTY_RESULTS, path: this.paths.detections }, this.gtSegmWarnings);
    this.gtSegmChecked = true;
  }

  /**
   * Merges a record set (this process's, or one read back from storage).
   * @throws RangeError when an image is recorded twice.
   */
  add(set: RecordSet): void {
    for (const im of set.images) {
      if (this.images.has(im.imageId)) throw new RangeError(`image ${im.imageId} is recorded twice`);
      if (!this.gt.imageIndex.has(im.imageId)) throw new RangeError(`image id ${im.imageId} is not in the ground truth`);
    }
    if (set.batch) {
      this.batches.push(set.batch);
      this.fed += set.batch.inputCount;
      this.allMasks &&= set.batch.masks;
      if (set.batch.branch !== 'empty') this.branch ??= set.batch.branch;
    }
    for (const im of set.images) this.images.set(im.imageId, im);
  }

  /** The IoU types evaluated, decided from everything fed (chooseIouTypes of one pass). */
  private finalTypes(warnings: WarningCollector): IouType[] {
    if (this.explicitTypes) return this.explicitTypes;
    if (this.gtHasMasks && this.allMasks) return ['bbox', 'segm'];
    warnings.add('segm-skipped', this.gtHasMasks ? this.paths.detections : `${this.paths.groundTruth}.annotations`,
      `segm not evaluated: ${this.gtHasMasks ? 'some detections' : 'some ground-truth annotations'} have no segmentation (request iou_types=segm to evaluate boxes as masks)`);
    return ['bbox'];
  }

  /**
   * The finish, one step per `next()`: accumulation per group of categories (each category's
   * precision/recall depends only on its own cells, so groups copied into one array give the bits
   * of one call), then summaries, the VOC table and the warnings. Drive it with awaits in between
   * to keep an event loop turning; {@link finish} runs it at once.
   */
  *finishSteps(options: FinishOptions = {}): Generator<void, EvaluationOutcome, void> {
    const warnings = new WarningCollector();
    warnings.merge(this.gtWarnings.entries());
    const dropped = this.batches.filter((b) => b.dropped > 0);
    if (dropped.length > 0) {
      const n = dropped.reduce((s, b) => s + b.dropped, 0);
      warnings.addSummary('dt-unknown-category', dropped[0]!.firstDropped, `${n} result(s) with a category_id not in the ground truth were dropped (as pycocotools)`);
    }
    const iouTypes = this.finalTypes(warnings);
    if (iouTypes.includes('segm')) {
      this.checkGtSegmentations();
      warnings.merge(this.gtSegmWarnings.entries());
      for (const b of this.batches) warnings.merge(b.segmWarnings);
    }
    const records = [...this.images.values()];
    const coco: EvaluateDetectionsResult['coco'] = {};
    const accumulated: EvaluationOutcome['accumulated'] = {};
    let imageErrors: ImageErrors[] | null = null;
    for (const t of iouTypes) {
      const cells: ImageEvalRecord[] = [];
      for (const im of records) for (const c of im.coco[t] ?? []) cells.push(c);
      const acc = yield* accumulateInGroups({ params: this.paramsOf(t), categoryIds: this.gt.categoryIds, records: cells }, options.groupDetections);
      coco[t] = { stats: summarize(acc).map((v) => (v === -1 ? null : v)), per_category: perCategory(acc, this.gt.categoryNames) };
      accumulated[t] = acc;
      imageErrors ??= errorsPerImage(this.gt.imageIds, cells);
      yield;
    }
    const voc = vocTable(this.gt, this.vocGt, records.flatMap((im) => (im.voc ? [im.voc] : [])), { iouThr: this.vocIouThr, mode: this.vocMode });
    warnings.merge(this.vocWarnings.entries());
    let detections = 0;
    for (const b of this.batches) detections += b.kept;
    return {
      result: { coco, voc, warnings: warnings.list(), counts: { images: this.gt.imageIds.length, gtInstances: this.gt.anns.count, detections } },
      accumulated,
      imageErrors: imageErrors ?? [],
    };
  }

  /** {@link finishSteps} at once. */
  finish(options: FinishOptions = {}): EvaluationOutcome {
    const steps = this.finishSteps(options);
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
    }
  }

  /**
   * {@link finishSteps} with `between()` awaited between steps (a caller yields to its event loop
   * or checks for cancellation there; the core itself stays free of timers and I/O).
   */
  async finishStepwise(between: () => Promise<void> | void, options: FinishOptions = {}): Promise<EvaluationOutcome> {
    const steps = this.finishSteps(options);
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
      await between();
    }
  }
}

const EMPTY_RESULTS: CocoResults = {
  path: 'detections', branch: 'empty', inputCount: 0, count: 0, id: new Float64Array(0), image: new Int32Array(0), category: new Int32Array(0),
  score: new Float64Array(0), area: new Float64Array(0), bbox: new Float64Array(0), segmentation: [], source: new Int32Array(0),
};

/** `iou_types` as given: a non-empty list of "bbox" / "segm" (duplicates dropped); 400 otherwise. */
export function parseIouTypes(v: unknown): IouType[] {
  const a = expectArray(v, 'iou_types');
  const out: IouType[] = [];
  a.forEach((t, i) => {
    if (t !== 'bbox' && t !== 'segm') fail(`iou_types[${i}]`, `must be "bbox" or "segm", got ${JSON.stringify(t)}`, 400);
    if (!out.includes(t)) out.push(t);
  });
  if (out.length === 0) fail('iou_types', 'must name at least one of "bbox", "segm"', 400);
  return out;
}

/**
 * `accumulate` run per group of categories (about 1/8 of the detections each, at least 20 000),
 * yielding between groups; each group's K-slices are copied into the first group's arrays.
 */
function* accumulateInGroups(all: EvalRecords, groupDetections?: number): Generator<void, Accumulated, void> {
  const cats = all.categoryIds;
  const kOf = new Map<number, number>();
  cats.forEach((c, k) => kOf.set(c, k));
  const byK: ImageEvalRecord[][] = Array.from({ length: cats.length }, () => []);
  let total = 0;
  for (const rec of all.records) {
    const k = kOf.get(rec.categoryId);
    if (k === undefined) return accumulate(all); // throws the core's error, as one call does
    byK[k]!.push(rec);
    total += rec.numDt;
  }
  const budget = groupDetections ?? Math.max(20_000, Math.ceil(total / 8));
  const groups: Array<{ ks: number[]; records: ImageEvalRecord[] }> = [];
  let cur = { ks: [] as number[], records: [] as ImageEvalRecord[], dets: 0 };
  byK.forEach((recs, k) => {
    cur.ks.push(k);
    for (const r of recs) { cur.records.push(r); cur.dets += r.numDt; }
    if (cur.dets >= budget) { groups.push(cur); cur = { ks: [], records: [], dets: 0 }; }
  });
  if (cur.ks.length > 0 || groups.length === 0) groups.push(cur);

  let out: Accumulated | null = null;
  for (const g of groups) {
    const acc = accumulate({ params: all.params, categoryIds: cats, records: g.records });
    if (out === null) out = acc;
    else {
      const { T, R, K, A, M } = out;
      const AM = A * M;
      for (const k of g.ks) {
        for (let t = 0; t < T; t++) {
          for (let r = 0; r < R; r++) {
            const o = ((t * R + r) * K + k) * AM;
            out.precision.set(acc.precision.subarray(o, o + AM), o);
            out.scores.set(acc.scores.subarray(o, o + AM), o);
          }
          const o = (t * K + k) * AM;
          out.recall.set(acc.recall.subarray(o, o + AM), o);
        }
      }
    }
    yield;
  }
  return out!;
}

/** Missed GT and false positives per image at IoU threshold index 0 (0.5), area range 0 (all). */
function errorsPerImage(ids: Float64Array, cells: readonly ImageEvalRecord[]): ImageErrors[] {
  const out: ImageErrors[] = Array.from(ids, (id) => ({ imageId: id, missed: 0, falsePositives: 0, gt: 0 }));
  const byId = new Map<number, ImageErrors>();
  out.forEach((e) => byId.set(e.imageId, e));
  let last: ImageErrors | undefined;
  for (const rec of cells) {
    const e = last?.imageId === rec.imageId ? last : (last = byId.get(rec.imageId));
    if (!e) continue;
    // (a = 0, t = 0) slices of gtIgnore, gtMatches, dtIgnore, dtMatches (layout: coco/records.ts)
    const G = rec.numGt, D = rec.numDt, A = rec.numAreas, T = rec.numThrs;
    const data = rec.data, fl = rec.flags;
    const oDtm = rec.dataOffset + 2 * D + A * G, oGtm = oDtm + A * T * D;
    const oGtIg = rec.flagsOffset, oDtIg = oGtIg + A * G;
    for (let g = 0; g < G; g++) {
      if (fl[oGtIg + g]) continue;
      e.gt++;
      if (data[oGtm + g] === 0) e.missed++;
    }
    for (let d = 0; d < D; d++) if (!fl[oDtIg + d] && data[oDtm + d] === 0) e.falsePositives++;
  }
  return out;
}

/** Options of {@link evaluateDetections}. */
export interface EvaluateDetectionsInput extends EvaluationOptions {
  /** COCO instances JSON (`images`, `annotations`, `categories`). */
  groundTruth: unknown;
  /** COCO results array. */
  detections: unknown;
  /** Attach precision/recall/scores arrays to each CocoBlock (not part of the default answer). */
  includeArrays?: boolean;
}

/** Evaluate COCO results against COCO ground truth in one go: COCO bbox/segm blocks, VOC table, warnings. */
export function evaluateDetections(input: EvaluateDetectionsInput): EvaluateDetectionsResult {
  const ev = Evaluation.open(input.groundTruth, input);
  ev.add(ev.loadResults(input.detections, { offset: 0 }).evaluate());
  const { result, accumulated } = ev.finish();
  if (input.includeArrays) {
    for (const t of ['bbox', 'segm'] as const) {
      const acc = accumulated[t], block = result.coco[t];
      if (!acc || !block) continue;
      block.precision = { shape: [acc.T, acc.R, acc.K, acc.A, acc.M], data: acc.precision };
      block.recall = { shape: [acc.T, acc.K, acc.A, acc.M], data: acc.recall };
      block.scores = { shape: [acc.T, acc.R, acc.K, acc.A, acc.M], data: acc.scores };
    }
  }
  return result;
}
