/**
 * The Kubernetes manifests (deploy/k8s): every object validates against its Kubernetes JSON schema
 * (kubernetes-models for the built-in kinds, @kubernetes-models/prometheus-operator for the
 * ServiceMonitor), and they agree with the code: the container port is the PORT default, every
 * environment variable is one the configuration knows, the probes' paths are routes of the real app,
 * the selectors match the pod labels, and the metric the HPA scales on (through the prometheus-adapter
 * rule) is exposed by /metrics of a real app.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { parseAllDocuments } from 'yaml';
import { CONFIG_VARIABLES, loadConfig } from '../../src/config.js';
import { ROOT, skipNoModel, startApp } from '../robustness/helpers.js';

const DIR = join(ROOT, 'deploy', 'k8s');
type Obj = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; [k: string]: unknown } & Record<string, any>;

function load(file: string): Obj[] {
  return parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((d) => {
    assert.deepEqual(d.errors, [], `${file}: YAML errors`);
    return d.toJS() as Obj;
  }).filter(Boolean);
}

/** The schema-validating model class of an object's apiVersion/kind. */
async function modelOf(o: Obj): Promise<new (data: unknown) => { validate(): void }> {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  const path = group === 'monitoring.coreos.com'
    ? `@kubernetes-models/prometheus-operator/monitoring.coreos.com/${version}`
    : `kubernetes-models/${group ? `${group}/` : ''}${version}`;
  const mod = await import(path) as Record<string, new (data: unknown) => { validate(): void }>;
  const cls = mod[o.kind];
  assert.ok(cls, `no schema for ${o.apiVersion} ${o.kind}`);
  return cls;
}

const kustomization = load('kustomization.yaml')[0]!;
const objects = (kustomization.resources as string[]).flatMap((f) => load(f).map((o) => ({ file: f, o })));
const find = (kind: string): Obj => {
  const hit = objects.find(({ o }) => o.kind === kind);
  assert.ok(hit, `no ${kind}`);
  return hit.o;
};

describe('deploy/k8s', () => {
  test('kustomization lists every manifest of the folder (and only files that exist)', () => {
    const listed = new Set(kustomization.resources as string[]);
    for (const f of listed) assert.ok(existsSync(join(DIR, f)), f);
    const yamls = readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml' && f !== 'prometheus-adapter-rules.yaml');
    assert.deepEqual([...yamls].sort(), [...listed].sort());
  });

  test('every object validates against its Kubernetes schema', async () => {
    const kinds = objects.map(({ o }) => o.kind).sort();
    assert.deepEqual(kinds, ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'Namespace', 'PodDisruptionBudget', 'Secret', 'Service', 'ServiceMonitor']);
    for (const { file, o } of objects) {
      const Model = await modelOf(o);
      assert.doesNotThrow(() => new Model(o).validate(), `${file}: ${o.kind} ${o.metadata.name}`);
    }
  });

  test('the validation catches a broken object (a port that is not a number, a target type that is not a string)', async () => {
    const d = structuredClone(find('Deployment'));
    d.spec.template.spec.containers[0].ports[0].containerPort = 'eighty';
    const Model = await modelOf(d);
    assert.throws(() => new Model(d).validate());
    const h = structuredClone(find('HorizontalPodAutoscaler'));
    h.spec.metrics[0].external.target.type = 42;
    const Hpa = await modelOf(h);
    assert.throws(() => new Hpa(h).validate());
  });

  test('container port = the PORT default; Service, ServiceMonitor, PDB and HPA point at the Deployment', () => {
    const d = find('Deployment');
    const c = d.spec.template.spec.containers[0];
    assert.equal(c.ports[0].containerPort, loadConfig({}, [], ROOT).port);
    assert.equal(find('ConfigMap').data.PORT, String(c.ports[0].containerPort));
    const podLabels = d.spec.template.metadata.labels as Record<string, string>;
    const matches = (sel: Record<string, string>) => Object.entries(sel).every(([k, v]) => podLabels[k] === v);
    assert.ok(matches(d.spec.selector.matchLabels));
    const svc = find('Service');
    assert.ok(matches(svc.spec.selector));
    assert.equal(svc.spec.ports[0].targetPort, c.ports[0].name);
    assert.ok(matches(find('PodDisruptionBudget').spec.selector.matchLabels));
    const sm = find('ServiceMonitor');
    assert.ok(Object.entries(sm.spec.selector.matchLabels as Record<string, string>).every(([k, v]) => svc.metadata.labels?.[k] === v));
    assert.equal(sm.spec.endpoints[0].port, svc.spec.ports[0].name);
    const hpa = find('HorizontalPodAutoscaler');
    assert.equal(hpa.spec.scaleTargetRef.kind, 'Deployment');
    assert.equal(hpa.spec.scaleTargetRef.name, d.metadata.name);
    assert.ok(c.resources.limits['nvidia.com/gpu'] >= 1, 'a GPU per pod');
  });

  test('every environment variable is one the configuration knows', () => {
    const known = new Set<string>(CONFIG_VARIABLES);
    const d = find('Deployment');
    const c = d.spec.template.spec.containers[0];
    const names = [...Object.keys(find('ConfigMap').data), ...(c.env as Array<{ name: string }>).map((e) => e.name)];
    for (const n of names) assert.ok(known.has(n), `${n} is not a configuration variable (src/config.ts)`);
    // the Secret provides what the pod reads from it
    const secret = find('Secret');
    for (const e of c.env as Array<{ valueFrom?: { secretKeyRef?: { name: string; key: string } } }>) {
      const ref = e.valueFrom?.secretKeyRef;
      if (ref) assert.ok(ref.key in secret.stringData, ref.key);
    }
    assert.ok('tokens.json' in secret.stringData);
    assert.ok(Array.isArray(JSON.parse(secret.stringData['tokens.json'])));
    // the tokens file is mounted where TOKENS_FILE says
    const mount = (c.volumeMounts as Array<{ name: string; mountPath: string }>).find((m) => m.name === 'tokens')!;
    assert.equal(find('ConfigMap').data.TOKENS_FILE, `${mount.mountPath}/tokens.json`);
    // the configuration accepts these values
    assert.doesNotThrow(() => loadConfig({ ...find('ConfigMap').data, TOKENS_FILE: undefined, DATABASE_URL: secret.stringData.DATABASE_URL }, [], ROOT));
  });

  describe('against the real app', { skip: skipNoModel }, () => {
    let app: FastifyInstance;
    before(async () => {
      ({ app } = await startApp());
    });
    after(async () => {
      await app?.close();
    });

    test('the probes answer 200 on the app', async () => {
      const c = find('Deployment').spec.template.spec.containers[0];
      for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
        const path = c[probe].httpGet.path as string;
        const res = await app.inject({ method: 'GET', url: path });
        assert.equal(res.statusCode, 200, `${probe} ${path}: ${res.body}`);
      }
    });

    test('the HPA scales on a metric /metrics exposes (through the prometheus-adapter rule)', async () => {
      const hpa = find('HorizontalPodAutoscaler');
      const external = (hpa.spec.metrics as Array<{ type: string; external?: { metric: { name: string } } }>).find((m) => m.type === 'External')!;
      const rules = (parseAllDocuments(readFileSync(join(DIR, 'prometheus-adapter-rules.yaml'), 'utf8'))[0]!.toJS() as { rules: { external: Array<{ seriesQuery: string; name: { as: string }; metricsQuery: string }> } }).rules.external;
      const rule = rules.find((r) => r.name.as === external.external!.metric.name);
      assert.ok(rule, `an adapter rule serves ${external.external!.metric.name}`);
      const series = /^([a-z_:][a-z0-9_:]*)\{([^}]*)\}/.exec(rule.seriesQuery)!;
      const body = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      assert.match(body, new RegExp(`^# TYPE ${series[1]} gauge$`, 'm'));
      assert.match(body, new RegExp(`^${series[1]}\\{${series[2]!.replace(/"/g, '"')}\\} \\d+`, 'm'));
      assert.ok(rule.metricsQuery.includes(series[1]!));
    });
  });
});
