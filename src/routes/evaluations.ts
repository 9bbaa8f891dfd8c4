/**
 * @file Evaluation jobs over whole data sets (docs/jobs.md), the HTTP edge of src/jobs:
 * - `POST /evaluations` takes what POST /evaluate takes (model mode multipart: `image` files +
 *   `annotations`; detections mode JSON `{ground_truth, detections}`; the same query options),
 *   checks it, commits the job with its inputs to the store, and answers 202 `{id, status, mode,
 *   links}` (Location header) — the work runs later, and survives a restart;
 * - `GET /evaluations/{id}`: status, progress (images done/total, ETA), error, and when done the
 *   /evaluate blocks over the whole set;
 * - `DELETE /evaluations/{id}`: cancels (a running job stops before its next image) or deletes a
 *   finished job;
 * - `GET /evaluations/{id}/report`: the self-contained HTML report (src/report).
 * The job service (`app.jobs`, src/plugins/jobs.ts) bounds running/queued/stored jobs; its typed
 * errors become statuses in src/errors.ts.
 */
import { rm } from 'node:fs/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ownerOf } from '../auth/scopes.js';
import { Evaluation } from '../eval/index.js';
import { prepareModelInput } from '../evaluation/model-input.js';
import type { UploadPart } from '../evaluation/upload.js';
import { JobAcceptedSchema, JobNotDoneSchema, JobNotFoundSchema, JobParamsSchema, JobSchema, TooManyJobsSchema, type JobParams } from '../jobs/schemas.js';
import { detectionsTotal, type Reservation } from '../jobs/service.js';
import type { Job } from '../jobs/types.js';
import { jobPartLimits, readJobUpload } from '../jobs/upload.js';
import { jobLinks, jobView } from '../jobs/view.js';
import { reportData, ReportDataSchema } from '../report/data.js';
import { renderReport } from '../report/html.js';
import { errorResponses } from '../schemas/common.js';
import { EvaluateBodySchema, EvaluateMultipartSchema, EvaluateQuerySchema, type EvaluateBody, type EvaluateQuery } from '../schemas/evaluate.js';
import { detectionsModeBody, evaluateOptions } from './evaluate-input.js';
import { mergeTarget, modelRoute, type ModelParams, type ModelRouteOptions } from './model-target.js';
import { submitDatasetEvaluation } from '../evaluation/datasets.js';
import { DatasetEvaluationBodySchema, type DatasetEvaluationBody } from '../schemas/history.js';

/** Registers the /evaluations routes (the job service is `app.jobs`, src/plugins/jobs.ts). */
export default async function evaluationsRoutes(app: FastifyInstance, opts: ModelRouteOptions = {}): Promise<void> {
  const at = modelRoute(opts); // POST /evaluations, /models/:name/evaluations, /models/:name/versions/:version/evaluations
  const cfg = app.config;
  const service = app.jobs;
  const uploadLimits = {
    fileLimit: cfg.bodyLimit, jsonLimit: cfg.evalBodyLimit, maxImages: cfg.jobs.maxImages, maxUploadBytes: cfg.jobs.maxUploadBytes, tmpRoot: app.jobsTmpRoot,
  };

  app.post<{ Querystring: EvaluateQuery; Body: EvaluateBody | undefined; Params: ModelParams }>('/evaluations', {
    config: { scope: 'evaluate' },
    bodyLimit: cfg.evalBodyLimit,
    schema: {
      tags: ['evaluation'],
      summary: 'Start an evaluation job over a whole data set (same inputs as POST /evaluate)',
      description: 'Answers 202 at once; poll `GET /evaluations/{id}` for progress and the result. Model mode: `multipart/form-data` '
        + 'with `image` files (streamed to a temp dir; BODY_LIMIT each, JOBS_MAX_IMAGES, JOBS_MAX_UPLOAD in all) and `annotations`. '
        + 'Detections mode: `application/json` `{ground_truth, detections}`. Inputs are checked before 202 (4xx with `field`).',
      operationId: at.operationId('createEvaluationJob'),
      ...at.schema,
      querystring: EvaluateQuerySchema,
      body: {
        content: {
          // a registered dataset (`dataset_id`, docs/history.md) or detections mode
          'application/json': { schema: { if: { type: 'object', required: ['dataset_id'] }, then: DatasetEvaluationBodySchema, else: EvaluateBodySchema } },
          'multipart/form-data': { schema: EvaluateMultipartSchema },
        },
      },
      response: { 202: JobAcceptedSchema, ...errorResponses(400, 404, 413, 415, 422), 429: TooManyJobsSchema, ...errorResponses(500, 503) },
    },
    preValidation: async (request) => {
      if (request.isMultipart()) request.body = {} as EvaluateBody;
    },
  }, async (request, reply) => {
    const reservation = await service.reserve();
    try {
      const job = request.isMultipart() ? await submitModel(request, reservation)
        : isDatasetBody(request.body) ? await submitDataset(request.body, request.params, ownerOf(request), evaluateOptions(request.query), reservation)
          : await submitDetections(request, reservation);
      return await reply.code(202).header('location', `/evaluations/${job.id}`).send({ id: job.id, status: job.status, mode: job.mode, links: jobLinks(job.id) });
    } finally {
      reservation.release();
    }
  });

  async function submitModel(request: FastifyRequest<{ Querystring: EvaluateQuery }>, reservation: Reservation): Promise<Job> {
    // 404 / 503 MODEL_NOT_READY before reading a large upload; held until the job is stored (an unload waits)
    const lease = at.acquire(app.models, request.params);
    const model = lease.runtime;
    const parts = request.parts({ limits: jobPartLimits(uploadLimits) }) as AsyncIterable<UploadPart>;
    const upload = await readJobUpload(parts, uploadLimits).catch((err: unknown) => { lease.release(); throw err; });
    try {
      const prepared = prepareModelInput(upload.annotations, upload.images);
      return await service.submit({
        owner: ownerOf(request),
        mode: 'model', annotations: prepared.annotations, options: evaluateOptions(request.query), modelName: model.name, modelVersion: model.version,
        images: upload.images.map((f, k) => ({ index: k, fileName: f.fileName, field: f.field, path: f.path })),
      }, reservation);
    } finally {
      lease.release();
      // the images are in the store now (or the job was refused)
      await rm(upload.tmpDir, { recursive: true, force: true });
    }
  }

  /** An evaluation of a registered dataset: the model from the path, else the body, else the default. */
  async function submitDataset(body: DatasetEvaluationBody, params: ModelParams, owner: string | null, options: ReturnType<typeof evaluateOptions>, reservation: Reservation): Promise<Job> {
    const path = at.target(params);
    const t = mergeTarget(path, body);
    const fromPath = (key: 'name' | 'version'): boolean => path[key] !== undefined;
    const runtime = app.models.get(t.name, t.version, fromPath('name') ? 'params.name' : 'body.model', fromPath('version') ? 'params.version' : 'body.version').require();
    return submitDatasetEvaluation(service, {
      datasetId: body.dataset_id, owner, options, trigger: 'manual', reservation,
      model: { name: runtime.name, version: runtime.version, sha256: runtime.files.manifest.sha256 ?? null },
    });
  }

  async function submitDetections(request: FastifyRequest<{ Querystring: EvaluateQuery; Body: EvaluateBody | undefined }>, reservation: Reservation): Promise<Job> {
    const body = detectionsModeBody(request);
    // Fail fast on invalid GT / results (4xx with the JSON path); the job evaluates them again.
    Evaluation.open(body.ground_truth, { paths: { groundTruth: 'body.ground_truth', detections: 'body.detections' } }).loadResults(body.detections, { offset: 0 });
    return service.submit({
      owner: ownerOf(request),
      mode: 'detections', groundTruth: body.ground_truth, detections: body.detections, options: evaluateOptions(request.query, body), total: detectionsTotal(body.ground_truth),
    }, reservation);
  }

  if (opts.prefix) return; // the per-model registrations add only the POST

  app.get<{ Params: JobParams }>('/evaluations/:id', {
    config: { scope: 'evaluate' },
    schema: {
      tags: ['evaluation'], summary: 'Status, progress and (when done) the result of an evaluation job', operationId: 'getEvaluationJob',
      params: JobParamsSchema,
      response: { 200: JobSchema, 400: errorResponses(400)[400]!, 404: JobNotFoundSchema, ...errorResponses(500, 503) },
    },
  }, async (request) => jobView(await service.get(request.params.id, ownerOf(request))));

  app.delete<{ Params: JobParams }>('/evaluations/:id', {
    config: { scope: 'evaluate' },
    schema: {
      tags: ['evaluation'], summary: 'Cancel an evaluation job (or delete a finished one)', operationId: 'cancelEvaluationJob',
      description: 'A queued job is cancelled at once; a running job stops before its next image (status `cancelled` at once). '
        + 'A finished job is deleted (its result and report are gone). Answers the job as it is now.',
      params: JobParamsSchema,
      response: { 200: JobSchema, 400: errorResponses(400)[400]!, 404: JobNotFoundSchema, ...errorResponses(500, 503) },
    },
  }, async (request) => jobView(await service.cancel(request.params.id, ownerOf(request))));

  app.get<{ Params: JobParams }>('/evaluations/:id/report', {
    config: { scope: 'evaluate' },
    schema: {
      tags: ['evaluation'], summary: 'HTML report of a finished evaluation job', operationId: 'getEvaluationReport',
      description: 'Self-contained HTML that opens offline (inline CSS, Chart.js and the charts\' data inline, images as data: URIs): PR curves per class and IoU type, the per-class table, '
        + 'the 12 COCO lines, the losses with their diagnosis, and overlays of the worst images (model mode).',
      params: JobParamsSchema,
      response: {
        200: {
          description: 'The report: HTML by default; its data (PR curves, diagnosis, overlays) with `Accept: application/json`',
          content: {
            'text/html': { schema: { type: 'string', contentMediaType: 'text/html', description: 'Self-contained HTML page' } },
            'application/json': { schema: ReportDataSchema },
          },
        },
        400: errorResponses(400)[400]!, 404: JobNotFoundSchema, 409: JobNotDoneSchema, ...errorResponses(500, 503),
      },
    },
  }, async (request, reply: FastifyReply) => {
    const { job, report } = await service.report(request.params.id, ownerOf(request));
    const accept = request.headers.accept ?? '';
    if (/\bapplication\/json\b/i.test(accept) && !/\btext\/html\b/i.test(accept)) return reply.type('application/json; charset=utf-8').send(reportData(job, report));
    return reply.type('text/html; charset=utf-8').send(renderReport(job, report));
  });
}

/** A JSON body naming a registered dataset (validated by the route's schema). */
function isDatasetBody(body: unknown): body is DatasetEvaluationBody {
  return body !== null && typeof body === 'object' && 'dataset_id' in body;
}
