/**
 * /metrics of the real app (buildApp + the shapes model): model info and readiness set at load,
 * route-pattern labels, an evaluation reflected in the quality gauges, `promtool check metrics`
 * on the scrape, and hostile category/file names posted to /evaluate (detections mode) creating
 * no new series. Skips only when the model file (or promtool, for that one test) is absent.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hasPromtool, parseSamples, promtoolCheckMetrics, seriesKeys } from '../metrics/exposition.js';
import { LOSS_NAMES } from '../../src/plugins/metrics.js';
import { detectionsPayload, modelClasses, modelModeForm, skipNoModel, startService, type Service } from './service.js';

describe('metrics of the real app', { skip: skipNoModel }, () => {
  let svc: Service;
  const classes = skipNoModel ? [] : modelClasses();
  const scrape = async (): Promise<string> => {
    const res = await svc.app.inject({ url: '/metrics' });
    assert.equal(res.statusCode, 200);
    return res.body;
  };
  const evaluate = async (payload: unknown): Promise<{ statusCode: number; body: string }> =>
    svc.app.inject({ method: 'POST', url: '/evaluate', payload: payload as Record<string, unknown> });

  before(async () => { svc = await startService(); });
  after(async () => { await svc?.close(); });

  test('model info, readiness and class count are set at model load', async () => {
    const text = await scrape();
    const samples = parseSamples(text);
    const info = samples.filter((s) => s.name === 'mrcnn_model_info');
    assert.equal(info.length, 1, 'exactly one model info series');
    assert.equal(info[0]!.value, 1);
    assert.equal(info[0]!.labels.name, 'shapes-maskrcnn');
    assert.equal(info[0]!.labels.execution_provider, 'cpu');
    assert.match(info[0]!.labels.onnxruntime_version ?? '', /^\d+\.\d+\.\d+/);
    assert.match(text, /^mrcnn_model_ready 1$/m);
    assert.match(text, new RegExp(`^mrcnn_model_classes ${classes.length}$`, 'm'));
  });

  test('HTTP series carry route patterns: /health/ready, /models, unmatched', async () => {
    await svc.app.inject({ url: '/health/ready' });
    await svc.app.inject({ url: '/no/such/route/with_user_text' });
    const text = await scrape();
    assert.match(text, /mrcnn_http_requests_total\{method="GET",route="\/health\/ready",status_class="2xx"\} \d/);
    assert.match(text, /mrcnn_http_requests_total\{method="GET",route="unmatched",status_class="4xx"\} \d/);
    assert.doesNotMatch(text, /with_user_text/);
  });

  test('a detections-mode evaluation sets AP and per-class gauges', async () => {
    const res = await evaluate({ ...detectionsPayload(classes), iou_types: 'bbox' });
    assert.equal(res.statusCode, 200, res.body);
    const body = JSON.parse(res.body) as { coco: { bbox: { stats: Array<number | null> } } };
    const text = await scrape();
    const ap = parseSamples(text).find((s) => s.name === 'mrcnn_eval_ap' && s.labels.iou_type === 'bbox' && s.labels.iou === '0.50:0.95');
    assert.ok(ap, 'mrcnn_eval_ap{iou_type="bbox",iou="0.50:0.95"} is exposed');
    assert.ok(Math.abs(ap.value - body.coco.bbox.stats[0]!) < 1e-9, `gauge ${ap.value} = response ${body.coco.bbox.stats[0]}`);
    const classLabels = parseSamples(text).filter((s) => s.name === 'mrcnn_eval_class_ap').map((s) => s.labels.class);
    assert.ok(classLabels.length > 0, 'some per-class AP series');
    for (const c of classLabels) assert.ok(classes.includes(c!), `class label ${c} is one of the model's classes`);
    assert.match(text, /^mrcnn_evaluations_total [1-9]/m);
    assert.match(text, /mrcnn_stage_duration_seconds_count\{stage="evaluation"\} [1-9]/);
  });

  test('a model-mode evaluation sets the loss gauges and the per-image loss histograms', async () => {
    const countOf = (text: string, loss: string): number =>
      parseSamples(text).find((s) => s.name === 'mrcnn_eval_image_loss_count' && s.labels.loss === loss)?.value ?? NaN;
    const before = await scrape();
    const { form, images } = modelModeForm(2);
    const res = await fetch(`${svc.baseUrl}/evaluate`, { method: 'POST', body: form });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    const body = JSON.parse(text) as { losses: { mean: Record<string, number> } | null };
    assert.ok(body.losses, 'the shapes model is loss-capable');
    const after = await scrape();
    for (const loss of LOSS_NAMES) {
      const g = parseSamples(after).find((s) => s.name === 'mrcnn_eval_loss' && s.labels.loss === loss);
      assert.ok(g, `mrcnn_eval_loss{loss="${loss}"}`);
      assert.ok(Math.abs(g.value - body.losses.mean[loss]!) < 1e-9, `${loss}: gauge ${g.value} = mean ${body.losses.mean[loss]}`);
      assert.equal(countOf(after, loss) - countOf(before, loss), images, `${loss}: one observation per image`);
    }
    assert.match(after, /mrcnn_stage_duration_seconds_count\{stage="inference"\} [1-9]/);
  });

  test('model mode records every pipeline stage (decode, preprocess, inference, postprocess, losses, evaluation)', async () => {
    const text = await scrape(); // after the model-mode evaluation above
    const unobserved = parseSamples(text)
      .filter((s) => s.name === 'mrcnn_stage_duration_seconds_count' && s.value === 0)
      .map((s) => s.labels.stage);
    // The timings come from src/evaluation/model-evaluation.ts / src/routes/evaluate.ts through
    // app.metrics.observeStage.
    assert.deepEqual(unobserved, [], `stages never observed: ${unobserved.join(', ')}`);
  });

  test('BAD INPUT - unknown category names and file names posted to /evaluate create no series', async () => {
    // Warm every series a normal evaluation and a scrape create, then snapshot.
    assert.equal((await evaluate({ ...detectionsPayload(classes), iou_types: 'bbox' })).statusCode, 200);
    await scrape();
    const before = seriesKeys(await scrape());

    const hostile = detectionsPayload(classes) as { ground_truth: { images: Array<{ file_name: string }>; categories: Array<{ id: number; name: string }> } };
    hostile.ground_truth.images.forEach((im, i) => { im.file_name = `zz_unique_file_${i}_${Date.now()}.png`; });
    hostile.ground_truth.categories.push({ id: 77, name: 'zz_never_a_label' });
    hostile.ground_truth.categories[2]!.name = 'zz_renamed_unknown_category';
    const res = await evaluate({ ...hostile, iou_types: 'bbox' });
    assert.equal(res.statusCode, 200, res.body);
    assert.match(res.body, /zz_renamed_unknown_category/, 'the response does name the category');

    const afterText = await scrape();
    const added = [...seriesKeys(afterText)].filter((k) => !before.has(k) && !/^(process_|nodejs_)/.test(k));
    assert.deepEqual(added, [], 'no new series');
    assert.doesNotMatch(afterText, /zz_|unicorn|passwd|evil_file/);
  });

  test('promtool check metrics accepts the scrape of the real app', { skip: hasPromtool() ? false : 'promtool not installed (apt-get install prometheus)' }, async () => {
    const { status, output } = promtoolCheckMetrics(await scrape());
    assert.equal(status, 0, output);
    assert.equal(output.trim(), '', `promtool lint findings:\n${output}`);
  });
});
