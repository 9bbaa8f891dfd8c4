/**
 * deploy/compose/compose.yaml: two replicas of the service on one PostgreSQL and Prometheus scraping
 * both. Checked structurally against the code (variables the configuration knows, the PORT default,
 * the database URL of the postgres service, the queue), by `docker compose config` / `docker-compose
 * config` when a compose binary is installed (skipped otherwise, with the reason), and its Prometheus
 * configuration by promtool when installed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { CONFIG_VARIABLES, loadConfig } from '../../src/config.js';
import { ROOT } from '../robustness/helpers.js';

const DIR = join(ROOT, 'deploy', 'compose');
const FILE = join(DIR, 'compose.yaml');
type Service = { image?: string; build?: { context: string; dockerfile: string }; environment?: Record<string, string>; ports?: string[]; depends_on?: unknown; volumes?: string[]; command?: string[] };
const compose = parse(readFileSync(FILE, 'utf8'), { merge: true }) as { services: Record<string, Service> };

/** A compose binary: the v2 plugin, else the standalone docker-compose; null when neither runs. */
function composeBinary(): string[] | null {
  for (const cmd of [['docker', 'compose'], ['docker-compose']]) {
    const r = spawnSync(cmd[0]!, [...cmd.slice(1), 'version'], { encoding: 'utf8' });
    if (r.status === 0) return cmd;
  }
  return null;
}
const bin = composeBinary();
const hasPromtool = spawnSync('promtool', ['--version']).status === 0;

describe('deploy/compose', () => {
  const replicas = Object.entries(compose.services).filter(([, s]) => s.environment?.DATABASE_URL);

  test('two replicas of the same image on the PostgreSQL service, with the distributed queue', () => {
    assert.equal(replicas.length, 2);
    const pg = compose.services.postgres!;
    const url = new URL(replicas[0]![1].environment!.DATABASE_URL!);
    assert.equal(url.hostname, 'postgres');
    assert.equal(url.username, pg.environment!.POSTGRES_USER);
    assert.equal(url.password, pg.environment!.POSTGRES_PASSWORD);
    assert.equal(url.pathname.slice(1), pg.environment!.POSTGRES_DB);
    const port = loadConfig({}, [], ROOT).port;
    for (const [name, s] of replicas) {
      assert.equal(s.image, replicas[0]![1].image, name);
      assert.deepEqual(s.build, { context: '../..', dockerfile: 'Dockerfile' }, name);
      assert.equal(s.environment!.JOBS_QUEUE, 'pgboss', name);
      for (const key of Object.keys(s.environment!)) assert.ok((CONFIG_VARIABLES as readonly string[]).includes(key), `${name}: ${key} is not a configuration variable`);
      assert.doesNotThrow(() => loadConfig(s.environment!, [], ROOT), name);
      assert.ok(s.ports!.some((p) => p.endsWith(`:${port}`)), `${name} publishes the PORT default ${port}`);
    }
  });

  test('Prometheus scrapes /metrics of both replicas on the service port', () => {
    const prom = parse(readFileSync(join(DIR, 'prometheus.yml'), 'utf8')) as { scrape_configs: Array<{ metrics_path: string; static_configs: Array<{ targets: string[] }> }> };
    const job = prom.scrape_configs[0]!;
    assert.equal(job.metrics_path, '/metrics');
    const port = loadConfig({}, [], ROOT).port;
    assert.deepEqual(job.static_configs.flatMap((c) => c.targets).sort(), replicas.map(([name]) => `${name}:${port}`).sort());
    const mounts = compose.services.prometheus!.volumes!;
    assert.ok(mounts.some((m) => m.startsWith('./prometheus.yml:')));
  });

  test('promtool accepts the Prometheus configuration', { skip: hasPromtool ? false : 'promtool is not installed' }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'mrcnn-compose-'));
    try {
      copyFileSync(join(DIR, 'prometheus.yml'), join(dir, 'prometheus.yml'));
      copyFileSync(join(ROOT, 'deploy', 'prometheus', 'alerts.yml'), join(dir, 'alerts.yml'));
      const r = spawnSync('promtool', ['check', 'config', join(dir, 'prometheus.yml')], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stdout + r.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('docker compose config accepts the file', { skip: bin ? false : 'no compose binary (docker compose plugin or docker-compose) is installed' }, () => {
    const r = spawnSync(bin![0]!, [...bin!.slice(1), '-f', FILE, 'config', '-q'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    // and it rejects a broken one (the check can fail)
    const dir = mkdtempSync(join(tmpdir(), 'mrcnn-compose-'));
    try {
      const broken = join(dir, 'compose.yaml');
      writeFileSync(broken, readFileSync(FILE, 'utf8').replace('restart: unless-stopped', 'restart: [not, a, string]'));
      const bad = spawnSync(bin![0]!, [...bin!.slice(1), '-f', broken, 'config', '-q'], { encoding: 'utf8' });
      assert.notEqual(bad.status, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
