// The dashboard page of maskrcnn-serve (GET /dashboard). A plain ES module, no build step, no
// framework; charts with Chart.js (the global `Chart`, served by the service). Every fetch carries
// the bearer token typed into the token field (kept in sessionStorage for this tab); without
// access control no token is needed. Data: GET /models, /datasets, /evaluations (history),
// /evaluations/series, /evaluations/{id}/compare/{other_id}, /drift.
// When everything is drawn, <body data-state> is "ready" (tests wait for it).

const TOKEN_KEY = 'maskrcnn-serve.token';
const LOSSES = ['loss_objectness', 'loss_rpn_box_reg', 'loss_classifier', 'loss_box_reg', 'loss_mask', 'loss'];
const FEATURES = ['class_mix', 'score', 'detections_per_image', 'mask_area', 'image_size'];
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const $ = (id) => document.getElementById(id);

const state = { models: [], datasets: [], history: [], comparison: null, drift: null };
/** For tests and the curious: what the page drew from. */
window.dashboard = state;

// ---------------------------------------------------------------- fetch with the token

function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

class HttpError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.code ?? null;
  }
}

async function api(path) {
  const headers = { accept: 'application/json' };
  const t = token();
  if (t) headers.authorization = `Bearer ${t}`;
  const res = await fetch(path, { headers });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new HttpError(res.status, body);
  return body;
}

function status(text, error = false) {
  const el = $('status');
  el.textContent = text;
  el.classList.toggle('error', error);
}

function explain(err) {
  if (err instanceof HttpError && err.status === 401) return 'a token is needed: type it above';
  if (err instanceof HttpError && err.status === 403) return 'this token lacks the scope for it';
  return err.message;
}

// ---------------------------------------------------------------- helpers

const fmt = (v, d = 3) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(d));
const signed = (v, d = 3) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : `${v >= 0 ? '+' : ''}${v.toFixed(d)}`);
const when = (iso) => (iso ? iso.replace('T', ' ').slice(0, 19) : '–');

function option(select, value, text, selected = false) {
  const o = document.createElement('option');
  o.value = value;
  o.textContent = text;
  o.selected = selected;
  select.append(o);
}

function cell(row, text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  row.append(td);
  return td;
}

/** Creates or replaces the chart on canvas `id`. */
function draw(id, config) {
  Chart.getChart(id)?.destroy();
  return new Chart($(id), {
    ...config,
    options: { responsive: true, maintainAspectRatio: false, animation: false, ...config.options },
  });
}

function lineDataset(label, data, k, extra = {}) {
  const color = PALETTE[k % PALETTE.length];
  return { label, data, borderColor: color, backgroundColor: color, pointRadius: 2, borderWidth: 2, spanGaps: true, ...extra };
}

// ---------------------------------------------------------------- evaluations over time

function modelName(e) {
  return e.model?.name ?? null;
}

async function loadHistory() {
  const datasetId = $('dataset').value;
  const model = $('model').value;
  const q = new URLSearchParams({ limit: '200', status: 'done' });
  if (datasetId) q.set('dataset_id', datasetId);
  if (model) q.set('model', model);
  const history = await api(`/evaluations?${q}`);
  state.history = history.evaluations;
  // points oldest first: the series endpoint for a dataset, else the history itself
  let points;
  let flags = [];
  if (datasetId) {
    const sq = new URLSearchParams({ dataset_id: datasetId });
    if (model) sq.set('model', model);
    const series = await api(`/evaluations/series?${sq}`);
    state.series = series;
    points = series.points;
    flags = series.flags ?? [];
  } else {
    state.series = null;
    points = [...history.evaluations].reverse();
  }
  $('history-hint').textContent = points.length === 0
    ? 'No finished evaluation for this choice yet.'
    : `${points.length} finished evaluation(s), oldest first${datasetId ? '' : ' (all datasets and uploads)'}.`;
  const labels = points.map((p) => when(p.finished_at ?? p.created_at));
  draw('chart-ap', {
    type: 'line',
    data: {
      labels,
      datasets: [
        lineDataset('box AP', points.map((p) => p.box?.ap ?? null), 0),
        lineDataset('mask AP', points.map((p) => p.mask?.ap ?? null), 1),
      ],
    },
    options: { scales: { y: { min: 0, max: 1 } } },
  });
  draw('chart-losses', {
    type: 'line',
    data: { labels, datasets: LOSSES.map((k, i) => lineDataset(k, points.map((p) => p.losses?.[k] ?? null), i + 2, k === 'loss' ? { borderDash: [6, 3] } : {})) },
    options: { scales: { y: { beginAtZero: true } } },
  });
  // per class (series points only): box AP, or mask AP when no evaluation has box AP
  const key = points.some((p) => (p.classes ?? []).some((k) => k.box_ap !== null)) ? 'box_ap' : 'mask_ap';
  $('class-iou').textContent = key === 'box_ap' ? 'box' : 'mask';
  const names = [...new Set(points.flatMap((p) => (p.classes ?? []).map((k) => k.name)))];
  draw('chart-classes', {
    type: 'line',
    data: { labels, datasets: names.map((n, i) => lineDataset(n, points.map((p) => (p.classes ?? []).find((k) => k.name === n)?.[key] ?? null), i)) },
    options: { scales: { y: { min: 0, max: 1 } } },
  });
  const ul = $('flags');
  ul.replaceChildren(...flags.map((f) => {
    const li = document.createElement('li');
    li.className = f.severity;
    li.textContent = `${f.severity}: ${f.message}`;
    return li;
  }));
  fillCompareChoices();
}

// ---------------------------------------------------------------- comparison

function fillCompareChoices() {
  const base = $('compare-base');
  const other = $('compare-other');
  base.replaceChildren();
  other.replaceChildren();
  // a comparison needs two evaluations of one dataset
  const done = state.history.filter((e) => e.status === 'done' && e.dataset);
  done.forEach((e, i) => {
    const text = `${when(e.finished_at)} · ${modelName(e) ?? '?'} ${e.model?.version ?? ''} · ${e.dataset.name ?? e.dataset.id}`;
    option(base, e.id, text, i === 1);
    option(other, e.id, text, i === 0);
  });
}

async function loadComparison() {
  const a = $('compare-base').value;
  const b = $('compare-other').value;
  state.comparison = null;
  $('compare-table').tBodies[0].replaceChildren();
  $('compare-losses').tBodies[0].replaceChildren();
  Chart.getChart('chart-pr')?.destroy();
  if (!a || !b || a === b) {
    $('compare-hint').textContent = 'Pick two finished evaluations of the same dataset.';
    return;
  }
  const c = await api(`/evaluations/${encodeURIComponent(a)}/compare/${encodeURIComponent(b)}`);
  state.comparison = c;
  $('compare-hint').textContent = `Paired bootstrap over ${c.bootstrap.images} images, ${c.bootstrap.resamples} resamples, `
    + `${Math.round(c.bootstrap.confidence * 100)}% intervals; Δ = other − base.`;
  renderComparison();
}

function deltaRow(tbody, name, d, extra = []) {
  const tr = document.createElement('tr');
  cell(tr, name);
  for (const x of extra) cell(tr, x);
  cell(tr, fmt(d.base));
  cell(tr, fmt(d.other));
  cell(tr, signed(d.delta));
  cell(tr, d.ci_low === null ? '–' : `[${signed(d.ci_low)}, ${signed(d.ci_high)}]`);
  cell(tr, d.verdict.replace('_', ' '), d.verdict);
  tbody.append(tr);
}

function renderComparison() {
  const c = state.comparison;
  if (!c) return;
  const iou = $('compare-iou').value;
  const block = c.iou_types[iou];
  const tbody = $('compare-table').tBodies[0];
  tbody.replaceChildren();
  if (block) {
    deltaRow(tbody, 'all classes', block.overall.ap, ['']);
    for (const k of block.classes) deltaRow(tbody, k.name, k.ap, [String(k.gts)]);
  }
  const lt = $('compare-losses').tBodies[0];
  lt.replaceChildren();
  if (c.losses) for (const k of LOSSES) deltaRow(lt, k, c.losses[k]);
  $('compare-losses').hidden = !c.losses;

  const curveSel = $('compare-curve');
  const chosen = curveSel.value || 'overall';
  curveSel.replaceChildren();
  option(curveSel, 'overall', 'all classes', chosen === 'overall');
  const curves = c.pr_curves?.[iou];
  for (const k of curves?.base.classes ?? []) option(curveSel, String(k.category_id), k.name, chosen === String(k.category_id));
  if (!curves) return;
  const pick = (side) => (curveSel.value === 'overall' ? side.overall : side.classes.find((k) => String(k.category_id) === curveSel.value)?.curves);
  const b = pick(curves.base);
  const o = pick(curves.other);
  draw('chart-pr', {
    type: 'line',
    data: {
      labels: c.pr_curves.recall.map((r) => r.toFixed(2)),
      datasets: [
        lineDataset('base · IoU .50:.95', b?.iou_mean ?? [], 0, { pointRadius: 0 }),
        lineDataset('other · IoU .50:.95', o?.iou_mean ?? [], 3, { pointRadius: 0 }),
        lineDataset('base · IoU .50', b?.iou_50 ?? [], 0, { pointRadius: 0, borderDash: [5, 3], borderWidth: 1 }),
        lineDataset('other · IoU .50', o?.iou_50 ?? [], 3, { pointRadius: 0, borderDash: [5, 3], borderWidth: 1 }),
      ],
    },
    options: { scales: { x: { title: { display: true, text: 'recall' }, ticks: { maxTicksLimit: 11 } }, y: { min: 0, max: 1, title: { display: true, text: 'precision' } } } },
  });
}

// ---------------------------------------------------------------- drift

/** Each bin's share of the total (0 when empty): current and reference compare as shapes. */
export function shares(counts) {
  const n = counts.reduce((s, c) => s + c, 0);
  return counts.map((c) => (n > 0 ? c / n : 0));
}

async function loadDrift() {
  const [model, version] = ($('drift-model').value || '').split('\u0000');
  const q = new URLSearchParams();
  if (model) q.set('model', model);
  if (version) q.set('version', version);
  const d = await api(`/drift?${q}`);
  state.drift = d;
  const tbody = $('drift-table').tBodies[0];
  tbody.replaceChildren();
  for (const f of FEATURES) {
    const tr = document.createElement('tr');
    cell(tr, f);
    cell(tr, fmt(d.psi[f], 4));
    cell(tr, d.level[f] ?? '–', d.level[f] ? `level-${d.level[f]}` : '');
    cell(tr, String(d.current.histograms[f].counts.reduce((s, c) => s + c, 0)));
    cell(tr, d.reference ? String(d.reference.histograms[f].counts.reduce((s, c) => s + c, 0)) : '–');
    tbody.append(tr);
  }
  const src = d.reference?.source;
  $('drift-hint').textContent = `${d.current.images} image(s) in the window (of ${d.current.capacity}); `
    + (d.reference ? `reference: ${d.reference.images} image(s) from ${src.kind === 'live' ? 'live traffic' : `evaluation ${src.evaluation_id}`}, pinned ${when(d.reference.created_at)}. ` : 'no reference pinned (POST /drift/reference). ')
    + `PSI needs ${d.min_images} image(s); detections count from score ${d.score_floor}.`;
  for (const f of FEATURES) {
    const cur = d.current.histograms[f];
    const datasets = [{ label: 'current', data: shares(cur.counts), backgroundColor: PALETTE[0] }];
    if (d.reference) {
      // the reference's counts on the current bins (by name)
      const at = new Map(d.reference.histograms[f].bins.map((b, i) => [b, d.reference.histograms[f].counts[i]]));
      datasets.push({ label: 'reference', data: shares(cur.bins.map((b) => at.get(b) ?? 0)), backgroundColor: PALETTE[1] });
    }
    draw(`chart-drift-${f}`, {
      type: 'bar',
      data: { labels: cur.bins.map((b) => (f === 'class_mix' || b === '+Inf' ? b : `≤${b}`)), datasets },
      options: { scales: { y: { beginAtZero: true, title: { display: true, text: 'share' } } } },
    });
  }
}

// ---------------------------------------------------------------- start

async function guarded(what, fn) {
  try {
    await fn();
    return true;
  } catch (err) {
    status(`${what}: ${explain(err)}`, true);
    return false;
  }
}

async function loadChoices() {
  // each list on its own: a token without the `evaluate` scope still sees the models (and drift)
  const [models, datasets] = await Promise.allSettled([api('/models'), api('/datasets?limit=100')]);
  state.models = models.status === 'fulfilled' ? models.value.models ?? [] : [];
  state.datasets = datasets.status === 'fulfilled' ? datasets.value.datasets ?? [] : [];
  const ds = $('dataset');
  const keepDs = ds.value;
  ds.replaceChildren();
  option(ds, '', 'all (uploads too)');
  for (const d of state.datasets) option(ds, d.id, `${d.name} (${d.images} images)`, d.id === keepDs);
  if (!keepDs && state.datasets.length > 0) ds.value = state.datasets[0].id;
  const m = $('model');
  const keepM = m.value;
  m.replaceChildren();
  option(m, '', 'all models');
  for (const name of new Set(state.models.map((v) => v.name))) option(m, name, name, name === keepM);
  const dm = $('drift-model');
  const keepD = dm.value;
  dm.replaceChildren();
  for (const v of state.models.filter((x) => x.state === 'ready' && x.version)) {
    const value = `${v.name}\u0000${v.version}`;
    option(dm, value, `${v.name} ${v.version}${v.default_model ? ' (default)' : ''}`, value === keepD || (!keepD && v.default_model));
  }
  if (models.status === 'rejected') throw models.reason;
  if (datasets.status === 'rejected') throw datasets.reason;
}

async function loadAll() {
  document.body.dataset.state = 'loading';
  status('loading…');
  let ok = await guarded('models and datasets', loadChoices);
  ok = (await guarded('evaluations', loadHistory)) && ok;
  ok = (await guarded('comparison', loadComparison)) && ok;
  ok = (await guarded('drift', loadDrift)) && ok;
  if (ok) status(`updated ${new Date().toLocaleTimeString()}${token() ? '' : ' · no token sent'}`);
  document.body.dataset.state = ok ? 'ready' : 'error';
}

function on(id, event, fn) {
  $(id).addEventListener(event, (e) => {
    document.body.dataset.state = 'loading';
    Promise.resolve(fn(e)).then(() => { document.body.dataset.state = 'ready'; }, (err) => {
      status(explain(err), true);
      document.body.dataset.state = 'error';
    });
  });
}

$('token').value = token();
$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
  void loadAll();
});
$('token-clear').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  $('token').value = '';
  void loadAll();
});
$('refresh').addEventListener('click', () => { void loadAll(); });
on('dataset', 'change', async () => { await loadHistory(); await loadComparison(); });
on('model', 'change', async () => { await loadHistory(); await loadComparison(); });
on('compare-base', 'change', loadComparison);
on('compare-other', 'change', loadComparison);
on('compare-iou', 'change', renderComparison);
on('compare-curve', 'change', renderComparison);
on('drift-model', 'change', loadDrift);
void loadAll();
