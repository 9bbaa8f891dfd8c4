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
import { evaluateDetections, type EvaluateDetectionsResult } from '../eval/index.js';
import { evalCoreOptions, evaluateModel, evaluationResponse, roundedTimings } from '../pipeline/evaluate-model.js';
import { detectionsModeBody, evaluateOptions, readEvaluateMultipart } from './evaluate-input.js';
import { errorResponses } from '../schemas/common.js';
import { EvaluateBodySchema, EvaluateMultipartSchema, EvaluateQuerySchema, EvaluateResponseSchema, type EvaluateBody, type EvaluateQuery } from '../schemas/evaluate.js';

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
      const out = await evaluateModel(app.model, upload, evaluateOptions(request.query));
      record(app, out.result, out.perImageLosses, out.meanLosses);
      app.metrics.observeStage('evaluation', out.evalMs / 1000);
      if (out.body.losses) app.metrics.observeStage('losses', (out.body.timings_ms.losses ?? 0) / 1000);
      return { ...out.body, timings_ms: roundedTimings(out.body.timings_ms, performance.now() - t0) };
    }
    const body = detectionsModeBody(request);
    const opts = evaluateOptions(request.query, body);
    const t1 = performance.now();
    const result = evaluateDetections({
      groundTruth: body.ground_truth,
      detections: body.detections,
      ...evalCoreOptions(opts),
      paths: { groundTruth: 'body.ground_truth', detections: 'body.detections' },
    });
    const evalMs = performance.now() - t1;
    app.metrics.observeStage('evaluation', evalMs / 1000);
    record(app, result, [], null);
    return evaluationResponse({ images: result.counts.images, losses: null, result, timings: roundedTimings({ evaluation: evalMs }, performance.now() - t0) });
  }
}

