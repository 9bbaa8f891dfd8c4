/**
 * @file The history of evaluations (docs/history.md), the HTTP edge of src/evaluation/history.ts and
 * compare.ts:
 * - `GET /evaluations?model=&version=&dataset_id=&status=&since=&until=&limit=&cursor=`: the caller's
 *   evaluations newest first, each with its summary (losses, box/mask AP, times, model, dataset);
 * - `GET /evaluations/series?dataset_id=&model=&version=&limit=`: a dataset's done evaluations oldest
 *   first with per-class AP, and the diagnosis over time;
 * - `GET /evaluations/{id}/compare/{other_id}?resamples=&seed=&confidence=&curves=`: the paired
 *   bootstrap comparison of two evaluations of the same dataset.
 */
import type { FastifyInstance } from 'fastify';
import { ownerOf } from '../auth/scopes.js';
import { compareEvaluations } from '../evaluation/compare.js';
import { evaluationSeries, listEvaluations } from '../evaluation/history.js';
import { JobNotFoundSchema } from '../jobs/schemas.js';
import { errorResponses, ErrorSchema } from '../schemas/common.js';
import {
  CompareParamsSchema, CompareQuerySchema, ComparisonSchema, HistoryQuerySchema, HistorySchema, SeriesQuerySchema, SeriesSchema,
  type CompareParams, type CompareQuery, type HistoryQuery, type SeriesQuery,
} from '../schemas/history.js';
import { DatasetNotFoundSchema } from './datasets.js';
import { Type } from '@sinclair/typebox';

const NotComparableSchema = Type.Object(ErrorSchema.properties, {
  title: 'Error', additionalProperties: false, description: 'Not of the same dataset, not dataset evaluations (MRC_ERR_NOT_COMPARABLE), or not done (MRC_ERR_JOB_NOT_DONE)',
  examples: [{ statusCode: 409, code: 'MRC_ERR_NOT_COMPARABLE', error: 'Conflict', message: 'Evaluations "…" and "…" are of different datasets: only evaluations of the same dataset can be compared', field: 'params.other_id' }],
});

/** Registers the history routes. */
export default async function historyRoutes(app: FastifyInstance): Promise<void> {
  const store = app.jobs.store;
  const clock = (): number => app.history.clock();
  /** Evaluations record the manifest name; a served model's folder name is accepted for it too. */
  const modelName = <Q extends { model?: string }>(q: Q): Q => {
    if (q.model === undefined) return q;
    const names = new Set(app.models.list().filter((e) => e.model === q.model && e.runtime).map((e) => e.name));
    return names.size === 1 ? { ...q, model: [...names][0]! } : q;
  };

  app.get<{ Querystring: HistoryQuery }>('/evaluations', {
    config: { scope: 'evaluate' },
    schema: {
      tags: ['history'], operationId: 'listEvaluations',
      summary: 'The history of evaluations, newest first, each with its summary (losses, box and mask AP, times, model, dataset)',
      description: 'Only the caller\'s evaluations. Dataset evaluations are kept for good; uploaded ones until they expire. '
        + 'Page with `next_cursor`.',
      querystring: HistoryQuerySchema,
      response: { 200: HistorySchema, ...errorResponses(400, 500, 503) },
    },
  }, async (request) => listEvaluations(store, ownerOf(request), modelName(request.query), clock()));

  app.get<{ Querystring: SeriesQuery }>('/evaluations/series', {
    config: { scope: 'evaluate' },
    schema: {
      tags: ['history'], operationId: 'getEvaluationSeries',
      summary: 'Losses, box/mask AP and per-class AP over time for a dataset (and model), with the diagnosis over time',
      querystring: SeriesQuerySchema,
      response: { 200: SeriesSchema, ...errorResponses(400), 404: DatasetNotFoundSchema, ...errorResponses(500, 503) },
    },
  }, async (request) => evaluationSeries(store, ownerOf(request), modelName(request.query), clock()));

  app.get<{ Params: CompareParams; Querystring: CompareQuery }>('/evaluations/:id/compare/:other_id', {
    config: { scope: 'evaluate' },
    schema: {
      tags: ['history'], operationId: 'compareEvaluations',
      summary: 'Compare two evaluations of the same dataset: AP and loss deltas with 95% paired-bootstrap intervals over images, PR curves, verdicts',
      description: 'Deltas are `other − base`. The same resamples of image indices (seeded: same `seed`, same intervals) are applied to both '
        + 'evaluations, from the per-image records they kept (the model is not run again). A verdict is `better`/`worse` when the interval '
        + 'excludes 0 on that side, else `no_evidence`.',
      params: CompareParamsSchema, querystring: CompareQuerySchema,
      response: { 200: ComparisonSchema, ...errorResponses(400), 404: JobNotFoundSchema, 409: NotComparableSchema, ...errorResponses(500, 503) },
    },
  }, async (request) => compareEvaluations(store, request.params.id, request.params.other_id, {
    owner: ownerOf(request), now: clock(),
    ...(request.query.resamples !== undefined ? { resamples: request.query.resamples } : {}),
    ...(request.query.seed !== undefined ? { seed: request.query.seed } : {}),
    ...(request.query.confidence !== undefined ? { confidence: request.query.confidence } : {}),
    ...(request.query.curves !== undefined ? { curves: request.query.curves } : {}),
  }));
}
