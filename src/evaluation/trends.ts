/**
 * @file Diagnosis over time (docs/history.md#diagnosis), a pure module: given the summaries of a
 * dataset's evaluations oldest first (and optionally a pinned baseline), flags what people look for
 * in a run of evaluations, each with a one-line explanation:
 * - `loss_nan`: a loss of the latest evaluation is not finite (NaN or infinite);
 * - `loss_jump`: a loss of the latest evaluation is ≥ `jumpFactor` (3) × the previous one;
 * - `loss_rising`: a loss rose at every step over the last `window` (5) evaluations and by more than
 *   `riseMin` (10%) in all;
 * - `mask_share`: loss_mask is outside 20–50% of the five-loss total (the same band as the
 *   per-evaluation diagnosis of src/losses/diagnose.ts);
 * - `ap_drop`: box or mask AP is more than `apDrop` (0.02, i.e. 2 AP points) below the baseline
 *   (the pinned one, else the first point of the series);
 * - `class_drop`: one class's AP fell more than `apDrop` against the baseline while the other
 *   classes held (their mean change within ± apDrop / 2).
 * No clock, no I/O.
 */
import { DIAGNOSIS_THRESHOLDS } from '../losses/diagnose.js';

const LOSSES = ['loss_objectness', 'loss_rpn_box_reg', 'loss_classifier', 'loss_box_reg', 'loss_mask', 'loss'] as const;
const FIVE = LOSSES.slice(0, 5);

/** What the diagnosis reads of one evaluation. */
export interface TrendPoint {
  id: string;
  /** The losses' means (a null value: not finite); null when the model gives no losses. */
  losses: Record<string, number | null> | null;
  box: { ap: number | null };
  mask: { ap: number | null };
  classes: Array<{ category_id: number; name: string; box_ap: number | null; mask_ap: number | null }>;
}

/** One flag (the TrendFlag schema). */
export interface TrendFlag {
  code: 'loss_rising' | 'loss_jump' | 'loss_nan' | 'mask_share' | 'ap_drop' | 'class_drop';
  severity: 'warning' | 'critical';
  evaluation_id: string;
  metric: string;
  class: string | null;
  value: number | null;
  reference: number | null;
  message: string;
}

/** Thresholds (documented in docs/history.md). */
export interface TrendOptions {
  window?: number;
  jumpFactor?: number;
  riseMin?: number;
  apDrop?: number;
}

export const TREND_DEFAULTS: Required<TrendOptions> = { window: 5, jumpFactor: 3, riseMin: 0.1, apDrop: 0.02 };

const fmt = (x: number): string => (Math.abs(x) >= 0.01 || x === 0 ? x.toFixed(3) : x.toExponential(2));

/**
 * Flags of the latest point of `points` (oldest first) against its predecessors and `baseline`
 * (default: the first point, when there are at least two).
 */
export function diagnoseTrend(points: readonly TrendPoint[], baseline: TrendPoint | null = null, options: TrendOptions = {}): TrendFlag[] {
  const o = { ...TREND_DEFAULTS, ...options };
  const flags: TrendFlag[] = [];
  const last = points[points.length - 1];
  if (!last) return flags;
  const prev = points.length > 1 ? points[points.length - 2]! : null;
  const add = (f: Omit<TrendFlag, 'evaluation_id' | 'class'> & { class?: string | null }): void => {
    flags.push({ evaluation_id: last.id, class: null, ...f });
  };
  const l = last.losses;
  if (l) {
    for (const k of LOSSES) {
      const v = l[k];
      if (v === null || v === undefined || !Number.isFinite(v)) {
        add({ code: 'loss_nan', severity: 'critical', metric: k, value: null, reference: null,
          message: `${k} is not finite (NaN or infinite) in the latest evaluation: the model produces invalid outputs on some images (diverged weights, a broken export, or an input it cannot handle).` });
        continue;
      }
      const p = prev?.losses?.[k];
      if (typeof p === 'number' && Number.isFinite(p) && p > 0 && v / p >= o.jumpFactor - 1e-9) {
        add({ code: 'loss_jump', severity: 'critical', metric: k, value: v, reference: p,
          message: `${k} jumped ×${(v / p).toFixed(1)} (${fmt(p)} → ${fmt(v)}) since the previous evaluation: a model or data change broke something; compare the two evaluations.` });
      }
      const tail = points.slice(-o.window).map((pt) => pt.losses?.[k]);
      if (tail.length === o.window && o.window >= 3 && tail.every((x): x is number => typeof x === 'number' && Number.isFinite(x))) {
        const rising = tail.every((x, i) => i === 0 || x > tail[i - 1]!);
        const first = tail[0]!;
        if (rising && first > 0 && v > first * (1 + o.riseMin)) {
          add({ code: 'loss_rising', severity: 'warning', metric: k, value: v, reference: first,
            message: `${k} rose at each of the last ${o.window} evaluations (${fmt(first)} → ${fmt(v)}, +${(100 * (v / first - 1)).toFixed(0)}%): a slow degradation (drifting model versions or a changing pipeline).` });
        }
      }
    }
    const parts = FIVE.map((k) => l[k]);
    if (parts.every((x): x is number => typeof x === 'number' && Number.isFinite(x))) {
      const total = parts.reduce((a, b) => a + b, 0);
      const share = total > 0 ? (l.loss_mask as number) / total : 0;
      const T = DIAGNOSIS_THRESHOLDS;
      if (total > 0 && (share < T.maskShareLow || share > T.maskShareHigh)) {
        add({ code: 'mask_share', severity: 'warning', metric: 'loss_mask', value: share, reference: share < T.maskShareLow ? T.maskShareLow : T.maskShareHigh,
          message: share < T.maskShareLow
            ? `loss_mask is ${(100 * share).toFixed(0)}% of the total (< 20%): the detection losses dominate; box quality, not mask quality, is the bottleneck.`
            : `loss_mask is ${(100 * share).toFixed(0)}% of the total (> 50%): the mask head lags the detector.` });
      }
    }
  }
  const base = baseline ?? (points.length > 1 ? points[0]! : null);
  if (base && base.id !== last.id) {
    for (const [metric, key] of [['box_ap', 'box'], ['mask_ap', 'mask']] as const) {
      const v = last[key].ap, b = base[key].ap;
      if (v !== null && b !== null && b - v > o.apDrop) {
        add({ code: 'ap_drop', severity: 'critical', metric, value: v, reference: b,
          message: `${key === 'box' ? 'Box' : 'Mask'} AP fell by ${(100 * (b - v)).toFixed(1)} points against the baseline (${fmt(b)} → ${fmt(v)}).` });
      }
    }
    for (const key of ['box_ap', 'mask_ap'] as const) {
      const pairs = last.classes.flatMap((c) => {
        const bc = base.classes.find((x) => x.category_id === c.category_id);
        const v = c[key], b = bc?.[key];
        return v !== null && b !== null && b !== undefined ? [{ name: c.name, v, b, d: v - b }] : [];
      });
      if (pairs.length < 2) continue;
      for (const p of pairs) {
        if (p.d >= -o.apDrop) continue;
        const others = pairs.filter((q) => q !== p);
        const meanOthers = others.reduce((s, q) => s + q.d, 0) / others.length;
        if (Math.abs(meanOthers) <= o.apDrop / 2) {
          add({ code: 'class_drop', severity: 'warning', metric: `${key}:${p.name}`, class: p.name, value: p.v, reference: p.b,
            message: `${key === 'box_ap' ? 'Box' : 'Mask'} AP of "${p.name}" fell by ${(100 * -p.d).toFixed(1)} points against the baseline while the other classes held (mean change ${(100 * meanOthers).toFixed(1)} points): look at that class's data or labels.` });
        }
      }
    }
  }
  return flags;
}
