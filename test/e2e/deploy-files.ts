/**
 * Readers for the deploy/ files the observability tests check: the Grafana dashboard's PromQL
 * targets and the Prometheus alert rules' expressions.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ROOT } from './service.js';

export interface Panel { id: number; type: string; title: string; targets?: Array<{ expr: string; refId: string }>; gridPos: object }

export const DASHBOARD_FILE = join(ROOT, 'deploy', 'grafana', 'dashboard.json');
export const ALERTS_FILE = join(ROOT, 'deploy', 'prometheus', 'alerts.yml');
export const ALERTS_TEST_FILE = join(ROOT, 'deploy', 'prometheus', 'alerts.test.yml');
export const PROM_CONFIG_FILE = join(ROOT, 'deploy', 'prometheus', 'prometheus.yml');

/** Every PromQL expression of the dashboard, with its panel title. */
export function dashboardExprs(): Array<{ panel: string; expr: string }> {
  const d = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as { panels: Panel[] };
  return d.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
}

/** Every alert rule expression. */
export function alertExprs(): Array<{ alert: string; expr: string }> {
  const doc = parseYaml(readFileSync(ALERTS_FILE, 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
  return doc.groups.flatMap((g) => g.rules.map((r) => ({ alert: r.alert, expr: r.expr })));
}

/** Series Prometheus itself synthesises per target; allowed in alerts although /metrics lacks them. */
export const PROMETHEUS_SYNTHETIC = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);
