/**
 * @file Inline SVG precision–recall charts for the HTML report, from the accumulated COCO precision
 * (pycocotools layout, kept compact as {@link PrCurves}): per class, area "all", the last maxDets, either at
 * one IoU threshold (0.5) or the mean over all thresholds (0.5:0.95, -1 entries left out). The x
 * axis is pycocotools' 101 recall thresholds. Pure string building, no dependencies.
 */
import type { Accumulated, CocoParams } from '../eval/index.js';

/**
 * What the report keeps of an accumulation: precision at area "all" and the last maxDets, [T×R×K]
 * (8 KB per class and IoU type, instead of the full T×R×K×A×M arrays ×3).
 */
export interface PrCurves {
  params: CocoParams;
  categoryIds: Float64Array;
  T: number;
  R: number;
  K: number;
  precision: Float64Array;
}

/** The PR-curve slice of an accumulation. */
export function compactCurves(acc: Accumulated): PrCurves {
  const { T, R, K, A, M, params: p } = acc;
  const a = Math.max(0, p.areaRngLbl.indexOf('all'));
  const precision = new Float64Array(T * R * K);
  for (let t = 0; t < T; t++) {
    for (let r = 0; r < R; r++) {
      for (let k = 0; k < K; k++) precision[(t * R + r) * K + k] = acc.precision[(((t * R + r) * K + k) * A + a) * M + M - 1]!;
    }
  }
  return { params: p, categoryIds: acc.categoryIds, T, R, K, precision };
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Precision at each recall threshold of category index k, or null when it has no usable GT. */
export function prCurve(acc: PrCurves, k: number, iou: number | 'mean'): number[] | null {
  const { T, R, K, params: p } = acc;
  const ts = iou === 'mean' ? Array.from({ length: T }, (_, t) => t) : Array.from({ length: T }, (_, t) => t).filter((t) => Math.abs(p.iouThrs[t]! - iou) < 1e-9);
  if (ts.length === 0) return null;
  const out: number[] = [];
  let any = false;
  for (let r = 0; r < R; r++) {
    let sum = 0, n = 0;
    for (const t of ts) {
      const v = acc.precision[(t * R + r) * K + k]!;
      if (v > -1) { sum += v; n++; }
    }
    if (n > 0) any = true;
    out.push(n > 0 ? sum / n : 0);
  }
  return any ? out : null;
}

/** One chart: a line per class; legend with each class's AP (mean of its curve). */
export function prChart(acc: PrCurves, names: readonly string[], iou: number | 'mean', title: string): string {
  // plot on top, legend (one row per class) below it
  const W = 280, L = 40, B = 34, TOP = 24, RGT = 10, ph = 190;
  const pw = W - L - RGT;
  const H = TOP + ph + B + 14 * acc.K + 4;
  const x = (r: number): number => L + r * pw;
  const y = (pr: number): number => TOP + (1 - pr) * ph;
  const recThrs = acc.params.recThrs;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" class="pr" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">`);
  parts.push(`<text x="${L}" y="16" font-size="13" font-weight="bold">${esc(title)}</text>`);
  parts.push(`<rect x="${L}" y="${TOP}" width="${pw}" height="${ph}" fill="#fafafa" stroke="#999"/>`);
  for (let i = 0; i <= 5; i++) {
    const v = i / 5;
    parts.push(`<line x1="${x(v)}" y1="${TOP}" x2="${x(v)}" y2="${TOP + ph}" stroke="#e3e3e3"/>`, `<line x1="${L}" y1="${y(v)}" x2="${L + pw}" y2="${y(v)}" stroke="#e3e3e3"/>`);
    parts.push(`<text x="${x(v)}" y="${TOP + ph + 14}" font-size="10" text-anchor="middle">${v.toFixed(1)}</text>`);
    parts.push(`<text x="${L - 4}" y="${y(v) + 3}" font-size="10" text-anchor="end">${v.toFixed(1)}</text>`);
  }
  parts.push(`<text x="${L + pw / 2}" y="${TOP + ph + 28}" font-size="11" text-anchor="middle">recall</text>`);
  parts.push(`<text x="12" y="${TOP + ph / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 12 ${TOP + ph / 2})">precision</text>`);
  let legendY = TOP + ph + B + 10;
  for (let k = 0; k < acc.K; k++) {
    const color = PALETTE[k % PALETTE.length]!;
    const curve = prCurve(acc, k, iou);
    const label = names[k] ?? String(acc.categoryIds[k]);
    if (curve) {
      const pts = curve.map((pr, r) => `${x(recThrs[r]!).toFixed(1)},${y(pr).toFixed(1)}`).join(' ');
      parts.push(`<polyline class="pr-curve" data-class="${esc(label)}" fill="none" stroke="${color}" stroke-width="1.8" points="${pts}"/>`);
    }
    const ap = curve ? (curve.reduce((s, v) => s + v, 0) / curve.length).toFixed(3) : 'n/a';
    parts.push(`<rect x="${L}" y="${legendY - 8}" width="10" height="10" fill="${color}"/>`);
    parts.push(`<text x="${L + 14}" y="${legendY + 1}" font-size="11">${esc(label)} — AP ${ap}</text>`);
    legendY += 14;
  }
  parts.push('</svg>');
  return parts.join('');
}
