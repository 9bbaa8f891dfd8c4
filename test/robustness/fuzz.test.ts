/**
 * @file Property-based fuzzing (fast-check) of the HTTP inputs and the pure cores:
 * - /predict query strings (with a corrupt image body, so accepted queries stop at decode: fast),
 *   and a few with a real image checking the answer honours them;
 * - /evaluate detections mode: JSON bodies of hostile COCO data and options, raw garbage bodies,
 *   query strings;
 * - src/eval: evaluateDetections on the same data (returns, or throws InputError — nothing else),
 *   the RLE codec (string round trip, decode∘encode = id, parse never throws, IoU in [0,1]);
 * - src/losses: validateGroundTruth (returns or InputError) and computeImageLosses with random
 *   logits/deltas over a real graph fixture (losses finite and >= 0, `loss` = their sum).
 * Every HTTP answer is 200 with finite JSON, or a 4xx in the error shape of docs/service.md#errors; never
 * a 5xx. Each run has a per-case timeout (a hang fails). FUZZ_RUNS=N sets the runs per property (default
 * 80 ≈ 600 cases; `npm run test:robustness` uses 2000 ≈ 15,000 cases).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { countsToString, decodeToRowMajor, encodeRowMajor, evaluateDetections, frPolygons, InputError, parseCountsString, rleIou } from '../../src/eval/index.js';
import { computeImageLosses, validateGroundTruth, type LossGraphOutputs } from '../../src/losses/index.js';
import { loadPipeline } from '../losses/helpers.js';
import { cocoCase, evalOptions, lossGroundTruth, queryOf, RUNS, SEED, toQuery } from './arbitraries.js';
import { assertError, fixtureImage, skipNoModel, startApp } from './helpers.js';
import { tinyDet, tinyGt } from './corpus.js';

const params = (runs: number, timeout = 20_000): fc.Parameters<unknown> => ({
  numRuns: runs, timeout, ...(SEED !== undefined ? { seed: SEED } : {}),
});
let cases = 0;
/** Status histogram per HTTP property label (printed at the end: how deep the inputs got). */
const hist: Record<string, Record<number, number>> = {};

/** 200 with only finite numbers, or a 4xx in the error shape. Returns the status. */
function checkAnswer(status: number, type: string | undefined, text: string, label: string): number {
  cases++;
  const h = (hist[label] ??= {});
  h[status] = (h[status] ?? 0) + 1;
  assert.ok(status < 500, `${label}: ${status} ${text.slice(0, 300)}`);
  if (status === 200) {
    JSON.parse(text, (_k, v: unknown) => {
      if (typeof v === 'number') assert.ok(Number.isFinite(v), `${label}: non-finite number in 200 body`);
      return v;
    });
  } else {
    assertError(status, type, text, { status: [400, 404, 413, 415, 422] }, label);
  }
  return status;
}

/** Runs `fn` expecting a normal return or an InputError; any other throw fails the property. */
function onlyInputError(fn: () => unknown): void {
  cases++;
  try {
    fn();
  } catch (err) {
    if (!(err instanceof InputError)) throw new Error(`threw ${(err as Error)?.name}: ${(err as Error)?.message}`, { cause: err });
    assert.equal(typeof err.path, 'string');
  }
}

describe('fuzz: HTTP inputs', { skip: skipNoModel }, () => {
  let app: FastifyInstance;
  const corrupt = fixtureImage().subarray(0, 64);
  before(async () => { ({ app } = await startApp()); });
  after(async () => { await app?.close(); });

  test('/predict query strings: 400 naming querystring.*, or accepted (then 422 at decode)', async () => {
    await fc.assert(fc.asyncProperty(queryOf(['score_threshold', 'max_detections', 'mask_format']), async (pairs) => {
      const r = await app.inject({ method: 'POST', url: `/predict?${toQuery(pairs)}`, headers: { 'content-type': 'image/png' }, payload: corrupt });
      const status = checkAnswer(r.statusCode, r.headers['content-type'] as string, r.body, 'predict query');
      const body = r.json() as { field: string };
      if (status === 400) assert.match(body.field, /^querystring\./);
      else assert.equal(status, 422);
    }), params(RUNS));
  });

  test('/predict with a real image and random valid options honours them', async () => {
    const png = fixtureImage('sq-320.png');
    const runs = Math.max(3, Math.round(RUNS / 40));
    await fc.assert(fc.asyncProperty(
      fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 1000 }), fc.constantFrom('rle', 'polygon', 'none'),
      async (thr, max, fmt) => {
        const r = await app.inject({ method: 'POST', url: `/predict?score_threshold=${thr}&max_detections=${max}&mask_format=${fmt}`, headers: { 'content-type': 'image/png' }, payload: png });
        checkAnswer(r.statusCode, r.headers['content-type'] as string, r.body, 'predict');
        const b = r.json() as { instances: Array<{ score: number; segmentation?: unknown }> };
        assert.ok(b.instances.length <= max);
        for (const i of b.instances) {
          assert.ok(i.score >= thr, `score ${i.score} < ${thr}`);
          if (fmt === 'none') assert.equal(i.segmentation, undefined);
        }
      }), params(runs, 60_000));
  });

  test('/evaluate detections mode: hostile COCO bodies', async () => {
    await fc.assert(fc.asyncProperty(cocoCase, evalOptions, async ({ gt, dets }, opts) => {
      const r = await app.inject({ method: 'POST', url: '/evaluate', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ ground_truth: gt, detections: dets, ...opts }) });
      checkAnswer(r.statusCode, r.headers['content-type'] as string, r.body, 'evaluate body');
    }), params(RUNS));
  });

  test('/evaluate: arbitrary JSON values and raw bytes as the body', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(fc.jsonValue().map((v) => JSON.stringify(v) ?? 'null'), fc.string({ maxLength: 200 }), fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1'))), async (text) => {
      const r = await app.inject({ method: 'POST', url: '/evaluate', headers: { 'content-type': 'application/json' }, payload: text });
      checkAnswer(r.statusCode, r.headers['content-type'] as string, r.body, 'evaluate raw');
    }), params(RUNS));
  });

  test('/evaluate query strings over a valid detections body', async () => {
    const payload = JSON.stringify({ ground_truth: tinyGt(), detections: [tinyDet()] });
    await fc.assert(fc.asyncProperty(queryOf(['iou_types', 'voc_mode', 'voc_iou_thr', 'loss_sampling']), async (pairs) => {
      const r = await app.inject({ method: 'POST', url: `/evaluate?${toQuery(pairs)}`, headers: { 'content-type': 'application/json' }, payload });
      const status = checkAnswer(r.statusCode, r.headers['content-type'] as string, r.body, 'evaluate query');
      if (status !== 200) assert.match((r.json() as { field: string }).field, /^(querystring\.|voc_iou_thr|iou_types|voc_mode)/);
    }), params(RUNS));
    const ready = await app.inject({ method: 'GET', url: '/health/ready' });
    assert.equal(ready.statusCode, 200);
  });
});

describe('fuzz: eval core', () => {
  test('evaluateDetections returns or throws InputError', () => {
    fc.assert(fc.property(cocoCase, evalOptions, ({ gt, dets }, o) => {
      onlyInputError(() => evaluateDetections({
        groundTruth: gt, detections: dets,
        ...(o.iou_types !== undefined ? { iouTypes: o.iou_types as Array<'bbox' | 'segm'> } : {}),
        ...(o.voc_mode !== undefined ? { vocMode: o.voc_mode as 'area' } : {}),
        ...(o.voc_iou_thr !== undefined ? { vocIouThr: o.voc_iou_thr as number } : {}),
      }));
    }), params(RUNS));
  });

  test('RLE codec: parse never throws; encode/string/parse/decode round-trip; IoU in [0, 1]', () => {
    const mask = fc.record({ h: fc.integer({ min: 1, max: 16 }), w: fc.integer({ min: 1, max: 16 }) })
      .chain(({ h, w }) => fc.tuple(fc.constant(h), fc.constant(w), fc.uint8Array({ minLength: h * w, maxLength: h * w, max: 1 }), fc.uint8Array({ minLength: h * w, maxLength: h * w, max: 1 })));
    fc.assert(fc.property(fc.string({ maxLength: 40 }), (s) => {
      cases++;
      const r = parseCountsString(s);
      assert.ok(typeof r === 'string' || r instanceof Uint32Array);
    }), params(RUNS));
    fc.assert(fc.property(mask, ([h, w, a, b]) => {
      cases++;
      const ca = encodeRowMajor(a, h, w);
      const parsed = parseCountsString(countsToString(ca));
      assert.ok(parsed instanceof Uint32Array, String(parsed));
      assert.deepEqual([...parsed], [...ca]);
      assert.deepEqual([...decodeToRowMajor(parsed, h, w)], [...a]);
      const iou = rleIou({ h, w, counts: ca }, { h, w, counts: encodeRowMajor(b, h, w) }, false);
      assert.ok(iou >= 0 && iou <= 1, `iou ${iou}`);
    }), params(RUNS));
    fc.assert(fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 }), fc.array(fc.array(fc.double({ min: -100, max: 140, noNaN: true }), { minLength: 6, maxLength: 16 }), { minLength: 1, maxLength: 3 }), (h, w, polys) => {
      cases++;
      const even = polys.map((p) => p.slice(0, p.length - (p.length % 2)));
      const rle = frPolygons(even, h, w);
      assert.equal([...rle.counts].reduce((s, c) => s + c, 0), h * w);
    }), params(RUNS));
  });
});

describe('fuzz: loss core', () => {
  test('validateGroundTruth returns G or throws InputError', () => {
    fc.assert(fc.property(lossGroundTruth, fc.integer({ min: 1, max: 6 }), (g, C) => {
      onlyInputError(() => validateGroundTruth({
        height: g.height, width: g.width, boxes: Float32Array.from(g.boxes), labels: Int32Array.from(g.labels), masks: g.masks,
      }, C));
    }), params(RUNS));
  });

  test('computeImageLosses over a real graph fixture with random logits: finite, >= 0, loss = sum', () => {
    const base = loadPipeline('a');
    const names = ['rpn_objectness', 'rpn_box_deltas', 'roi_class_logits', 'roi_box_deltas', 'mask_logits'] as const;
    const logit = fc.oneof(fc.float({ min: -50, max: 50, noNaN: true }), fc.constantFrom(-1e30, 1e30, 0, -0, 3.4e38, -3.4e38));
    fc.assert(fc.property(fc.constantFrom(...names), logit, fc.nat(), fc.integer({ min: 1, max: 64 }), fc.constantFrom('expected', 'all'), (name, value, start, stride, sampling) => {
      cases++;
      const out = { ...(base.out as unknown as Record<string, { data: Float32Array; dims: number[] }>) };
      const t = out[name]!;
      const data = Float32Array.from(t.data);
      for (let i = start % Math.max(1, data.length); i < data.length; i += stride) data[i] = value;
      out[name] = { ...t, data };
      const l = computeImageLosses(out as unknown as LossGraphOutputs, base.gt, base.c, sampling as 'all');
      const parts = [l.loss_objectness, l.loss_rpn_box_reg, l.loss_classifier, l.loss_box_reg, l.loss_mask];
      for (const p of parts) assert.ok(Number.isFinite(p) && p >= 0, `${name}=${value}: ${parts}`);
      assert.ok(Math.abs(l.loss - parts.reduce((a, b) => a + b, 0)) <= 1e-9 * Math.max(1, l.loss));
    }), params(Math.max(10, Math.round(RUNS / 2))));
  });

  test(`ran the planned number of cases (FUZZ_RUNS=${RUNS})`, () => {
    // 8 HTTP/core properties at RUNS, one at RUNS/2, one at RUNS/40 (the real-image one; its describe may skip).
    const planned = skipNoModel ? 6 * RUNS : 10 * RUNS;
    assert.ok(cases >= planned * 0.95, `${cases} cases, planned ≈ ${planned}`);
    console.log(`fuzz: ${cases} cases (FUZZ_RUNS=${RUNS}${SEED !== undefined ? `, seed ${SEED}` : ''}); statuses ${JSON.stringify(hist)}`);
  });
});
