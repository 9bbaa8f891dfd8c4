/**
 * @file Whole-set evaluation for jobs: the same numbers as src/eval `evaluateDetections` (COCO
 * bbox/segm stats and per-category AP, the VOC table, the warnings), computed so that a large set
 * does not hold the event loop: ground truth and results are indexed once, per-image COCO records
 * are computed in chunks of images with an `await` between chunks, and the accumulation over all
 * the chunks' records (dataset-level precision/recall, records of disjoint image sets merge bit for
 * bit, see src/eval/coco/accumulate.ts) runs per group of categories, again with awaits between.
 * The VOC table runs in a worker thread for large sets (voc-offload.ts). Also returns the accumulated arrays (PR
 * curves of the HTML report) and per-image error counts at IoU 0.5 (to pick the worst images).
 */
import { setImmediate as yieldLoop } from 'node:timers/promises';
import {
  accumulate, chooseIouTypes, evaluateImages, loadGroundTruth, loadResults, parseIouTypes, perCategory, prepareEvaluation, resolveParams, summarize,
  WarningCollector, type Accumulated, type CocoBlock, type EvalRecords, type EvaluateDetectionsResult, type ImageEvalRecord, type IouType,
} from '../eval/index.js';
import { InputError } from '../eval/errors.js';
import { vocTable } from './voc-offload.js';

/** Options of {@link evaluateSet} (those of evaluateDetections, plus chunking). */
export interface EvaluateSetInput {
  groundTruth: unknown;
  detections: unknown;
  iouTypes?: Array<'bbox' | 'segm'>;
  vocMode?: 'area' | '11points';
  vocIouThr?: number;
  paths?: { groundTruth: string; detections: string };
  /** Images per chunk of per-image evaluation (default 64). */
  chunkImages?: number;
  /** Detections per accumulation group (default: max(20 000, all / 8)); 1 = one category at a time. */
  groupDetections?: number;
  /** Results from which the VOC table is computed in a worker thread (default 20 000). */
  vocWorkerMinDetections?: number;
  /** Called between chunks; throw to stop (cancellation). */
  checkpoint?: () => void;
}

/** Per-image errors at IoU 0.5, all areas, of the first IoU type evaluated. */
export interface ImageErrors {
  imageId: number;
  /** Non-ignored GT not matched. */
  missed: number;
  /** Non-ignored detections not matched. */
  falsePositives: number;
  gt: number;
}

export interface EvaluateSetResult {
  result: EvaluateDetectionsResult;
  accumulated: Partial<Record<IouType, Accumulated>>;
  imageErrors: ImageErrors[];
}

function fail(path: string, message: string): never {
  throw new InputError(path, message, 400);
}

/** Evaluate results against GT like `evaluateDetections`, chunked over images (see file header). */
export async function evaluateSet(input: EvaluateSetInput): Promise<EvaluateSetResult> {
  const gtPath = input.paths?.groundTruth ?? 'ground_truth';
  const dtPath = input.paths?.detections ?? 'detections';
  const vocMode = input.vocMode ?? 'area';
  if (vocMode !== 'area' && vocMode !== '11points') fail('voc_mode', `must be "area" or "11points", got ${JSON.stringify(vocMode)}`);
  const vocIouThr = input.vocIouThr ?? 0.5;
  if (!(vocIouThr >= 0 && vocIouThr <= 1)) fail('voc_iou_thr', `must be in [0, 1], got ${vocIouThr}`);
  const explicitTypes = input.iouTypes === undefined ? undefined : parseIouTypes(input.iouTypes);
  const chunk = Math.max(1, input.chunkImages ?? 64);
  const checkpoint = input.checkpoint ?? ((): void => {});

  const warnings = new WarningCollector();
  const gt = loadGroundTruth(input.groundTruth, gtPath, warnings);
  await yieldLoop();
  checkpoint();
  const dt = loadResults(gt, input.detections, dtPath, warnings);
  await yieldLoop();

  const iouTypes = chooseIouTypes(explicitTypes, gt, dt, { groundTruth: gtPath, detections: dtPath }, warnings);

  const coco: EvaluateDetectionsResult['coco'] = {};
  const accumulated: EvaluateSetResult['accumulated'] = {};
  let imageErrors: ImageErrors[] = [];
  const ids = Array.from(gt.imageIds);
  for (const iouType of iouTypes) {
    const params = resolveParams(iouType, undefined);
    const ctx = prepareEvaluation(gt, dt, params, { segmArea: 'loadRes', warnings });
    const parts: EvalRecords[] = [];
    for (let s = 0; s < ids.length; s += chunk) {
      checkpoint();
      parts.push(evaluateImages(ctx, ids.slice(s, s + chunk)));
      await yieldLoop();
    }
    if (parts.length === 0) parts.push(evaluateImages(ctx, []));
    checkpoint();
    const acc = await accumulateInChunks(parts, checkpoint, input.groupDetections);
    const stats = summarize(acc);
    const block: CocoBlock = { stats: stats.map((v) => (v === -1 ? null : v)), per_category: perCategory(acc, gt.categoryNames) };
    coco[iouType] = block;
    accumulated[iouType] = acc;
    if (imageErrors.length === 0) imageErrors = errorsPerImage(ids, parts);
  }
  checkpoint();
  const voc = await vocTable(gt, dt, {
    iouThr: vocIouThr, mode: vocMode, warnings,
    ...(input.vocWorkerMinDetections !== undefined ? { minDetections: input.vocWorkerMinDetections } : {}),
    shouldStop: () => { try { checkpoint(); return false; } catch { return true; } },
    stopError: () => { try { checkpoint(); } catch (err) { return err as Error; } return new Error('stopped'); },
  });
  return {
    result: { coco, voc, warnings: warnings.list(), counts: { images: gt.imageIds.length, gtInstances: gt.anns.count, detections: dt.count } },
    accumulated,
    imageErrors,
  };
}

/**
 * `accumulate` over all parts, run per group of categories with an `await` between groups: each
 * category's precision/recall/scores depend only on that category's records, so accumulating a
 * group and copying its K-slices into the first group's arrays gives the bits of one call. Groups
 * hold about 1/8 of the detections (at least 20 000), so a group is a bounded slice of the work.
 */
async function accumulateInChunks(parts: EvalRecords[], checkpoint: () => void, groupDetections?: number): Promise<Accumulated> {
  const first = parts[0]!;
  const cats = first.categoryIds;
  const byCat = new Map<number, ImageEvalRecord[]>();
  let total = 0;
  for (const part of parts) {
    for (const rec of part.records) {
      const list = byCat.get(rec.categoryId);
      if (list) list.push(rec);
      else byCat.set(rec.categoryId, [rec]);
      total += rec.numDt;
    }
  }
  const budget = groupDetections ?? Math.max(20_000, Math.ceil(total / 8));
  const groups: Array<{ ks: number[]; records: ImageEvalRecord[] }> = [];
  let cur: { ks: number[]; records: ImageEvalRecord[]; dets: number } = { ks: [], records: [], dets: 0 };
  cats.forEach((c, k) => {
    const recs = byCat.get(c) ?? [];
    cur.ks.push(k);
    for (const r of recs) { cur.records.push(r); cur.dets += r.numDt; }
    if (cur.dets >= budget) { groups.push(cur); cur = { ks: [], records: [], dets: 0 }; }
  });
  if (cur.ks.length > 0 || groups.length === 0) groups.push(cur);
  // records of unknown categories (cannot happen with one GT) make accumulate throw, as in one call
  const known = new Set(cats);
  const stray = [...byCat.keys()].filter((c) => !known.has(c));
  if (stray.length > 0) return accumulate(...parts);

  let out: Accumulated | null = null;
  for (const g of groups) {
    checkpoint();
    const acc = accumulate({ params: first.params, categoryIds: cats, records: g.records });
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
    await yieldLoop();
  }
  return out!;
}

/** Missed GT and false positives per image at IoU threshold index 0 (0.5), area range 0 (all). */
function errorsPerImage(ids: number[], parts: EvalRecords[]): ImageErrors[] {
  const byId = new Map<number, ImageErrors>(ids.map((id) => [id, { imageId: id, missed: 0, falsePositives: 0, gt: 0 }]));
  for (const part of parts) {
    for (const rec of part.records) {
      const e = byId.get(rec.imageId);
      if (!e) continue;
      const G = rec.numGt, D = rec.numDt;
      const gtIg = rec.gtIgnore, gtM = rec.gtMatches, dtIg = rec.dtIgnore, dtM = rec.dtMatches;
      for (let g = 0; g < G; g++) {
        if (gtIg[g]) continue;
        e.gt++;
        if (gtM[g] === 0) e.missed++;
      }
      for (let d = 0; d < D; d++) if (!dtIg[d] && dtM[d] === 0) e.falsePositives++;
    }
  }
  return [...byId.values()];
}
