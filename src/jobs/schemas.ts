/**
 * @file TypeBox schemas of the evaluation-job routes (/evaluations): the job view (status, progress,
 * ETA, error, result), the 202 answer, path parameters and the job-specific error responses, with
 * descriptions and examples for the OpenAPI document. The request bodies and the result block are
 * those of POST /evaluate (src/schemas/evaluate.ts).
 */
import { Type, type Static } from '@sinclair/typebox';
import { ErrorSchema } from '../schemas/common.js';
import { EvaluateResponseSchema } from '../schemas/evaluate.js';

const Status = Type.Union(['queued', 'running', 'done', 'failed', 'cancelled'].map((s) => Type.Literal(s)), {
  description: '`queued` → `running` → `done` | `failed` | `cancelled`',
});

export const JobParamsSchema = Type.Object({
  id: Type.String({ pattern: '^[0-9a-f-]{36}$', description: 'Job id (UUID) returned by POST /evaluations', examples: ['3f2b8c1e-7d4a-4e8b-9a51-0c6f2d9e1b7a'] }),
});
export type JobParams = Static<typeof JobParamsSchema>;

const Links = Type.Object({
  self: Type.String({ description: 'GET: status, progress, result' }),
  report: Type.String({ description: 'GET: HTML report (once done)' }),
  cancel: Type.String({ description: 'DELETE: cancel (or delete a finished job)' }),
});

const example = (id: string) => ({ self: `/evaluations/${id}`, report: `/evaluations/${id}/report`, cancel: `/evaluations/${id}` });
const ID = '3f2b8c1e-7d4a-4e8b-9a51-0c6f2d9e1b7a';

export const JobAcceptedSchema = Type.Object({
  id: Type.String(),
  status: Status,
  mode: Type.Union([Type.Literal('model'), Type.Literal('detections')]),
  links: Links,
}, { title: 'EvaluationJobAccepted', description: 'Job accepted; poll `links.self`', examples: [{ id: ID, status: 'queued', mode: 'model', links: example(ID) }] });

export const JobSchema = Type.Object({
  id: Type.String(),
  status: Status,
  mode: Type.Union([Type.Literal('model'), Type.Literal('detections')], { description: '`model`: images + annotations, the service runs the model; `detections`: GT + results JSON' }),
  created_at: Type.String({ format: 'date-time' }),
  started_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  finished_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'When a finished job (and its report) is forgotten (JOBS_TTL_SECONDS after it ended)' }),
  progress: Type.Object({
    phase: Type.Union(['queued', 'images', 'evaluation', 'report', 'finished'].map((s) => Type.Literal(s))),
    images_done: Type.Integer({ minimum: 0 }),
    images_total: Type.Integer({ minimum: 0 }),
    fraction: Type.Number({ minimum: 0, maximum: 1 }),
    eta_seconds: Type.Union([Type.Number({ minimum: 0 }), Type.Null()], { description: 'Mean time per image so far × images left; null before the first image' }),
  }),
  error: Type.Union([Type.Object({
    statusCode: Type.Integer(), code: Type.String({ examples: ['MRC_ERR_IMAGE_DECODE'] }), message: Type.String(), field: Type.Union([Type.String(), Type.Null()]),
  }, { description: 'Why the job failed (the common error shape)' }), Type.Null()]),
  result: Type.Union([EvaluateResponseSchema, Type.Null()], { description: 'When done: the POST /evaluate blocks computed over the whole set (one COCO accumulation over all images, mean losses)' }),
  links: Links,
}, {
  title: 'EvaluationJob',
  description: 'An evaluation job: status, progress and, once done, the result',
  examples: [{
    id: ID, status: 'running', mode: 'model', created_at: '2026-11-22T05:00:00.000Z', started_at: '2026-11-22T05:00:00.010Z',
    finished_at: null, expires_at: null,
    progress: { phase: 'images', images_done: 5, images_total: 13, fraction: 0.385, eta_seconds: 6.4 },
    error: null, result: null, links: example(ID),
  }],
});

const err = (statusCode: number, code: string, error: string, message: string, field: string | null, description: string) =>
  Type.Object(ErrorSchema.properties, { title: 'Error', additionalProperties: false, description, examples: [{ statusCode, code, error, message, field }] });

export const JobNotFoundSchema = err(404, 'MRC_ERR_JOB_NOT_FOUND', 'Not Found', `No evaluation job "${ID}" (unknown, deleted or expired)`, 'params.id', 'Unknown, deleted or expired job');
export const JobNotDoneSchema = err(409, 'MRC_ERR_JOB_NOT_DONE', 'Conflict', `Evaluation job "${ID}" is running: the report exists once it is done`, 'params.id', 'The job is not done (yet)');
export const TooManyJobsSchema = err(429, 'MRC_ERR_TOO_MANY_JOBS', 'Too Many Requests', 'Too many evaluation jobs: 9 jobs are queued or running (JOBS_MAX_CONCURRENT + JOBS_MAX_QUEUED); retry later', null, 'Every job slot is taken (see Retry-After)');
