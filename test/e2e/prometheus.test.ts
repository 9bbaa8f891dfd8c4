/**
 * A real Prometheus server (loopback, random port, temp TSDB, scrape_interval 1s, our alert rules
 * loaded) scrapes the real, listening service. After an evaluation, our series come back through
 * Prometheus' HTTP query API with the values /evaluate returned; every dashboard and alert
 * expression evaluates without error; the rules load with health "ok".
 * Skips only when the model file or /usr/bin/prometheus is absent.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PROMETHEUS_BIN, skipUnless, startPrometheus, waitFor, type PrometheusServer } from './tools.js';
import { detectionsPayload, modelClasses, skipNoModel, startService, type Service } from './service.js';
import { shapesImage } from '../helper.js';
import { ALERTS_FILE, alertExprs, dashboardExprs } from './deploy-files.js';

const skip = skipNoModel || skipUnless(PROMETHEUS_BIN, 'prometheus');

/** Grafana's template variables → values Prometheus accepts. */
const grafanaToPromql = (expr: string): string => expr
  .replaceAll('$__rate_interval', '1m').replaceAll('$__range', '5m').replaceAll('$__interval', '15s')
  .replaceAll('$job', '.+').replaceAll('$instance', '.+')
  .replaceAll('$model', '.+').replaceAll('$version', '.+').replaceAll('$dataset', '.+');

describe('a real Prometheus scraping the real service', { skip }, () => {
  let svc: Service;
  let prom: PrometheusServer;
  const classes = skipNoModel ? [] : modelClasses();
  let evaluated: { coco: { bbox: { stats: Array<number | null> } } };

  before(async () => {
    svc = await startService({ env: { DRIFT_MIN_IMAGES: '1' } });
    prom = await startPrometheus(svc.hostPort, { job: 'maskrcnn-serve', rulesFile: ALERTS_FILE });
    // drift: a reference of two small images, then a large one (the image sizes drift)
    const predict = async (png: Buffer): Promise<void> => {
      const r = await fetch(`${svc.baseUrl}/predict?mask_format=none`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: new Uint8Array(png) });
      assert.equal(r.status, 200, await r.text());
    };
    await predict(await shapesImage(256, 192));
    await predict(await shapesImage(200, 200));
    const pin = await fetch(`${svc.baseUrl}/drift/reference`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ last: 2 }) });
    assert.equal(pin.status, 201, await pin.text());
    await predict(await shapesImage(640, 480));
    const res = await fetch(`${svc.baseUrl}/evaluate`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...detectionsPayload(classes), iou_types: 'bbox' }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    evaluated = await res.json() as typeof evaluated;
  });
  after(async () => {
    await prom?.stop();
    await svc?.close();
  });

  test('the target is scraped and up', async () => {
    const targets = await waitFor('a healthy target', async () => {
      const t = await prom.targets();
      return t.length === 1 && t[0]!.health === 'up' ? t : undefined;
    });
    assert.equal(targets[0]!.scrapeUrl, `${svc.baseUrl}/metrics`);
    const up = await prom.query('up{job="maskrcnn-serve"}');
    assert.equal(up[0]?.value[1], '1');
  });

  test('mrcnn_eval_ap comes back through the query API with the value /evaluate returned', async () => {
    const result = await waitFor('mrcnn_eval_ap in Prometheus', async () => {
      const r = await prom.query('mrcnn_eval_ap{iou_type="bbox", iou="0.50:0.95"}');
      return r.length > 0 ? r : undefined;
    });
    assert.equal(result.length, 1);
    assert.equal(result[0]!.metric.job, 'maskrcnn-serve');
    assert.ok(Math.abs(Number(result[0]!.value[1]) - evaluated.coco.bbox.stats[0]!) < 1e-9);
  });

  test('per-class AP series carry only the model\'s class names', async () => {
    const result = await waitFor('mrcnn_eval_class_ap in Prometheus', async () => {
      const r = await prom.query('mrcnn_eval_class_ap');
      return r.length > 0 ? r : undefined;
    });
    for (const r of result) assert.ok(classes.includes(r.metric.class!), `class="${r.metric.class}" is a model class`);
    const names = await (await fetch(`${prom.url}/api/v1/label/class/values`)).json() as { data: string[] };
    for (const v of names.data) assert.ok(classes.includes(v), `Prometheus knows no class value ${v} outside the model's`);
  });

  test('model readiness and HTTP series by route pattern are queryable', async () => {
    const ready = await waitFor('mrcnn_model_ready', async () => (await prom.query('mrcnn_model_ready')).at(0));
    assert.equal(ready.value[1], '1');
    const routes = await waitFor('POST /evaluate requests', async () => {
      const r = await prom.query('sum by (route, status_class) (mrcnn_http_requests_total{route="/evaluate"})');
      return r.length > 0 ? r : undefined;
    });
    assert.deepEqual(routes.map((r) => r.metric), [{ route: '/evaluate', status_class: '2xx' }]);
  });

  test('drift: the PSI gauges come back through Prometheus with the values of GET /drift, and the critical drift alert is pending', async () => {
    const drift = await (await fetch(`${svc.baseUrl}/drift`)).json() as { model: string; version: string; psi: Record<string, number | null> };
    assert.ok((drift.psi.image_size ?? 0) > 0.25, `image sizes drifted: ${drift.psi.image_size}`);
    const result = await waitFor('mrcnn_drift_psi in Prometheus', async () => {
      const r = await prom.query('mrcnn_drift_psi');
      return r.length === 5 ? r : undefined;
    });
    for (const r of result) {
      assert.deepEqual([r.metric.model, r.metric.version], [drift.model, drift.version]);
      assert.ok(Math.abs(Number(r.value[1]) - drift.psi[r.metric.feature!]!) < 1e-9, `${r.metric.feature}: ${r.value[1]} = ${drift.psi[r.metric.feature!]}`);
    }
    const alerts = await waitFor('MrcnnDriftSignificant pending', async () => {
      const res = await (await fetch(`${prom.url}/api/v1/alerts`)).json() as { data: { alerts: Array<{ labels: Record<string, string>; state: string }> } };
      const a = res.data.alerts.filter((x) => x.labels.alertname === 'MrcnnDriftSignificant');
      return a.length > 0 ? a : undefined;
    });
    assert.ok(alerts.some((a) => a.labels.feature === 'image_size' && a.state === 'pending'), JSON.stringify(alerts));
  });

  test('every dashboard and alert expression evaluates without error', async () => {
    const failures: string[] = [];
    for (const { panel, expr } of [...dashboardExprs(), ...alertExprs().map((a) => ({ panel: a.alert, expr: a.expr }))]) {
      try {
        await prom.query(grafanaToPromql(expr));
      } catch (err) {
        failures.push(`${panel}: ${(err as Error).message}`);
      }
    }
    assert.deepEqual(failures, []);
  });

  test('the alert rules load and evaluate with health "ok"', async () => {
    const rules = await waitFor('evaluated rules', async () => {
      const res = await fetch(`${prom.url}/api/v1/rules`);
      const body = await res.json() as { data: { groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }> } };
      const all = body.data.groups.flatMap((g) => g.rules);
      return all.length > 0 && all.every((r) => r.health !== 'unknown') ? all : undefined;
    });
    assert.equal(rules.length, alertExprs().length);
    for (const r of rules) assert.equal(r.health, 'ok', `${r.name}: ${r.lastError ?? ''}`);
  });
});
