/**
 * deploy/grafana/dashboard.json and deploy/prometheus/alerts.yml against the real service: the
 * dashboard is valid JSON with the panels operators need (drift and dataset quality included, with
 * `model`/`version`/`dataset` variables), and every metric name in its PromQL (and in the alert
 * rules) is one a real app's /metrics exposes after it has served traffic: predictions, a pinned
 * drift reference, an /evaluate run and evaluations of a registered dataset. `promtool check rules/config` validate the Prometheus files and `promtool test rules`
 * runs the alert unit tests (deploy/prometheus/alerts.test.yml).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { PROMTOOL, exposedNames, hasPromtool, promqlMetricNames, promtoolCheckMetrics } from '../metrics/exposition.js';
import {
  ALERTS_FILE, ALERTS_TEST_FILE, DASHBOARD_FILE, PROMETHEUS_SYNTHETIC, PROM_CONFIG_FILE, alertExprs, dashboardExprs, type Panel,
} from './deploy-files.js';
import { detectionsPayload, modelClasses, skipNoModel, startService, type Service } from './service.js';
import { seedQualityData } from './quality-data.js';

test('dashboard.json is valid JSON with unique panel ids and the required panels', () => {
  const d = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as { uid: string; panels: Panel[]; templating: { list: Array<{ name: string }> } };
  assert.equal(d.uid, 'mrcnn-serve');
  const ids = d.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  const exprs = dashboardExprs().map((e) => e.expr).join('\n');
  assert.match(exprs, /histogram_quantile\(0\.5, sum by \(le, route\) \(rate\(mrcnn_http_request_duration_seconds_bucket/);
  assert.match(exprs, /histogram_quantile\(0\.95, sum by \(le, route\) \(rate\(mrcnn_http_request_duration_seconds_bucket/);
  for (const name of [
    'mrcnn_queue_depth', 'mrcnn_rejected_requests_total', 'mrcnn_eval_loss', 'mrcnn_eval_ap', 'mrcnn_eval_class_ap',
    'mrcnn_drift_psi', 'mrcnn_drift_detections_total', 'mrcnn_drift_detection_score_bucket', 'mrcnn_drift_detections_per_image_sum',
    'mrcnn_drift_mask_area_ratio_bucket', 'mrcnn_drift_image_pixels_bucket', 'mrcnn_dataset_ap', 'mrcnn_dataset_loss',
  ]) {
    assert.ok(exprs.includes(name), `a panel queries ${name}`);
  }
  for (const p of d.panels) {
    if (p.type !== 'row') assert.ok((p.targets ?? []).length > 0, `panel "${p.title}" has a query`);
    for (const t of p.targets ?? []) assert.ok(t.expr.trim().length > 0 && t.refId, `panel "${p.title}" target has expr and refId`);
  }
  assert.deepEqual(d.templating.list.map((v) => v.name), ['datasource', 'job', 'instance', 'model', 'version', 'dataset']);
  // the drift and dataset panels follow the variables
  for (const { panel, expr } of dashboardExprs().filter((e) => /mrcnn_(drift|dataset)_/.test(e.expr))) {
    assert.match(expr, /model=~"\$model", version=~"\$version"/, `${panel} filters by model and version`);
    if (expr.includes('mrcnn_dataset_')) assert.match(expr, /dataset=~"\$dataset"/, `${panel} filters by dataset`);
  }
});

test('promtool validates the alert rules and the example Prometheus config, and the rule unit tests pass', { skip: hasPromtool() ? false : 'promtool not installed (apt-get install prometheus)' }, () => {
  for (const args of [['check', 'rules', ALERTS_FILE], ['check', 'config', PROM_CONFIG_FILE], ['test', 'rules', ALERTS_TEST_FILE]]) {
    const r = spawnSync(PROMTOOL, args, { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, `promtool ${args.join(' ')}:\n${r.stdout}${r.stderr}`);
  }
});

test('the PromQL name extractor ignores functions, labels, ranges, strings and numbers', () => {
  assert.deepEqual([...promqlMetricNames(
    'histogram_quantile(0.95, sum by (le, route) (rate(a_bucket{route="/x", job=~"$job"}[$__rate_interval]))) / 2^30 > on (instance) b_total offset 5m',
  )].sort(), ['a_bucket', 'b_total']);
});

describe('dashboard and alert queries use only exposed metric names', { skip: skipNoModel }, () => {
  let svc: Service;
  let exposed: Set<string>;
  let scrape: string;

  before(async () => {
    svc = await startService({ listen: false, env: { DRIFT_MIN_IMAGES: '1' } });
    // Traffic so every family has samples: requests, predictions and a pinned drift reference (drift
    // histograms, PSI), dataset evaluations (mrcnn_dataset_*), an /evaluate run (quality gauges, class AP).
    await svc.app.inject({ url: '/health/ready' });
    await seedQualityData(svc.app, { images: 2 });
    const res = await svc.app.inject({ method: 'POST', url: '/evaluate', payload: { ...detectionsPayload(modelClasses()), iou_types: 'bbox' } });
    assert.equal(res.statusCode, 200, res.body);
    scrape = (await svc.app.inject({ url: '/metrics' })).body;
    exposed = exposedNames(scrape);
  });
  after(async () => { await svc?.close(); });

  test('promtool check metrics accepts the scrape with the drift and dataset series', { skip: hasPromtool() ? false : 'promtool not installed (apt-get install prometheus)' }, () => {
    for (const name of ['mrcnn_drift_psi', 'mrcnn_drift_detection_score_bucket', 'mrcnn_dataset_ap']) assert.ok(exposed.has(name), name);
    const { status, output } = promtoolCheckMetrics(scrape);
    assert.equal(status, 0, output);
    assert.equal(output.trim(), '', `promtool lint findings:\n${output}`);
  });

  test('every metric name in the dashboard is exposed by the service', () => {
    const missing: string[] = [];
    for (const { panel, expr } of dashboardExprs()) {
      for (const name of promqlMetricNames(expr)) if (!exposed.has(name)) missing.push(`${panel}: ${name}`);
    }
    assert.deepEqual(missing, []);
  });

  test('every metric name in the alert rules is exposed (or synthesised by Prometheus)', () => {
    const missing: string[] = [];
    for (const { alert, expr } of alertExprs()) {
      for (const name of promqlMetricNames(expr)) if (!exposed.has(name) && !PROMETHEUS_SYNTHETIC.has(name)) missing.push(`${alert}: ${name}`);
    }
    assert.deepEqual(missing, []);
  });
});
