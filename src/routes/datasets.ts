/**
 * @file Golden datasets (docs/history.md#datasets), the HTTP edge of src/evaluation/datasets.ts:
 * - `POST /datasets` (multipart `name`, `image` files, `annotations`; optional `cron`, `model`,
 *   `version`, `auto`): checked like a model-mode POST /evaluations, stored once → 201;
 * - `GET /datasets` (paged), `GET /datasets/{id}`, `DELETE /datasets/{id}` (with its evaluations;
 *   409 while one of them is queued or running);
 * - `PUT /datasets/{id}/schedule` (cron, model, version, auto) and `PUT /datasets/{id}/baseline`.
 * Datasets belong to the token that created them: another token gets 404.
 */
import type { FastifyInstance } from 'fastify';
import { ownerOf } from '../auth/scopes.js';
import { createDataset, datasetView, pinBaseline, readDatasetUpload, requireDataset, updateSchedule } from '../evaluation/datasets.js';
import { DatasetBusy, DatasetNotFound } from '../evaluation/history-errors.js';
import { jobPartLimits } from '../jobs/upload.js';
import type { UploadPart } from '../evaluation/upload.js';
import { errorResponses } from '../schemas/common.js';
import {
  BaselineBodySchema, DatasetCreatedSchema, DatasetListQuerySchema, DatasetListSchema, DatasetMultipartSchema, DatasetParamsSchema, DatasetSchema,
  ScheduleBodySchema, type BaselineBody, type DatasetListQuery, type DatasetParams, type ScheduleBody,
} from '../schemas/history.js';
import { ErrorSchema } from '../schemas/common.js';
import { Type } from '@sinclair/typebox';

const err = (statusCode: number, code: string, error: string, message: string, field: string | null, description: string) =>
  Type.Object(ErrorSchema.properties, { title: 'Error', additionalProperties: false, description, examples: [{ statusCode, code, error, message, field }] });

const ID = '0b7f6d2a-1c3e-4f5a-8b9c-2d4e6f8a0b1c';
export const DatasetNotFoundSchema = err(404, 'MRC_ERR_DATASET_NOT_FOUND', 'Not Found', `No dataset "${ID}"`, 'params.id', 'Unknown dataset (or another owner\'s)');
const DatasetConflictSchema = err(409, 'MRC_ERR_DATASET_EXISTS', 'Conflict', 'A dataset named "golden" exists already: delete it first or choose another name', 'name',
  'Name taken (MRC_ERR_DATASET_EXISTS), DATASETS_MAX reached (MRC_ERR_TOO_MANY_DATASETS), or an evaluation of the dataset is queued or running (MRC_ERR_DATASET_BUSY, DELETE)');

/** Registers the /datasets routes. */
export default async function datasetsRoutes(app: FastifyInstance): Promise<void> {
  const cfg = app.config;
  const store = app.jobs.store;
  const clock = (): number => app.history.clock();
  const limits = {
    fileLimit: cfg.bodyLimit, jsonLimit: cfg.evalBodyLimit, maxImages: cfg.jobs.maxImages, maxUploadBytes: cfg.jobs.maxUploadBytes, tmpRoot: app.jobsTmpRoot,
  };

  app.post('/datasets', {
    config: { scope: 'evaluate' },
    bodyLimit: cfg.evalBodyLimit,
    schema: {
      tags: ['datasets'], operationId: 'createDataset',
      summary: 'Register a golden dataset (images + COCO annotations) to evaluate models on, again and again',
      description: 'Multipart: `name`, `image` files, `annotations` (checked exactly like a model-mode `POST /evaluations`: 4xx naming the part), '
        + 'optional `cron` (UTC), `model`, `version`, `auto`. The images are stored once; evaluations of the dataset read them from the store. '
        + 'Names are unique per owner; at most DATASETS_MAX datasets.',
      consumes: ['multipart/form-data'],
      body: { content: { 'multipart/form-data': { schema: DatasetMultipartSchema } } },
      response: { 201: DatasetCreatedSchema, ...errorResponses(400, 413, 415, 422), 409: DatasetConflictSchema, ...errorResponses(500, 503) },
    },
    preValidation: async (request) => {
      if (request.isMultipart()) request.body = {};
    },
  }, async (request, reply) => {
    if (!request.isMultipart()) {
      const e = Object.assign(new Error('POST /datasets takes multipart/form-data: `name`, `image` files and `annotations`'), { code: 'FST_INVALID_MULTIPART_CONTENT_TYPE', statusCode: 415 });
      throw e;
    }
    const partLimits = jobPartLimits(limits);
    const parts = request.parts({ limits: { ...partLimits, fields: partLimits.fields + 5, parts: partLimits.parts + 5 } }) as AsyncIterable<UploadPart>;
    const upload = await readDatasetUpload(parts, limits);
    const d = await createDataset(store, upload, ownerOf(request), clock(), cfg.datasetsMax);
    void app.history.refreshMetrics().catch(() => undefined);
    return reply.code(201).header('location', `/datasets/${d.id}`).send({ id: d.id, name: d.name, images: d.images, links: datasetView(d).links });
  });

  app.get<{ Querystring: DatasetListQuery }>('/datasets', {
    config: { scope: 'evaluate' },
    schema: {
      tags: ['datasets'], operationId: 'listDatasets', summary: 'The caller\'s datasets, newest first, with their counts and schedules',
      querystring: DatasetListQuerySchema,
      response: { 200: DatasetListSchema, ...errorResponses(400, 500, 503) },
    },
  }, async (request) => {
    const page = await store.listDatasets({ owner: ownerOf(request), limit: request.query.limit ?? 50, cursor: request.query.cursor ?? null });
    return { datasets: page.datasets.map(datasetView), next_cursor: page.nextCursor };
  });

  app.get<{ Params: DatasetParams }>('/datasets/:id', {
    config: { scope: 'evaluate' },
    schema: {
      tags: ['datasets'], operationId: 'getDataset', summary: 'One dataset: counts, categories, schedule, baseline',
      params: DatasetParamsSchema,
      response: { 200: DatasetSchema, 400: errorResponses(400)[400]!, 404: DatasetNotFoundSchema, ...errorResponses(500, 503) },
    },
  }, async (request) => datasetView(await requireDataset(store, request.params.id, ownerOf(request))));

  app.delete<{ Params: DatasetParams }>('/datasets/:id', {
    config: { scope: 'evaluate' },
    schema: {
      tags: ['datasets'], operationId: 'deleteDataset', summary: 'Delete a dataset with its images and its evaluations (history); answers the dataset as it was',
      description: 'Refused (409 MRC_ERR_DATASET_BUSY) while an evaluation of the dataset is queued or running: cancel it first. '
        + 'Its Prometheus series go at the next refresh.',
      params: DatasetParamsSchema,
      response: { 200: DatasetSchema, 400: errorResponses(400)[400]!, 404: DatasetNotFoundSchema, 409: DatasetConflictSchema, ...errorResponses(500, 503) },
    },
  }, async (request) => {
    const owner = ownerOf(request);
    const before = await requireDataset(store, request.params.id, owner);
    const outcome = await store.deleteDataset(before.id, owner);
    if (outcome === 'missing') throw new DatasetNotFound(request.params.id);
    if (outcome === 'busy') throw new DatasetBusy(request.params.id);
    void app.history.refreshMetrics().catch(() => undefined);
    return datasetView(before); // as it was
  });

  app.put<{ Params: DatasetParams; Body: ScheduleBody }>('/datasets/:id/schedule', {
    config: { scope: 'evaluate' },
    schema: {
      tags: ['datasets'], operationId: 'setDatasetSchedule',
      summary: 'Evaluate the dataset on a cron schedule (UTC) and/or when a model version is loaded or becomes the default',
      description: 'Fields left out keep their value; `cron: null` stops the timed runs. A firing happens once across restarts and replicas.',
      params: DatasetParamsSchema, body: ScheduleBodySchema,
      response: { 200: DatasetSchema, ...errorResponses(400), 404: DatasetNotFoundSchema, ...errorResponses(500, 503) },
    },
  }, async (request) => datasetView(await updateSchedule(store, request.params.id, ownerOf(request), request.body, clock())));

  app.put<{ Params: DatasetParams; Body: BaselineBody }>('/datasets/:id/baseline', {
    config: { scope: 'evaluate' },
    schema: {
      tags: ['datasets'], operationId: 'setDatasetBaseline',
      summary: 'Pin a done evaluation of the dataset as the baseline AP drops are measured against (null unpins)',
      params: DatasetParamsSchema, body: BaselineBodySchema,
      response: { 200: DatasetSchema, ...errorResponses(400), 404: DatasetNotFoundSchema, 409: err(409, 'MRC_ERR_JOB_NOT_DONE', 'Conflict', 'Evaluation "…" is running: only done evaluations can be used here', 'body.evaluation_id', 'The evaluation is not done'), ...errorResponses(500, 503) },
    },
  }, async (request) => datasetView(await pinBaseline(store, request.params.id, ownerOf(request), request.body.evaluation_id, clock())));
}
