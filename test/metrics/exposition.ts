/**
 * Test helpers for the Prometheus text exposition format: parse a scrape into series and metric
 * families, run `promtool check metrics` on it, and extract metric names from PromQL. Used by
 * test/metrics/** and test/e2e/**.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses `name{a="b",...} value` lines (ignores # HELP / # TYPE and blank lines). */
export function parseSamples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** `# TYPE name type` lines → Map(name → type). */
export function metricTypes(text: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1]!, m[2]!);
  return types;
}

/** One string per series, `name{k="v",...}` with sorted labels — for set comparisons. */
export function seriesKeys(text: string): Set<string> {
  return new Set(parseSamples(text).map((s) => {
    const labels = Object.entries(s.labels).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}="${v}"`);
    return `${s.name}{${labels.join(',')}}`;
  }));
}

/** Every name a query can use: families plus the _bucket/_sum/_count/_total series they expose. */
export function exposedNames(text: string): Set<string> {
  const names = new Set(parseSamples(text).map((s) => s.name));
  for (const name of metricTypes(text).keys()) names.add(name);
  return names;
}

export const PROMTOOL = process.env.PROMTOOL ?? '/usr/bin/promtool';
export const hasPromtool = (): boolean => existsSync(PROMTOOL);

/** `promtool check metrics` (reads stdin); returns exit code and combined output. */
export function promtoolCheckMetrics(text: string): { status: number | null; output: string } {
  const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

const PROMQL_KEYWORDS = new Set([
  'sum', 'min', 'max', 'avg', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'group',
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset',
  'rate', 'irate', 'increase', 'delta', 'idelta', 'deriv', 'histogram_quantile', 'time', 'timestamp', 'vector',
  'scalar', 'abs', 'absent', 'absent_over_time', 'clamp', 'clamp_min', 'clamp_max', 'ceil', 'floor', 'round',
  'changes', 'resets', 'label_replace', 'label_join', 'sort', 'sort_desc', 'sum_over_time', 'avg_over_time',
  'max_over_time', 'min_over_time', 'count_over_time', 'last_over_time', 'predict_linear', 'inf', 'nan',
]);

/**
 * Metric names referenced by a PromQL expression: identifiers not inside a label matcher `{...}`,
 * a range `[...]`, or a string, minus PromQL keywords/functions and the labels of by()/without()/on().
 * Grafana template variables ($__rate_interval, $job) are removed first.
 */
export function promqlMetricNames(expr: string): Set<string> {
  const cleaned = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
    .replace(/\$\{?\w+\}?/g, '')
    .replace(/(?<![\w:])\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?:ms|[smhdwy])?(?![\w:])/g, '');
  const names = new Set<string>();
  for (const m of cleaned.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const id = m[0];
    const next = cleaned.slice(m.index + id.length).trimStart();
    if (PROMQL_KEYWORDS.has(id) || next.startsWith('(')) continue; // keyword or function call
    if (/^\d/.test(id)) continue;
    names.add(id);
  }
  return names;
}
