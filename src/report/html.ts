/**
 * @file The HTML report of a finished evaluation job (GET /evaluations/{id}/report): one
 * self-contained page that opens offline once saved — inline CSS, the chart library (Chart.js, the
 * same as the dashboard's) inlined with its licence notice, the charts' data as an inline JSON
 * block (the PR curves of the report's JSON data), overlays as data: URIs, no external asset.
 * Sections: summary, COCO (12 pycocotools lines and per-category AP per IoU type), PR curves (per
 * class, IoU 0.5 and mean over 0.5:0.95; one canvas each), the mmdetection-style VOC table, the
 * losses with diagnose()'s shares and flags, the worst images with predictions vs ground truth,
 * warnings. Without JavaScript every number is still in the tables.
 */
import { formatMapTable, summaryLines, type Accumulated } from '../eval/index.js';
import type { EvaluationResponse } from '../evaluation/response.js';
import { summarizeEvaluation } from '../evaluation/summary.js';
import { LOSS_KEYS } from '../losses/index.js';
import type { Job, ReportData } from '../jobs/types.js';
import { chartLibrary, scriptSafe } from '../ui/assets.js';
import { prCurveData } from './data.js';

const esc = (s: unknown): string => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const num = (v: number | null | undefined, d = 3): string => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(d));

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#f4f5f7}
header{background:#23303f;color:#fff;padding:16px 28px}header h1{margin:0 0 4px;font-size:20px}header p{margin:0;opacity:.85}
main{padding:8px 28px 40px;max-width:1240px}section{background:#fff;border-radius:8px;padding:14px 18px;margin:16px 0;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h2{font-size:16px;margin:0 0 10px}h3{font-size:14px;margin:12px 0 6px}
table{border-collapse:collapse;margin:6px 0}th,td{border:1px solid #ddd;padding:4px 10px;text-align:right}th{background:#eef1f5}td:first-child,th:first-child{text-align:left}
pre{background:#f7f7f9;border:1px solid #e2e2e6;padding:8px 10px;overflow-x:auto;font-size:12px}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:14px}figure.pr{background:#fff;border:0;padding:0}figure.pr figcaption{font-weight:600;font-size:13px;max-width:none}.plot{position:relative;height:330px}.kpis{display:flex;gap:14px;flex-wrap:wrap}.kpi{background:#eef4fb;border-radius:6px;padding:8px 14px}
.kpi b{display:block;font-size:20px}.flag{background:#fff4e5;border-left:4px solid #f0a020;padding:6px 10px;margin:6px 0}
.bar{display:inline-block;height:10px;background:#4a7fc1;vertical-align:middle}.overlays{display:flex;flex-wrap:wrap;gap:14px}
figure{margin:0;background:#fafafa;border:1px solid #e2e2e6;padding:8px;border-radius:6px}figcaption{font-size:12px;max-width:360px}
.cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(540px,1fr));gap:16px}.cols pre{font-size:11px}
.loss-table td,.loss-table th{text-align:left}.loss-table td:nth-child(2){text-align:right}.loss-table td:nth-child(3){white-space:nowrap}
.voc-cols{display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start}
.legend span{display:inline-block;margin-right:14px}.gt{color:#109a3a}.pred{color:#d86a00}`;

type Result = EvaluationResponse;

function cocoSection(report: ReportData, r: Result): string {
  const out: string[] = ['<section id="coco"><h2>COCO metrics</h2><div class="cols">'];
  for (const t of ['bbox', 'segm'] as const) {
    const block = r.coco[t];
    if (!block) continue;
    const acc = report.curves[t];
    out.push(`<div><h3>${t}</h3>`);
    if (acc) out.push(`<pre class="coco-lines">${esc(summaryLines({ params: acc.params } as Accumulated, block.stats.map((v) => (v === null ? -1 : v))).join('\n'))}</pre>`);
    out.push('<table class="per-category"><tr><th>category</th><th>AP</th><th>AP50</th><th>AP75</th><th>APs</th><th>APm</th><th>APl</th><th>AR100</th></tr>');
    for (const c of block.per_category) {
      out.push(`<tr><td>${esc(c.name)}</td>${[c.ap, c.ap50, c.ap75, c.aps, c.apm, c.apl, c.ar100].map((v) => `<td>${num(v)}</td>`).join('')}</tr>`);
    }
    out.push('</table></div>');
  }
  out.push('</div></section>');
  return out.join('');
}

/** One canvas per IoU type and threshold; drawn by {@link CHART_SCRIPT} from the `report-data` block. */
function prSection(report: ReportData, r: Result): string {
  const out: string[] = ['<section id="pr"><h2>Precision–recall curves</h2><p>Per class, all areas, maxDets 100; legend: AP of the curve (mean precision over the 101 recall thresholds).</p><div class="charts">'];
  for (const t of ['bbox', 'segm'] as const) {
    if (!report.curves[t] || !r.coco[t]) continue;
    for (const [key, title] of [['iou_50', 'IoU 0.50'], ['iou_50_95', 'IoU 0.50:0.95 (mean)']] as const) {
      out.push(`<figure class="pr"><figcaption>${t} · ${title}</figcaption><div class="plot"><canvas id="pr-${t}-${key}" data-iou-type="${t}" data-curve="${key}" role="img" aria-label="${t} precision-recall, ${title}"></canvas></div></figure>`);
    }
  }
  out.push('</div></section>');
  return out.join('');
}

/**
 * Draws every `canvas[data-curve]` from the inline JSON: a line per class with a curve (x: recall
 * thresholds, y: precision). Runs once the page is parsed; `Chart.getChart(canvas)` gives each chart.
 */
const CHART_SCRIPT = `(function () {
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var palette = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
  document.querySelectorAll('canvas[data-curve]').forEach(function (canvas) {
    var block = data.pr_curves[canvas.dataset.iouType];
    if (!block) return;
    var datasets = [];
    block.classes.forEach(function (c, k) {
      var curve = c[canvas.dataset.curve];
      if (!curve) return;
      var ap = curve.reduce(function (s, v) { return s + v; }, 0) / curve.length;
      var color = palette[k % palette.length];
      datasets.push({ label: c.name + ' — AP ' + ap.toFixed(3), data: curve, borderColor: color, backgroundColor: color, pointRadius: 0, borderWidth: 1.8 });
    });
    new Chart(canvas, {
      type: 'line',
      data: { labels: block.recall_thresholds.map(function (r) { return r.toFixed(2); }), datasets: datasets },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: { x: { title: { display: true, text: 'recall' }, ticks: { maxTicksLimit: 11 } }, y: { min: 0, max: 1, title: { display: true, text: 'precision' } } },
        plugins: { legend: { position: 'bottom' } }
      }
    });
  });
})();`;

function vocSection(r: Result): string {
  const v = r.voc;
  const rows = v.classes.map((c) => `<tr><td>${esc(c.class)}</td><td>${c.gts}</td><td>${c.dets}</td><td>${num(c.recall)}</td><td>${num(c.ap)}</td></tr>`).join('');
  return `<section id="voc"><h2>Per-class table (VOC, IoU ${num(v.iou_thr, 2)}, ${esc(v.mode)})</h2>`
    + `<div class="voc-cols"><table class="voc-table"><tr><th>class</th><th>gts</th><th>dets</th><th>recall</th><th>ap</th></tr>${rows}`
    + `<tr><th>mAP</th><th></th><th></th><th></th><th>${num(v.mAP)}</th></tr></table>`
    + `<pre class="map-table">${esc(formatMapTable(v.classes, v.mAP))}</pre></div></section>`;
}

function lossSection(r: Result): string {
  if (!r.losses) {
    return `<section id="losses"><h2>Losses</h2><p>${esc(r.losses_unavailable ?? 'No losses: detections mode (no model run).')}</p></section>`;
  }
  const mean = r.losses.mean;
  const d = r.losses.diagnosis;
  const rows = LOSS_KEYS.map((k) => {
    const a: Partial<Record<string, string>> = r.losses!.aliases[k] ?? {};
    const share = d.shares[k] ?? 0;
    return `<tr><td>${k}</td><td>${num(mean[k], 4)}</td><td><span class="bar" style="width:${Math.round(share * 160)}px"></span> ${(share * 100).toFixed(1)}%</td>`
      + `<td>${esc(a.detectron2 ?? '')}</td><td>${esc(a.mmdetection ?? '')}</td><td>${esc(a.matterport ?? '')}</td><td style="text-align:left">${esc(d.explanations[k])}</td></tr>`;
  }).join('');
  const flags = d.flags.length === 0 ? '<p>No diagnosis flag raised.</p>'
    : d.flags.map((f) => `<div class="flag"><b>${esc(f.id)}</b> (${esc(f.loss)}: value ${num(f.value, 3)}, threshold ${num(f.threshold, 3)}): ${esc(f.message)}</div>`).join('');
  return `<section id="losses"><h2>Losses (mean over ${r.images} images, sampling "${esc(r.losses.sampling)}")</h2>`
    + `<table class="loss-table"><tr><th>loss (torchvision)</th><th>mean</th><th>share</th><th>detectron2</th><th>mmdetection</th><th>Matterport</th><th>measures</th></tr>${rows}`
    + `<tr><th>loss</th><th>${num(mean.loss, 4)}</th><th colspan="5"></th></tr></table><h3>Diagnosis</h3>${flags}</section>`;
}

function overlaySection(report: ReportData): string {
  const overlays = report.overlays;
  if (overlays.length === 0) return '';
  const figs = overlays.map((o) => `<figure><img alt="${esc(o.fileName)}" src="${o.dataUri}"><figcaption><b>${esc(o.fileName)}</b> (image ${o.imageId}): ${esc(o.reason)}</figcaption></figure>`).join('');
  return `<section id="worst"><h2>Worst images</h2><p class="legend"><span class="gt">■ ground truth</span><span class="pred">■ predictions (score ≥ 0.05, top 10)</span></p><div class="overlays">${figs}</div></section>`;
}

/** The report page of a done job. */
export function renderReport(job: Job, report: ReportData): string {
  const r = job.result!;
  const sum = summarizeEvaluation(r);
  const kpis: Array<[string, string]> = [['images', String(sum.images)], ['GT instances', String(sum.gtInstances)], ['detections', String(sum.detections)]];
  if (r.coco.bbox) kpis.push(['bbox AP', num(sum.boxAp)]);
  if (r.coco.segm) kpis.push(['mask AP', num(sum.maskAp)]);
  kpis.push([`VOC mAP@${num(sum.vocIouThr, 2)}`, num(sum.vocMap)]);
  if (sum.losses) kpis.push(['mean loss', num(sum.losses.loss, 4)]);
  const warnings = r.warnings.length === 0 ? '' : `<section id="warnings"><h2>Warnings</h2><ul>${r.warnings.map((w) => `<li><code>${esc(w.path)}</code>: ${esc(w.message)}</li>`).join('')}</ul></section>`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><link rel="icon" href="data:,">`
    + `<title>Evaluation report ${esc(job.id)}</title><style>${CSS}</style></head><body>`
    + `<header><h1>Mask R-CNN evaluation report</h1><p>job ${esc(job.id)} · ${esc(job.mode)} mode · finished ${esc(new Date(job.finishedAt ?? Date.now()).toISOString())}</p></header><main>`
    + `<section id="summary"><h2>Summary</h2><div class="kpis">${kpis.map(([k, v]) => `<div class="kpi">${esc(k)}<b>${esc(v)}</b></div>`).join('')}</div></section>`
    + cocoSection(report, r) + prSection(report, r) + vocSection(r) + lossSection(r) + overlaySection(report) + warnings
    + '</main>' + scripts(report, r) + '</body></html>\n';
}

/** The charts' data (the report JSON's `pr_curves`), the chart library and the drawing script. */
function scripts(report: ReportData, r: Result): string {
  const lib = chartLibrary();
  // JSON inside <script>: `<` escaped so no string in it can close the element
  const data = JSON.stringify({ pr_curves: prCurveData(report, r) }).replace(/</g, '\\u003c');
  return `<script type="application/json" id="report-data">${data}</script>`
    + `<script>/* Chart.js ${esc(lib.version)} — MIT License, (c) Chart.js Contributors, https://www.chartjs.org */\n${scriptSafe(lib.js)}</script>`
    + `<script>${CHART_SCRIPT}</script>`;
}
