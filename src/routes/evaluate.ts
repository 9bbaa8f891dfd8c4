/**
 * @file ① POST /evaluate, two ways in:
 * - detections mode (`application/json`): `{ground_truth, detections, iou_types?, voc_mode?,
 *   voc_iou_thr?}` → src/evaluation `evaluateDetectionsInput` → `{images, losses: null, coco, voc, warnings}`;
 * - model mode (`multipart/form-data`): `image` files + `annotations` (COCO JSON, field or file) →
 *   src/evaluation `evaluateModelUpload` runs the default model on each image, computes the five
 *   losses (src/losses) and evaluates the model's own detections the same way.
 * Options come from the query string (or, in detections mode, the JSON fields, which win).
 * The request size limit is EVAL_BODY_LIMIT (JSON body, or all multipart parts together).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { performance } from 'node:perf_hooks';
import { evaluateDetectionsInput, evaluateModelUpload } from '../evaluation/evaluate.js';
import { roundedTimings, type EvaluationResponse } from '../evaluation/response.js';
import { summarizeEvaluation } from '../evaluation/summary.js';
import { detectionsModeBody, evaluateOptions, readEvaluateMultipart } from './evaluate-input.js';
import { errorResponses } from '../schemas/common.js';
import { modelRoute, type ModelParams, type ModelRouteOptions } from './model-target.js';
import { EvaluateBodySchema, EvaluateMultipartSchema, EvaluateQuerySchema, EvaluateResponseSchema, type EvaluateBody, type EvaluateQuery } from '../schemas/evaluate.js';

/** Registers POST /evaluate. */
export default async function evaluateRoutes(app: FastifyInstance, opts: ModelRouteOptions = {}): Promise<void> {
  const at = modelRoute(opts); // /evaluate, /models/:name/evaluate, /models/:name/versions/:version/evaluate
  const limit = app.config.evalBodyLimit;

  app.post<{ Querystring: EvaluateQuery; Body: EvaluateBody | undefined; Params: ModelParams }>('/evaluate', {
    config: { scope: 'evaluate' },
    bodyLimit: limit,
    schema: {
      tags: ['evaluation'],
      summary: 'COCO AP/AR, per-class VOC AP and (model mode) the five Mask R-CNN losses',
      description: 'Detections mode: `application/json` `{ground_truth, detections}` (no model run, `losses: null`). '
        + 'Model mode: `multipart/form-data` with one or more `image` files and `annotations` (COCO instances JSON, '
        + 'as a field or a file); files are matched to `images[].file_name`.',
      operationId: at.operationId('evaluate'),
      ...at.schema,
      querystring: EvaluateQuerySchema,
      // Per content type: JSON bodies are validated; multipart parts are streamed by the handler.
      body: { content: { 'application/json': { schema: EvaluateBodySchema }, 'multipart/form-data': { schema: EvaluateMultipartSchema } } },
      response: { 200: EvaluateResponseSchema, ...errorResponses(400, 404, 413, 415, 422, 500, 503) },
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

  async function handle(request: FastifyRequest<{ Querystring: EvaluateQuery; Body: EvaluateBody | undefined; Params: ModelParams }>): Promise<EvaluationResponse> {
    const t0 = performance.now();
    const entry = at.entry(app.models, request.params); // 404 for an unknown model before reading anything
    if (request.isMultipart()) {
      const lease = entry.acquire(); // held until answered: unloading the version waits for it
      const out = await readEvaluateMultipart(request, { totalLimit: limit, fileLimit: app.config.bodyLimit, maxImages: app.config.evalMaxImages })
        .then((upload) => evaluateModelUpload(lease.runtime, upload, evaluateOptions(request.query))).finally(() => lease.release());
      app.metrics.recordEvaluation(summarizeEvaluation(out.response));
      app.metrics.observeStage('evaluation', out.evalMs / 1000);
      if (out.response.losses) app.metrics.observeStage('losses', (out.response.timings_ms.losses ?? 0) / 1000);
      return { ...out.response, timings_ms: roundedTimings(out.response.timings_ms, performance.now() - t0) };
    }
    const body = detectionsModeBody(request);
    const out = await evaluateDetectionsInput(body.ground_truth, body.detections, evaluateOptions(request.query, body), {
      paths: { groundTruth: 'body.ground_truth', detections: 'body.detections' },
    });
    app.metrics.observeStage('evaluation', out.evalMs / 1000);
    app.metrics.recordEvaluation(summarizeEvaluation(out.response));
    return { ...out.response, timings_ms: roundedTimings(out.response.timings_ms, performance.now() - t0) };
  }
}
