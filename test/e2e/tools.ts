/**
 * Real external tools for the end-to-end tests: a Prometheus server (loopback, random free port,
 * temp storage, 1 s scrapes) and headless Chromium (CLI --dump-dom / --screenshot). Debian packages
 * `prometheus` and `chromium` provide /usr/bin/prometheus and /usr/bin/chromium; override with
 * PROMETHEUS_BIN / CHROMIUM_BIN. Every process started here is killed by its own pid on stop().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';
export const CHROMIUM_BIN = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';

/** A skip reason when `bin` is missing, else false (for `test(name, { skip }, fn)`). */
export const skipUnless = (bin: string, pkg: string): string | false =>
  existsSync(bin) ? false : `${bin} not found: apt-get install -y ${pkg}`;

/** A TCP port the OS says is free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Polls `fn` until it returns a non-undefined value or `timeoutMs` passes. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) { last = err; }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

export interface PrometheusServer {
  url: string;
  /** Instant query through the HTTP API; returns `data.result`. */
  query(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  /** Scrape targets as Prometheus sees them (`/api/v1/targets`). */
  targets(): Promise<Array<{ health: string; lastError: string; scrapeUrl: string }>>;
  logs(): string;
  stop(): Promise<void>;
}

/** Starts Prometheus scraping `target` (host:port) every second; resolves once /-/ready answers. */
export async function startPrometheus(target: string, opts: { job?: string; rulesFile?: string } = {}): Promise<PrometheusServer> {
  const dir = mkdtempSync(join(tmpdir(), 'mrcnn-prom-'));
  const port = await freePort();
  const config = [
    'global:',
    '  scrape_interval: 1s',
    '  evaluation_interval: 1s',
    ...(opts.rulesFile ? ['rule_files:', `  - ${JSON.stringify(opts.rulesFile)}`] : []),
    'scrape_configs:',
    `  - job_name: ${opts.job ?? 'maskrcnn-serve'}`,
    '    metrics_path: /metrics',
    '    static_configs:',
    `      - targets: [${JSON.stringify(target)}]`,
    '',
  ].join('\n');
  writeFileSync(join(dir, 'prometheus.yml'), config);
  let output = '';
  const child = spawn(PROMETHEUS_BIN, [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { output += d.toString(); });
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor('Prometheus /-/ready', async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}: ${output}`);
      const res = await fetch(`${url}/-/ready`);
      return res.ok ? true : undefined;
    });
  } catch (err) {
    await stop();
    throw err;
  }
  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}${path}`);
    const body = await res.json() as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${body.error ?? res.status}`);
    return body.data;
  };
  return {
    url,
    query: async (expr) => (await api<{ result: Array<{ metric: Record<string, string>; value: [number, string] }> }>(
      `/api/v1/query?query=${encodeURIComponent(expr)}`)).result,
    targets: async () => (await api<{ activeTargets: Array<{ health: string; lastError: string; scrapeUrl: string }> }>(
      '/api/v1/targets')).activeTargets,
    logs: () => output,
    stop,
  };
}

/** The flags the brief and CI use for a quiet, offline, throwaway headless Chromium. */
export function chromiumArgs(userDataDir: string): string[] {
  return [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage',
    '--hide-scrollbars', `--user-data-dir=${userDataDir}`,
  ];
}

/** Runs Chromium once with `extra` flags on `url`; returns stdout (the DOM for --dump-dom). */
export async function runChromium(url: string, extra: string[], timeoutMs = 90_000): Promise<string> {
  const profile = mkdtempSync(join(tmpdir(), 'mrcnn-chromium-'));
  const child = spawn(CHROMIUM_BIN, [...chromiumArgs(profile), ...extra, url], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  rmSync(profile, { recursive: true, force: true });
  if (code !== 0) throw new Error(`chromium exited ${code}: ${stderr.slice(-2000)}`);
  return stdout;
}
