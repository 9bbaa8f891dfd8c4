/**
 * The dashboard page (GET /dashboard) and the HTML report (GET /evaluations/{id}/report) in one
 * headless Chromium driven over CDP (test/e2e/cdp.ts), against a real listening service holding
 * data made through its API (test/e2e/quality-data.ts: predictions, a pinned drift reference, a
 * dataset and two evaluations of it). Each page loads with no console error and no failed request,
 * a screenshot is kept under test-artifacts/, and what every chart holds (`Chart.getChart(canvas)
 * .data`, read in the page) equals what the API answers. Also: the page and its assets are served
 * by the service (the chart library with a long cache and its licence), a saved report opens from a
 * file:// URL, and with access control on the page works once a token is typed in.
 * Skips only when the model file or /usr/bin/chromium is absent.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { launchBrowser, type Browser, type Page } from './cdp.js';
import { seedQualityData, type QualityData } from './quality-data.js';
import { ROOT, skipNoModel, startService, type Service } from './service.js';
import { CHROMIUM_BIN, skipUnless } from './tools.js';

const skip = skipNoModel || skipUnless(CHROMIUM_BIN, 'chromium');
const ARTIFACTS = join(ROOT, 'test-artifacts');
const FEATURES = ['class_mix', 'score', 'detections_per_image', 'mask_area', 'image_size'] as const;
const LOSSES = ['loss_objectness', 'loss_rpn_box_reg', 'loss_classifier', 'loss_box_reg', 'loss_mask', 'loss'] as const;

interface ChartData { labels: unknown[]; datasets: Array<{ label: string; data: unknown[] }> }
type Curve = Array<number | null>;
interface CurvePair { iou_mean: Curve; iou_50: Curve }
interface Comparison {
  iou_types: Record<string, { overall: { ap: { delta: number | null } }; classes: Array<{ name: string; ap: { delta: number | null } }> }>;
  pr_curves: { recall: number[] } & Record<string, { base: { overall: CurvePair }; other: { overall: CurvePair } }>;
}
interface Drift {
  psi: Record<string, number | null>;
  current: { histograms: Record<string, { bins: string[]; counts: number[] }> };
  reference: { histograms: Record<string, { bins: string[]; counts: number[] }> } | null;
}

const shares = (counts: number[]): number[] => {
  const n = counts.reduce((s, c) => s + c, 0);
  return counts.map((c) => (n > 0 ? c / n : 0));
};
/** Chart data in the page, by canvas id. */
const chartData = (page: Page, id: string): Promise<ChartData> =>
  page.evaluate<ChartData>(`(() => { const c = Chart.getChart(${JSON.stringify(id)}); return c ? { labels: c.data.labels, datasets: c.data.datasets.map((d) => ({ label: d.label, data: d.data })) } : null; })()`);

/** Waits until the dashboard says it is drawn; fails with its status line when it gave up. */
async function dashboardReady(page: Page): Promise<void> {
  const state = await page.waitFor<string>(`document.body.dataset.state !== 'loading' && document.body.dataset.state`);
  assert.equal(state, 'ready', `dashboard: ${await page.evaluate<string>(`document.getElementById('status').textContent`)}`);
}

/** One browser for every page of this file, started by the first suite that needs it. */
let browserStarted: Promise<Browser> | null = null;
const sharedBrowser = (): Promise<Browser> => (browserStarted ??= launchBrowser());
after(async () => { await (await browserStarted)?.close(); });

describe('dashboard and report pages in headless Chromium', { skip }, () => {
  let svc: Service;
  let browser: Browser;
  let data: QualityData;
  const api = async <T>(path: string, headers: Record<string, string> = {}): Promise<T> => {
    const res = await fetch(`${svc.baseUrl}${path}`, { headers: { accept: 'application/json', ...headers } });
    assert.equal(res.status, 200, `${path}: ${await res.clone().text()}`);
    return await res.json() as T;
  };

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    svc = await startService({ env: { DRIFT_MIN_IMAGES: '1' } });
    data = await seedQualityData(svc.app, { images: 3 });
    browser = await sharedBrowser();
  });
  after(async () => { await svc?.close(); });

  test('the page and its assets are served by the service: public HTML with a CSP, Chart.js with a long cache and its licence', async () => {
    const res = await fetch(`${svc.baseUrl}/dashboard`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    const html = await res.text();
    assert.doesNotMatch(html, /\s(?:src|href)="(?:https?:)?\/\//i, 'no asset from another origin');
    const lib = /<script src="(\/dashboard\/assets\/chart\.umd\.min\.js\?v=[^"]+)"/.exec(html)?.[1];
    assert.ok(lib, 'the page loads the chart library from the service');
    const js = await fetch(`${svc.baseUrl}${lib}`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('cache-control') ?? '', /max-age=31536000.*immutable/);
    const sha = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex');
    assert.equal(sha(await js.text()), sha(readFileSync(join(ROOT, 'node_modules', 'chart.js', 'dist', 'chart.umd.min.js'), 'utf8')));
    const license = await fetch(`${svc.baseUrl}/dashboard/assets/chart.js.LICENSE.md`);
    assert.match(await license.text(), /MIT License/);
    const missing = await fetch(`${svc.baseUrl}/dashboard/assets/..%2Fpackage.json`);
    assert.equal(missing.status, 404);
    assert.equal((await missing.json() as { code: string }).code, 'MRC_ERR_NOT_FOUND');
  });

  test('the dashboard loads without console errors or failed requests; its charts hold the API\'s data', async () => {
    const page = await browser.newPage({ width: 1280, height: 900 });
    try {
      await page.goto(`${svc.baseUrl}/dashboard`);
      await dashboardReady(page);
      await page.screenshot(join(ARTIFACTS, 'dashboard.png'));
      assert.deepEqual(page.errors, []);
      assert.deepEqual(page.failedRequests, []);

      // evaluations over time: the first dataset, every model, from the series endpoint
      assert.equal(await page.evaluate<string>(`document.getElementById('dataset').value`), data.datasetId);
      const series = await api<{ points: Array<{ box: { ap: number | null }; mask: { ap: number | null }; losses: Record<string, number | null> | null; classes: Array<{ name: string; box_ap: number | null }> }> }>(`/evaluations/series?dataset_id=${data.datasetId}`);
      assert.equal(series.points.length, 2);
      const ap = await chartData(page, 'chart-ap');
      assert.equal(ap.labels.length, 2);
      assert.deepEqual(ap.datasets.map((d) => d.data), [series.points.map((p) => p.box.ap), series.points.map((p) => p.mask.ap)]);
      const losses = await chartData(page, 'chart-losses');
      assert.deepEqual(losses.datasets.map((d) => d.label), [...LOSSES]);
      assert.deepEqual(losses.datasets.map((d) => d.data), LOSSES.map((k) => series.points.map((p) => p.losses?.[k] ?? null)));
      assert.ok(series.points.every((p) => typeof p.losses?.loss === 'number'), 'model-mode evaluations have losses');
      const classes = await chartData(page, 'chart-classes');
      const names = [...new Set(series.points.flatMap((p) => p.classes.map((k) => k.name)))];
      assert.deepEqual(classes.datasets.map((d) => d.label), names);
      assert.deepEqual(classes.datasets.map((d) => d.data), names.map((n) => series.points.map((p) => p.classes.find((k) => k.name === n)?.box_ap ?? null)));

      // comparison: base = the older evaluation, other = the newer one
      const [older, newer] = data.evaluations as [string, string];
      assert.equal(await page.evaluate<string>(`document.getElementById('compare-base').value`), older);
      assert.equal(await page.evaluate<string>(`document.getElementById('compare-other').value`), newer);
      const cmp = await api<Comparison>(`/evaluations/${older}/compare/${newer}`);
      const pr = await chartData(page, 'chart-pr');
      assert.deepEqual(pr.labels, cmp.pr_curves.recall.map((r) => r.toFixed(2)));
      const box = cmp.pr_curves.bbox!;
      assert.deepEqual(pr.datasets.map((d) => d.data), [box.base.overall.iou_mean, box.other.overall.iou_mean, box.base.overall.iou_50, box.other.overall.iou_50]);
      const rows = await page.evaluate<string[][]>(`[...document.querySelectorAll('#compare-table tbody tr')].map((tr) => [...tr.cells].map((c) => c.textContent))`);
      assert.deepEqual(rows.map((r) => r[0]), ['all classes', ...cmp.iou_types.bbox!.classes.map((c) => c.name)]);
      for (const [i, d] of [cmp.iou_types.bbox!.overall.ap, ...cmp.iou_types.bbox!.classes.map((c) => c.ap)].entries()) {
        const shown = rows[i]![4]!;
        assert.equal(shown, d.delta === null ? '–' : `${d.delta >= 0 ? '+' : ''}${d.delta.toFixed(3)}`, `Δ AP of row ${i}`);
      }

      // drift: current and reference shares per bin, PSI in the table
      const drift = await api<Drift>('/drift');
      assert.ok(drift.reference, 'a reference is pinned');
      for (const f of FEATURES) {
        const chart = await chartData(page, `chart-drift-${f}`);
        const cur = drift.current.histograms[f]!;
        assert.equal(chart.labels.length, cur.bins.length, f);
        assert.deepEqual(chart.datasets.map((d) => d.label), ['current', 'reference'], f);
        assert.deepEqual(chart.datasets[0]!.data, shares(cur.counts), `${f}: current`);
        const ref: { bins: string[]; counts: number[] } = drift.reference!.histograms[f]!;
        assert.deepEqual(chart.datasets[1]!.data, shares(cur.bins.map((b) => ref.counts[ref.bins.indexOf(b)] ?? 0)), `${f}: reference`);
      }
      const psi = await page.evaluate<string[][]>(`[...document.querySelectorAll('#drift-table tbody tr')].map((tr) => [...tr.cells].map((c) => c.textContent))`);
      assert.deepEqual(psi.map((r) => r[0]), [...FEATURES]);
      for (const r of psi) assert.equal(r[1], drift.psi[r[0]!] === null ? '–' : drift.psi[r[0]!]!.toFixed(4));
      assert.ok((drift.psi.image_size ?? 0) > 0.1, `other image sizes after the reference drift: PSI ${drift.psi.image_size}`);

      // switching the IoU type redraws the PR chart from the mask curves
      await page.evaluate(`(() => { const s = document.getElementById('compare-iou'); s.value = 'segm'; s.dispatchEvent(new Event('change')); })()`);
      await dashboardReady(page);
      const segm = await chartData(page, 'chart-pr');
      assert.deepEqual(segm.datasets[0]!.data, cmp.pr_curves.segm!.base.overall.iou_mean);
      assert.deepEqual(page.errors, []);
    } finally {
      await page.close();
    }
  });

  test('the report draws its PR charts from its JSON data, without console errors, also saved and opened offline', async () => {
    const id = data.evaluations[1]!;
    const json = await api<{ pr_curves: Record<string, { recall_thresholds: number[]; classes: Array<{ name: string; iou_50: number[] | null; iou_50_95: number[] | null }> }> }>(`/evaluations/${id}/report`);
    const page = await browser.newPage({ width: 1280, height: 1000 });
    const dir = mkdtempSync(join(tmpdir(), 'mrcnn-report-'));
    try {
      const check = async (): Promise<void> => {
        const ids = await page.waitFor<string[]>(`(() => { const cs = [...document.querySelectorAll('canvas[data-curve]')]; return cs.length > 0 && cs.every((c) => Chart.getChart(c)) && cs.map((c) => c.id); })()`);
        assert.deepEqual(ids.sort(), ['pr-bbox-iou_50', 'pr-bbox-iou_50_95', 'pr-segm-iou_50', 'pr-segm-iou_50_95']);
        for (const cid of ids) {
          const [, t, key] = /^pr-(bbox|segm)-(iou_50(?:_95)?)$/.exec(cid)!;
          const block = json.pr_curves[t!]!;
          const chart = await chartData(page, cid);
          assert.deepEqual(chart.labels, block.recall_thresholds.map((r) => r.toFixed(2)), cid);
          const expected = block.classes.filter((c) => c[key as 'iou_50'] !== null);
          assert.deepEqual(chart.datasets.map((d) => d.data), expected.map((c) => c[key as 'iou_50']), cid);
          assert.deepEqual(chart.datasets.map((d) => d.label.split(' — ')[0]), expected.map((c) => c.name), cid);
        }
        assert.deepEqual(page.errors, []);
        assert.deepEqual(page.failedRequests, []);
      };
      await page.goto(`${svc.baseUrl}/evaluations/${id}/report`);
      await check();
      await page.screenshot(join(ARTIFACTS, 'report.png'));
      // saved as a file and opened offline: everything it needs is inside
      const file = join(dir, 'report.html');
      writeFileSync(file, await (await fetch(`${svc.baseUrl}/evaluations/${id}/report`)).text());
      await page.goto(pathToFileURL(file).href);
      await check();
    } finally {
      await page.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test('a golden-set reference: the newest evaluation of the dataset gives the model\'s predictions on its images', async () => {
    const res = await fetch(`${svc.baseUrl}/drift/reference`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ dataset_id: data.datasetId }) });
    assert.equal(res.status, 201, await res.clone().text());
    const ref = await res.json() as { images: number; source: { kind: string; evaluation_id: string; dataset_id: string }; histograms: Record<string, { counts: number[] }> };
    assert.deepEqual([ref.source.kind, ref.source.evaluation_id, ref.source.dataset_id], ['evaluation', data.evaluations[1], data.datasetId]);
    assert.equal(ref.images, 3);
    assert.ok(ref.histograms.class_mix!.counts.reduce((s, c) => s + c, 0) >= 3, 'the shapes model finds the shapes of the fixture images');
    const page = await browser.newPage();
    try {
      await page.goto(`${svc.baseUrl}/dashboard`);
      await dashboardReady(page);
      assert.match(await page.evaluate<string>(`document.getElementById('drift-hint').textContent`), new RegExp(`from evaluation ${data.evaluations[1]}`));
      assert.deepEqual(page.errors, []);
    } finally {
      await page.close();
    }
  });
});

describe('the dashboard with access control on', { skip }, () => {
  let svc: Service;
  let browser: Browser;
  const dir = mkdtempSync(join(tmpdir(), 'mrcnn-dash-auth-'));
  const token = 'dashboard-test-token-0123456789abcdef';

  before(async () => {
    const tokens = join(dir, 'tokens.json');
    writeFileSync(tokens, JSON.stringify([{ name: 'viewer', sha256: createHash('sha256').update(token).digest('hex'), scopes: ['inference', 'evaluate'] }]));
    svc = await startService({ env: { TOKENS_FILE: tokens, WARMUP: 'false' } });
    browser = await sharedBrowser();
  });
  after(async () => {
    await svc?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the page is public; its fetches carry the token typed into the token field', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${svc.baseUrl}/dashboard`);
      assert.equal(await page.waitFor<string>(`document.body.dataset.state !== 'loading' && document.body.dataset.state`), 'error');
      assert.match(await page.evaluate<string>(`document.getElementById('status').textContent`), /token is needed/);
      assert.ok(page.failedRequests.some((r) => / → 401$/.test(r)), 'the data routes answered 401 without a token');
      const failed = page.failedRequests.length;
      await page.evaluate(`(() => { document.getElementById('token').value = ${JSON.stringify(token)}; document.getElementById('token-form').requestSubmit(); })()`);
      await dashboardReady(page);
      assert.equal(page.failedRequests.length, failed, `no failure once the token is sent: ${page.failedRequests.slice(failed).join(', ')}`);
      assert.equal(await page.evaluate<string>(`sessionStorage.getItem('maskrcnn-serve.token')`), token);
    } finally {
      await page.close();
    }
  });
});
