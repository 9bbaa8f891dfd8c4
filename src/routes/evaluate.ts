/**
 * @file ① POST /evaluate, two ways in:
 * - detections mode (`application/json`): `{ground_truth, detections, iou_types?, voc_mode?,
 *   voc_iou_thr?}` → src/eval `evaluateDetections` → `{images, losses: null, coco, voc, warnings}`;
 * - model mode (`multipart/form-data`): `image` files + `annotations` (COCO JSON, field or file) →
 *   src/pipeline/evaluate-model.ts runs the model on each image, computes the five losses
 *   (src/losses) and evaluates the model's own detections the same way.
 * Options come from the query string (or, in detections mode, the JSON fields, which win).
 * The request size limit is EVAL_BODY_LIMIT (JSON body, or all multipart parts together).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { performance } from 'node:perf_hooks';
import { Errors, withField } from '../errors.js';
import { evaluateDetections, type EvaluateDetectionsResult } from '../eval/index.js';
import { evaluateModel, type EvaluateOptions } from '../pipeline/evaluate-model.js';
import { readEvaluateMultipart } from './evaluate-upload.js';
import { errorResponses } from '../schemas/common.js';
import { EvaluateBodySchema, EvaluateMultipartSchema, EvaluateQuerySchema, EvaluateResponseSchema, type EvaluateBody, type EvaluateQuery } from '../schemas/evaluate.js';

/** `bbox,segm` / ['bbox'] → ['bbox', 'segm'] (undefined = the eval core's default). */
function iouTypes(v: string | string[] | undefined): Array<'bbox' | 'segm'> | undefined {
  if (v === undefined) return undefined;
  const list = (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  return list as Array<'bbox' | 'segm'>;
}

/** Options of one evaluation from the query string, overridden by JSON fields. */
function options(q: EvaluateQuery, body?: Partial<EvaluateBody>): EvaluateOptions {
  const types = iouTypes(body?.iou_types ?? q.iou_types);
  const vocMode = body?.voc_mode ?? q.voc_mode;
  const vocIouThr = body?.voc_iou_thr ?? q.voc_iou_thr;
  return {
    ...(types ? { iouTypes: types } : {}),
    ...(vocMode ? { vocMode } : {}),
    ...(vocIouThr !== undefined ? { vocIouThr } : {}),
    lossSampling: q.loss_sampling ?? 'expected',
  };
}

/** Records an evaluation in the metrics (never with request-derived label values). */
function record(app: FastifyInstance, r: EvaluateDetectionsResult, perImageLosses: Array<Record<string, number>>, mean: Record<string, number> | null): void {
  app.metrics.recordEvaluation({
    losses: mean,
    perImageLosses,
    cocoStats: {
      ...(r.coco.bbox ? { bbox: r.coco.bbox.stats } : {}),
      ...(r.coco.segm ? { segm: r.coco.segm.stats } : {}),
    },
    vocClasses: r.voc.classes.map((c) => ({ class: c.class, ap: c.ap, recall: c.recall })),
    images: r.counts.images,
    gtInstances: r.counts.gtInstances,
    detections: r.counts.detections,
  });
}

const round = (ms: number): number => Math.round(ms * 100) / 100;

/** Registers POST /evaluate. */
export default async function evaluateRoutes(app: FastifyInstance): Promise<void> {
  const limit = app.config.evalBodyLimit;

  app.post<{ Querystring: EvaluateQuery; Body: EvaluateBody | undefined }>('/evaluate', {
    bodyLimit: limit,
    schema: {
      tags: ['evaluation'],
      summary: 'COCO AP/AR, per-class VOC AP and (model mode) the five Mask R-CNN losses',
      description: 'Detections mode: `application/json` `{ground_truth, detections}` (no model run, `losses: null`). '
        + 'Model mode: `multipart/form-data` with one or more `image` files and `annotations` (COCO instances JSON, '
        + 'as a field or a file); files are matched to `images[].file_name`.',
      operationId: 'evaluate',
      querystring: EvaluateQuerySchema,
      // Per content type: JSON bodies are validated; multipart parts are streamed by the handler.
      body: { content: { 'application/json': { schema: EvaluateBodySchema }, 'multipart/form-data': { schema: EvaluateMultipartSchema } } },
      response: { 200: EvaluateResponseSchema, ...errorResponses(400, 413, 415, 422, 500, 503) },
    },
    preValidation: async (request) => {
      if (request.isMultipart()) request.body = {} as EvaluateBody;
    },
  }, async (request) => {
    app.metrics.inflight(1);
    try {
      return await handle(request);
    } finally {
      app.metrics.inflight(-1);
    }
  });

  async function handle(request: FastifyRequest<{ Querystring: EvaluateQuery; Body: EvaluateBody | undefined }>): Promise<unknown> {
    const t0 = performance.now();
    if (request.isMultipart()) {
      const upload = await readEvaluateMultipart(request, { totalLimit: limit, fileLimit: app.config.bodyLimit, maxImages: app.config.evalMaxImages });
      const out = await evaluateModel(app.model, upload, options(request.query));
      record(app, out.result, out.perImageLosses, out.meanLosses);
      app.metrics.observeStage('evaluation', out.evalMs / 1000);
      if (out.body.losses) app.metrics.observeStage('losses', (out.body.timings_ms.losses ?? 0) / 1000);
      const timings = Object.fromEntries(Object.entries(out.body.timings_ms).map(([k, v]) => [k, round(v)]));
      return { ...out.body, timings_ms: { ...timings, total: round(performance.now() - t0) } };
    }
    const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== '' && type !== 'application/json') {
      throw withField(new Errors.UNSUPPORTED_MEDIA_TYPE(`${type}: use application/json (detections mode) or multipart/form-data (model mode)`), 'headers.content-type');
    }
    const body = request.body;
    if (body === undefined || body === null) {
      throw withField(new Errors.EMPTY_BODY('send COCO JSON {ground_truth, detections} or multipart images + annotations'), 'body');
    }
    const opts = options(request.query, body);
    const t1 = performance.now();
    const result = evaluateDetections({
      groundTruth: body.ground_truth,
      detections: body.detections,
      ...(opts.iouTypes ? { iouTypes: opts.iouTypes } : {}),
      ...(opts.vocMode ? { vocMode: opts.vocMode } : {}),
      ...(opts.vocIouThr !== undefined ? { vocIouThr: opts.vocIouThr } : {}),
      paths: { groundTruth: 'body.ground_truth', detections: 'body.detections' },
    });
    const evalMs = performance.now() - t1;
    app.metrics.observeStage('evaluation', evalMs / 1000);
    record(app, result, [], null);
    return {
      images: result.counts.images,
      losses: null,
      coco: result.coco,
      voc: result.voc,
      warnings: result.warnings,
      counts: { images: result.counts.images, gt_instances: result.counts.gtInstances, detections: result.counts.detections },
      timings_ms: { evaluation: round(evalMs), total: round(performance.now() - t0) },
    };
  }
}

