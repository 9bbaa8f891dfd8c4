/**
 * The metrics plugin on a bare Fastify instance (no model needed): naming, route-pattern labels,
 * bounded label values, evaluation gauges, one registry per app, hidden from OpenAPI, and the
 * scrape passing `promtool check metrics` (skipped only if promtool is not installed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import metricsPlugin, { type EvaluationSummary, LOSS_NAMES, STAGES } from '../../src/plugins/metrics.js';
import swaggerPlugin from '../../src/plugins/swagger.js';
import { hasPromtool, metricTypes, parseSamples, promtoolCheckMetrics, seriesKeys } from './exposition.js';

async function build(t: { after(fn: () => Promise<unknown>): void }): Promise<FastifyInstance> {
  const app = Fastify();
  await app.register(swaggerPlugin, { ui: false });
  await app.register(metricsPlugin);
  app.get('/items/:id', async (req) => ({ id: (req.params as { id: string }).id }));
  app.get('/boom', async () => { throw new Error('boom'); });
  await app.ready();
  t.after(() => app.close());
  return app;
}

const scrape = async (app: FastifyInstance): Promise<string> => (await app.inject({ url: '/metrics' })).body;

const summary = (over: Partial<EvaluationSummary> = {}): EvaluationSummary => ({
  losses: { loss_objectness: 0.1, loss_rpn_box_reg: 0.05, loss_classifier: 0.2, loss_box_reg: 0.15, loss_mask: 0.3, loss: 0.8 },
  perImageLosses: [
    { loss_objectness: 0.1, loss_rpn_box_reg: 0.05, loss_classifier: 0.2, loss_box_reg: 0.15, loss_mask: 0.3, loss: 0.8 },
  ],
  cocoStats: { bbox: [0.5, 0.8, 0.6, 0, 0, 0, 0, 0, 0, 0, 0, 0], segm: [0.4, 0.7, null, 0, 0, 0, 0, 0, 0, 0, 0, 0] },
  vocClasses: [{ class: 'square', ap: 0.9, recall: 0.95 }],
  images: 2, gtInstances: 7, detections: 9,
  ...over,
});

test('GET /metrics serves the Prometheus text format with our families and the process defaults', async (t) => {
  const app = await build(t);
  const res = await app.inject({ url: '/metrics' });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  const types = metricTypes(res.body);
  assert.equal(types.get('mrcnn_http_requests_total'), 'counter');
  assert.equal(types.get('mrcnn_http_request_duration_seconds'), 'histogram');
  assert.equal(types.get('mrcnn_stage_duration_seconds'), 'histogram');
  assert.equal(types.get('mrcnn_queue_depth'), 'gauge');
  assert.equal(types.get('mrcnn_model_ready'), 'gauge');
  assert.equal(types.get('process_cpu_seconds_total'), 'counter');
  for (const stage of STAGES) assert.match(res.body, new RegExp(`mrcnn_stage_duration_seconds_count\\{stage="${stage}"\\} 0`));
  assert.match(res.body, /mrcnn_rejected_requests_total\{reason="queue_full"\} 0/);
  assert.match(res.body, /mrcnn_build_info\{version="\d+\.\d+\.\d+[^"]*",revision="unknown",node_version="v\d+/);
  for (const name of types.keys()) assert.match(name, /^(mrcnn_|process_|nodejs_)/);
});

test('HTTP metrics use the route pattern and status class, never the raw URL', async (t) => {
  const app = await build(t);
  await app.inject({ url: '/items/secret-file-name.png' });
  await app.inject({ url: '/items/42' });
  await app.inject({ url: '/does/not/exist/evil_label' });
  await app.inject({ url: '/boom' });
  const text = await scrape(app);
  assert.match(text, /mrcnn_http_requests_total\{method="GET",route="\/items\/:id",status_class="2xx"\} 2/);
  assert.match(text, /mrcnn_http_requests_total\{method="GET",route="unmatched",status_class="4xx"\} 1/);
  assert.match(text, /mrcnn_http_requests_total\{method="GET",route="\/boom",status_class="5xx"\} 1/);
  assert.match(text, /mrcnn_http_request_duration_seconds_bucket\{le="60",method="GET",route="\/items\/:id",status_class="2xx"\} 2/);
  assert.doesNotMatch(text, /secret-file-name|evil_label|\/items\/42/);
});

test('pipeline recorders: stages, queue depth, in-flight, rejected, model info and readiness', async (t) => {
  const app = await build(t);
  app.metrics.observeStage('inference', 0.05);
  app.metrics.observeStage('evaluation', 61);
  app.metrics.observeStage('nonsense' as never, 1); // not a stage: ignored, no new series
  app.metrics.queueDepth(3);
  app.metrics.inflight(1); app.metrics.inflight(1); app.metrics.inflight(-1);
  app.metrics.rejected('queue_full');
  app.metrics.setModelInfo({ name: 'shapes-maskrcnn', version: '1.0.0', provider: 'cpu', ortVersion: '1.30.0' });
  app.metrics.setModelInfo({ name: 'shapes-maskrcnn', version: '1.0.1', provider: 'cpu', ortVersion: '1.30.0' });
  app.metrics.setModelReady(true);
  const text = await scrape(app);
  assert.match(text, /mrcnn_stage_duration_seconds_bucket\{le="0\.05",stage="inference"\} 1/);
  assert.match(text, /mrcnn_stage_duration_seconds_bucket\{le="60",stage="evaluation"\} 0/);
  assert.match(text, /mrcnn_stage_duration_seconds_bucket\{le="120",stage="evaluation"\} 1/);
  assert.doesNotMatch(text, /nonsense/);
  assert.match(text, /^mrcnn_queue_depth 3$/m);
  assert.match(text, /^mrcnn_inflight_requests 1$/m);
  assert.match(text, /mrcnn_rejected_requests_total\{reason="queue_full"\} 1/);
  const info = parseSamples(text).filter((s) => s.name === 'mrcnn_model_info');
  assert.deepEqual(info.map((s) => s.labels), [
    { name: 'shapes-maskrcnn', version: '1.0.1', execution_provider: 'cpu', onnxruntime_version: '1.30.0' },
  ]); // replaced, not accumulated
  assert.match(text, /^mrcnn_model_ready 1$/m);
});

test('evaluation: losses, loss histograms, COCO AP, per-class AP/recall, counters', async (t) => {
  const app = await build(t);
  app.metrics.setClasses(['square', 'circle', 'triangle']);
  app.metrics.recordEvaluation(summary());
  const text = await scrape(app);
  for (const loss of LOSS_NAMES) {
    assert.match(text, new RegExp(`mrcnn_eval_loss\\{loss="${loss}"\\} `));
    assert.match(text, new RegExp(`mrcnn_eval_image_loss_count\\{loss="${loss}"\\} 1`));
  }
  assert.match(text, /mrcnn_eval_loss\{loss="loss"\} 0\.8/);
  assert.match(text, /mrcnn_eval_ap\{iou_type="bbox",iou="0\.50:0\.95"\} 0\.5/);
  assert.match(text, /mrcnn_eval_ap\{iou_type="segm",iou="0\.50"\} 0\.7/);
  assert.doesNotMatch(text, /mrcnn_eval_ap\{iou_type="segm",iou="0\.75"\}/); // null (-1): no value, not 0
  assert.match(text, /mrcnn_eval_class_ap\{class="square"\} 0\.9/);
  assert.match(text, /mrcnn_eval_class_recall\{class="square"\} 0\.95/);
  assert.match(text, /^mrcnn_eval_images_total 2$/m);
  assert.match(text, /^mrcnn_eval_gt_instances_total 7$/m);
  assert.match(text, /^mrcnn_eval_detections_total 9$/m);
  assert.match(text, /^mrcnn_evaluations_total 1$/m);
  assert.match(text, /^mrcnn_model_classes 3$/m);
});

test('BAD INPUT - unknown category names, file names and loss keys never create series', async (t) => {
  const app = await build(t);
  app.metrics.setClasses(['square', 'circle', 'triangle']);
  app.metrics.recordEvaluation(summary());
  await scrape(app); // the first scrape creates the GET /metrics request series
  const before = seriesKeys(await scrape(app));
  app.metrics.recordEvaluation(summary({
    losses: { loss: 1, 'evil"}label': 3, loss_mask: 0.5 },
    perImageLosses: [{ file_name_pwned_png: 1, loss: 1 }],
    vocClasses: [
      { class: 'square', ap: 0.1, recall: 0.2 },
      { class: 'unicorn-from-user-json', ap: 1, recall: 1 },
      { class: '../../etc/passwd.png', ap: 1, recall: 1 },
    ],
  }));
  const afterText = await scrape(app);
  const after = seriesKeys(afterText);
  const added = [...after].filter((k) => !before.has(k) && !/^(process_|nodejs_)/.test(k));
  assert.deepEqual(added, []);
  assert.doesNotMatch(afterText, /unicorn|passwd|pwned|evil/);
  assert.match(afterText, /mrcnn_eval_class_ap\{class="square"\} 0\.1/);
});

test('a category the latest evaluation lacks drops out of the per-class gauges', async (t) => {
  const app = await build(t);
  app.metrics.setModelInfo({ name: 'm', version: '1', provider: 'cpu', ortVersion: '1', classes: ['square', 'circle'] });
  app.metrics.recordEvaluation(summary({ vocClasses: [{ class: 'square', ap: 0.9, recall: 1 }, { class: 'circle', ap: 0.4, recall: 0.5 }] }));
  app.metrics.recordEvaluation(summary({ losses: null, vocClasses: [{ class: 'circle', ap: 0.6, recall: 0.7 }] }));
  const text = await scrape(app);
  assert.doesNotMatch(text, /class="square"/);
  assert.match(text, /mrcnn_eval_class_ap\{class="circle"\} 0\.6/);
  assert.match(text, /mrcnn_eval_loss\{loss="loss"\} 0\.8/); // a loss-less (detections mode) run keeps the last losses
});

test('one registry per app: two apps side by side do not share or clash', async (t) => {
  const a = await build(t);
  const b = await build(t);
  a.metrics.queueDepth(5);
  b.metrics.queueDepth(1);
  assert.match(await scrape(a), /^mrcnn_queue_depth 5$/m);
  assert.match(await scrape(b), /^mrcnn_queue_depth 1$/m);
  assert.notEqual(a.metrics.registry, b.metrics.registry);
});

test('GET /metrics is hidden from the OpenAPI document', async (t) => {
  const app = await build(t);
  const doc = app.swagger() as { paths?: Record<string, unknown> };
  assert.ok(doc.paths?.['/items/{id}'], 'a normal route is documented');
  assert.equal(doc.paths?.['/metrics'], undefined);
});

test('promtool check metrics accepts the scrape', { skip: hasPromtool() ? false : 'promtool not installed (apt-get install prometheus)' }, async (t) => {
  const app = await build(t);
  app.metrics.setClasses(['square']);
  app.metrics.recordEvaluation(summary());
  app.metrics.observeStage('decode', 0.002);
  await app.inject({ url: '/items/1' });
  const { status, output } = promtoolCheckMetrics(await scrape(app));
  assert.equal(status, 0, output);
  assert.equal(output.trim(), '', `promtool lint findings:\n${output}`);
});

test('mrcnn_heap_live_bytes: 0 before a major GC, then the heap used right after one', async (t) => {
  const app = await build(t);
  const value = async (): Promise<number> => parseSamples(await scrape(app)).find((s) => s.name === 'mrcnn_heap_live_bytes')!.value;
  const { setFlagsFromString } = await import('node:v8');
  const { runInNewContext } = await import('node:vm');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const before = await value();
  gc(); // a full, major GC
  await new Promise((r) => setTimeout(r, 50)); // gc performance entries are delivered asynchronously
  const after = await value();
  assert.ok(after > 1e6 && after < 2e9, `live heap ${after} bytes`);
  assert.ok(before === 0 || before !== after, 'the value changes when a major GC happens');
  assert.equal(metricTypes(await scrape(app)).get('mrcnn_heap_live_bytes'), 'gauge');
});
