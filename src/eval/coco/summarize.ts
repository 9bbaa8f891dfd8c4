/**
 * @file `cocoeval.py: COCOeval.summarize` (the 12 AP/AR stats, docs/evaluation.md#summarize), the
 * per-category table (detectron2/mmdet "classwise" convention) and pycocotools' printed summary lines.
 * Means are numpy's (pairwise sum over the C-ordered selection of entries > -1, divided by their count).
 */
import { formatFixed, pairwiseSum } from '../numeric.js';
import type { Accumulated } from './accumulate.js';

/** Names of the 12 stats, in pycocotools order. */
export const STAT_NAMES = ['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10', 'AR100', 'ARs', 'ARm', 'ARl'] as const;

/**
 * Mean of the selected precision (ap) or recall entries that are > -1, or -1 if none. `iouThr`
 * undefined = all thresholds; `maxDets` is looked up by value (none equal → empty → -1).
 * Mirrors `COCOeval.summarize._summarize`.
 */
export function summarizeOne(acc: Accumulated, ap: boolean, iouThr: number | undefined, areaLbl: string, maxDets: number): number {
  const { params: p, T, R, K, A, M } = acc;
  const tSel: number[] = [];
  for (let t = 0; t < T; t++) if (iouThr === undefined || p.iouThrs[t] === iouThr) tSel.push(t);
  const aSel = p.areaRngLbl.flatMap((l, a) => (l === areaLbl ? [a] : []));
  const mSel = p.maxDets.flatMap((d, m) => (d === maxDets ? [m] : []));
  // numpy broadcasts the two index lists (aind has one entry); the pairs vary fastest
  const pairs: Array<[number, number]> = [];
  const np = Math.max(aSel.length, mSel.length);
  if (aSel.length > 0 && mSel.length > 0) {
    for (let i = 0; i < np; i++) pairs.push([aSel[aSel.length === 1 ? 0 : i]!, mSel[mSel.length === 1 ? 0 : i]!]);
  }
  const vals: number[] = [];
  for (const t of tSel) {
    if (ap) {
      for (let r = 0; r < R; r++) {
        for (let k = 0; k < K; k++) {
          for (const [a, m] of pairs) {
            const v = acc.precision[(((t * R + r) * K + k) * A + a) * M + m]!;
            if (v > -1) vals.push(v);
          }
        }
      }
    } else {
      for (let k = 0; k < K; k++) {
        for (const [a, m] of pairs) {
          const v = acc.recall[((t * K + k) * A + a) * M + m]!;
          if (v > -1) vals.push(v);
        }
      }
    }
  }
  return vals.length === 0 ? -1 : pairwiseSum(vals) / vals.length;
}

/** The 12 stats with -1 where pycocotools gives -1. Mirrors `COCOeval.summarize._summarizeDets`. */
export function summarize(acc: Accumulated): number[] {
  const md = acc.params.maxDets;
  const m2 = md[2]!;
  return [
    summarizeOne(acc, true, undefined, 'all', 100),
    summarizeOne(acc, true, 0.5, 'all', m2),
    summarizeOne(acc, true, 0.75, 'all', m2),
    summarizeOne(acc, true, undefined, 'small', m2),
    summarizeOne(acc, true, undefined, 'medium', m2),
    summarizeOne(acc, true, undefined, 'large', m2),
    summarizeOne(acc, false, undefined, 'all', md[0]!),
    summarizeOne(acc, false, undefined, 'all', md[1]!),
    summarizeOne(acc, false, undefined, 'all', m2),
    summarizeOne(acc, false, undefined, 'small', m2),
    summarizeOne(acc, false, undefined, 'medium', m2),
    summarizeOne(acc, false, undefined, 'large', m2),
  ];
}

/** Per-category AP/AR; `null` where pycocotools has no valid entry (no GT in that range). */
export interface CategoryMetrics {
  category_id: number;
  name: string;
  ap: number | null;
  ap50: number | null;
  ap75: number | null;
  aps: number | null;
  apm: number | null;
  apl: number | null;
  ar100: number | null;
}

function meanValid(vals: number[]): number | null {
  const v = vals.filter((x) => x > -1);
  return v.length === 0 ? null : pairwiseSum(v) / v.length;
}

/**
 * Per-category metrics at the last maxDets: `ap` = mean of valid `precision[:, :, k, all, -1]`
 * (detectron2 `_derive_coco_results`), ap50/ap75 at the thresholds equal to 0.5/0.75, aps/apm/apl
 * over the small/medium/large ranges, ar100 = mean of valid `recall[:, k, all, -1]`.
 */
export function perCategory(acc: Accumulated, names: readonly string[]): CategoryMetrics[] {
  const { params: p, T, R, K, A, M } = acc;
  const m = M - 1;
  const areaIdx = (lbl: string): number => p.areaRngLbl.indexOf(lbl);
  const prec = (k: number, a: number, tPred: (t: number) => boolean): number | null => {
    if (a < 0) return null;
    const vals: number[] = [];
    for (let t = 0; t < T; t++) {
      if (!tPred(t)) continue;
      for (let r = 0; r < R; r++) vals.push(acc.precision[(((t * R + r) * K + k) * A + a) * M + m]!);
    }
    return meanValid(vals);
  };
  const all = (): boolean => true;
  return Array.from(acc.categoryIds, (id, k) => {
    const rec: number[] = [];
    for (let t = 0; t < T; t++) rec.push(acc.recall[((t * K + k) * A + areaIdx('all')) * M + m]!);
    return {
      category_id: id,
      name: names[k] ?? String(id),
      ap: prec(k, areaIdx('all'), all),
      ap50: prec(k, areaIdx('all'), (t) => p.iouThrs[t] === 0.5),
      ap75: prec(k, areaIdx('all'), (t) => p.iouThrs[t] === 0.75),
      aps: prec(k, areaIdx('small'), all),
      apm: prec(k, areaIdx('medium'), all),
      apl: prec(k, areaIdx('large'), all),
      ar100: meanValid(rec),
    };
  });
}

/**
 * The 12 lines `COCOeval.summarize` prints, e.g.
 * ` Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.279`.
 */
export function summaryLines(acc: Accumulated, stats: readonly number[]): string[] {
  const p = acc.params;
  const md = p.maxDets;
  const spec: Array<[boolean, number | undefined, string, number]> = [
    [true, undefined, 'all', 100], [true, 0.5, 'all', md[2]!], [true, 0.75, 'all', md[2]!],
    [true, undefined, 'small', md[2]!], [true, undefined, 'medium', md[2]!], [true, undefined, 'large', md[2]!],
    [false, undefined, 'all', md[0]!], [false, undefined, 'all', md[1]!], [false, undefined, 'all', md[2]!],
    [false, undefined, 'small', md[2]!], [false, undefined, 'medium', md[2]!], [false, undefined, 'large', md[2]!],
  ];
  return spec.map(([ap, thr, area, maxDets], i) => {
    const title = (ap ? 'Average Precision' : 'Average Recall').padEnd(18);
    const iou = thr === undefined
      ? `${formatFixed(p.iouThrs[0]!, 2)}:${formatFixed(p.iouThrs[p.iouThrs.length - 1]!, 2)}`
      : formatFixed(thr, 2);
    return ` ${title} ${ap ? '(AP)' : '(AR)'} @[ IoU=${iou.padEnd(9)} | area=${area.padStart(6)} | maxDets=${String(maxDets).padStart(3)} ] = ${formatFixed(stats[i]!, 3)}`;
  });
}
