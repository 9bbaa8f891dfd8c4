/**
 * @file Evaluation jobs over whole data sets (docs/jobs.md):
 * - `POST /evaluations` takes what POST /evaluate takes (model mode multipart: `image` files +
 *   `annotations`; detections mode JSON `{ground_truth, detections}`; the same query options),
 *   checks it, and answers 202 `{id, status, mode, links}` (Location header) — the work runs later;
 * - `GET /evaluations/{id}`: status, progress (images done/total, ETA), error, and when done the
 *   /evaluate blocks over the whole set;
 * - `DELETE /evaluations/{id}`: cancels (a running job stops before its next image) or deletes a
 *   finished job;
 * - `GET /evaluations/{id}/report`: the self-contained HTML report (src/report).
 * The store (src/jobs/store.ts) bounds running/queued/stored jobs and expires finished ones.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { withField } from '../errors.js';
import { loadGroundTruth, loadResults, WarningCollector } from '../eval/index.js';
import { loadJobsConfig, type JobsConfig } from '../jobs/config.js';
import { JobErrors } from '../jobs/errors.js';
import { prepareModelInput, runJob } from '../jobs/runner.js';
import { JobAcceptedSchema, JobNotDoneSchema, JobNotFoundSchema, JobParamsSchema, JobSchema, TooManyJobsSchema, type JobParams } from '../jobs/schemas.js';
import { JobStore, type Reservation } from '../jobs/store.js';
import type { Job } from '../jobs/types.js';
import { readJobMultipart } from '../jobs/upload.js';
import { reportData, ReportDataSchema } from '../report/data.js';
import { renderReport } from '../report/html.js';
import { errorResponses } from '../schemas/common.js';
import { EvaluateBodySchema, EvaluateMultipartSchema, EvaluateQuerySchema, type EvaluateBody, type EvaluateQuery } from '../schemas/evaluate.js';
import { detectionsModeBody, evaluateOptions } from './evaluate-input.js';
import { rm } from 'node:fs/promises';

/** Options of the plugin (tests override limits; the rest comes from JOBS_* variables). */
export interface EvaluationsPluginOptions {
  limits?: Partial<JobsConfig>;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Evaluation jobs (src/jobs/store.ts). */
    jobs: JobStore;
  }
}

const links = (id: string) => ({ self: `/evaluations/${id}`, report: `/evaluations/${id}/report`, cancel: `/evaluations/${id}` });
const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());

/** The JSON view of a job (GET /evaluations/{id}). */
export function jobView(job: Job, ttlMs: number): Record<string, unknown> {
  const { done, total, imageMs } = job.progress;
  const fraction = job.status === 'done' ? 1 : total > 0 ? Math.min(1, done / total) : 0;
  const eta = job.status === 'running' && done > 0 && total > done ? Math.round((imageMs / done) * (total - done) / 100) / 10 : job.status === 'running' && done >= total && total > 0 ? 0 : null;
  return {
    id: job.id, status: job.status, mode: job.mode,
    created_at: iso(job.createdAt), started_at: iso(job.startedAt), finished_at: iso(job.finishedAt),
    expires_at: job.finishedAt === null ? null : iso(job.finishedAt + ttlMs),
    progress: { phase: job.progress.phase, images_done: done, images_total: total, fraction: Math.round(fraction * 1000) / 1000, eta_seconds: eta },
    error: job.error, result: job.status === 'done' ? job.result : null, links: links(job.id),
  };
}

/** Registers /evaluations routes and the job store (closed with the app). */
export default async function evaluationsRoutes(app: FastifyInstance, opts: EvaluationsPluginOptions): Promise<void> {
  const limits = loadJobsConfig(app.config, process.env, opts.limits ?? {});
  const store = new JobStore(limits, (job) => runJob(job, { model: job.mode === 'model' ? app.model : null }), {
    counts: (c) => app.metrics.setJobCounts(c),
    finished: (job, seconds) => {
      app.metrics.jobFinished(job.status, seconds);
      const r = job.result as { coco?: Record<string, { stats: Array<number | null> } | undefined>; voc?: { classes: Array<{ class: string; ap: number; recall: number }> }; losses?: { mean: Record<string, number>; per_image: Array<Record<string, number>> } | null; counts?: { images: number; gt_instances: number; detections: number } } | null;
      if (job.status !== 'done' || !r?.coco || !r.voc || !r.counts) return;
      app.metrics.recordEvaluation({
        losses: r.losses?.mean ?? null, perImageLosses: r.losses?.per_image ?? [],
        cocoStats: { ...(r.coco.bbox ? { bbox: r.coco.bbox.stats } : {}), ...(r.coco.segm ? { segm: r.coco.segm.stats } : {}) },
        vocClasses: r.voc.classes, images: r.counts.images, gtInstances: r.counts.gt_instances, detections: r.counts.detections,
      });
    },
  });
  app.decorate('jobs', store);
  app.addHook('onClose', async () => store.close());

  const getJob = (id: string): Job => {
    const job = store.get(id);
    if (!job) throw withField(new JobErrors.JOB_NOT_FOUND(id), 'params.id');
    return job;
  };

  app.post<{ Querystring: EvaluateQuery; Body: EvaluateBody | undefined }>('/evaluations', {
    bodyLimit: limits.jsonLimit,
    schema: {
      tags: ['evaluation'],
      summary: 'Start an evaluation job over a whole data set (same inputs as POST /evaluate)',
      description: 'Answers 202 at once; poll `GET /evaluations/{id}` for progress and the result. Model mode: `multipart/form-data` '
        + 'with `image` files (streamed to a temp dir; BODY_LIMIT each, JOBS_MAX_IMAGES, JOBS_MAX_UPLOAD in all) and `annotations`. '
        + 'Detections mode: `application/json` `{ground_truth, detections}`. Inputs are checked before 202 (4xx with `field`).',
      operationId: 'createEvaluationJob',
      querystring: EvaluateQuerySchema,
      body: { content: { 'application/json': { schema: EvaluateBodySchema }, 'multipart/form-data': { schema: EvaluateMultipartSchema } } },
      response: { 202: JobAcceptedSchema, ...errorResponses(400, 413, 415, 422), 429: TooManyJobsSchema, ...errorResponses(500, 503) },
    },
    preValidation: async (request) => {
      if (request.isMultipart()) request.body = {} as EvaluateBody;
    },
  }, async (request, reply) => {
    const reservation = store.reserve();
    try {
      const job = request.isMultipart() ? await submitModel(request) : submitDetections(request, reservation);
      return await reply.code(202).header('location', `/evaluations/${job.id}`).send({ id: job.id, status: job.status, mode: job.mode, links: links(job.id) });
    } finally {
      reservation.release();
    }

    async function submitModel(req: FastifyRequest<{ Querystring: EvaluateQuery }>): Promise<Job> {
      app.model.require(); // 503 MODEL_NOT_READY before reading a large upload
      const upload = await readJobMultipart(req, limits);
      try {
        const prepared = prepareModelInput(upload.annotations, upload.images);
        return store.submit({ mode: 'model', ...prepared }, evaluateOptions(req.query), upload.tmpDir, reservation);
      } catch (err) {
        await rm(upload.tmpDir, { recursive: true, force: true });
        throw err;
      }
    }
  });

  function submitDetections(request: FastifyRequest<{ Querystring: EvaluateQuery; Body: EvaluateBody | undefined }>, reservation: Reservation): Job {
    const body = detectionsModeBody(request);
    // Fail fast on invalid GT / results (4xx with the JSON path); the job evaluates them again.
    const w = new WarningCollector();
    loadResults(loadGroundTruth(body.ground_truth, 'body.ground_truth', w), body.detections, 'body.detections', w);
    return store.submit({ mode: 'detections', groundTruth: body.ground_truth, detections: body.detections }, evaluateOptions(request.query, body), null, reservation);
  }

  app.get<{ Params: JobParams }>('/evaluations/:id', {
    schema: {
      tags: ['evaluation'], summary: 'Status, progress and (when done) the result of an evaluation job', operationId: 'getEvaluationJob',
      params: JobParamsSchema,
      response: { 200: JobSchema, 400: errorResponses(400)[400]!, 404: JobNotFoundSchema, ...errorResponses(500) },
    },
  }, async (request) => jobView(getJob(request.params.id), limits.ttlMs));

  app.delete<{ Params: JobParams }>('/evaluations/:id', {
    schema: {
      tags: ['evaluation'], summary: 'Cancel an evaluation job (or delete a finished one)', operationId: 'cancelEvaluationJob',
      description: 'A queued job is cancelled at once; a running job stops before its next image (status `cancelled` at once). '
        + 'A finished job is deleted (its result and report are gone). Answers the job as it is now.',
      params: JobParamsSchema,
      response: { 200: JobSchema, 400: errorResponses(400)[400]!, 404: JobNotFoundSchema, ...errorResponses(500) },
    },
  }, async (request) => {
    const job = store.cancel(request.params.id);
    if (!job) throw withField(new JobErrors.JOB_NOT_FOUND(request.params.id), 'params.id');
    return jobView(job, limits.ttlMs);
  });

  app.get<{ Params: JobParams }>('/evaluations/:id/report', {
    schema: {
      tags: ['evaluation'], summary: 'HTML report of a finished evaluation job', operationId: 'getEvaluationReport',
      description: 'Self-contained HTML (inline CSS and SVG, images as data: URIs): PR curves per class and IoU type, the per-class table, '
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
        400: errorResponses(400)[400]!, 404: JobNotFoundSchema, 409: JobNotDoneSchema, ...errorResponses(500),
      },
    },
  }, async (request, reply: FastifyReply) => {
    const job = getJob(request.params.id);
    if (job.status !== 'done' || !job.result) throw withField(new JobErrors.JOB_NOT_DONE(job.id, job.status), 'params.id');
    const accept = request.headers.accept ?? '';
    if (/\bapplication\/json\b/i.test(accept) && !/\btext\/html\b/i.test(accept)) return reply.type('application/json; charset=utf-8').send(reportData(job));
    return reply.type('text/html; charset=utf-8').send(renderReport(job));
  });
}
