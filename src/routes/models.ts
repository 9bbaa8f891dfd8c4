/**
 * @file The models and their versions (docs/models.md):
 * - `GET /models`, `GET /models/{name}`, `GET /models/{name}/versions/{version}` (scope
 *   `inference`): every loaded version with its state, default flags, classes, provider, workers
 *   and budget share; the metadata fields of a loaded version (name, version, classes,
 *   execution_provider, inputs/outputs, format, losses_available, …) are those of one model before;
 * - management (scope `manage`): `POST /models` loads a version from the repository (202 while it
 *   loads and warms up), `DELETE /models/{name}/versions/{version}` unloads one after the requests
 *   holding it (202), `PUT /models/{name}/default` sets a model's default version.
 * Thin: parse → src/models/service.ts → reply.
 */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { ownerOf } from '../auth/scopes.js';
import { CanaryRefusedError } from '../models/canary.js';
import { errorResponses } from '../schemas/common.js';
import {
  CanaryFailedSchema, CanaryRefusedSchema, LoadModelBodySchema, ModelConflictOrBudgetSchema, ModelConflictSchema, ModelDetailSchema, ModelInvalidSchema,
  ModelsResponseSchema, ModelVersionSchema, SetDefaultBodySchema, SetDefaultResponseSchema,
} from '../schemas/model.js';

const NAME = Type.String({ maxLength: 200, description: 'The model: its folder under MODEL_DIR (e.g. shapes) or its manifest `name` (e.g. shapes-maskrcnn)' });
const VERSION = Type.String({ maxLength: 200, description: 'The version (e.g. 1.1.0)' });

/** Registers the model routes. */
export default async function modelsRoutes(app: FastifyInstance): Promise<void> {
  const service = app.modelService;

  app.get('/models', {
    config: { scope: 'inference' },
    schema: {
      tags: ['models'],
      operationId: 'listModels',
      summary: 'Every loaded model version, its state and how it runs',
      response: { 200: ModelsResponseSchema, ...errorResponses(500) },
    },
  }, async () => ({ models: service.list(), default_model: app.models.defaultModel, budget: service.usage() }));

  app.get<{ Params: { name: string } }>('/models/:name', {
    config: { scope: 'inference' },
    schema: {
      tags: ['models'],
      operationId: 'getModel',
      summary: 'One model: its default version\'s metadata and all its versions',
      params: Type.Object({ name: NAME }),
      response: { 200: ModelDetailSchema, ...errorResponses(404, 500) },
    },
  }, async (request) => service.model(request.params.name));

  app.get<{ Params: { name: string; version: string } }>('/models/:name/versions/:version', {
    config: { scope: 'inference' },
    schema: {
      tags: ['models'],
      operationId: 'getModelVersion',
      summary: 'One model version and its state',
      params: Type.Object({ name: NAME, version: VERSION }),
      response: { 200: ModelVersionSchema, ...errorResponses(404, 500) },
    },
  }, async (request) => service.view(app.models.get(request.params.name, request.params.version, 'params.name', 'params.version')));

  app.post<{ Body: { name: string; version?: string; workers?: number; intra_op_threads?: number } }>('/models', {
    config: { scope: 'manage' },
    schema: {
      tags: ['models'],
      operationId: 'loadModel',
      summary: 'Load a model version from the repository (MODEL_DIR)',
      description: 'Checks the manifest, the graph file and its sha256 and the budget (MODEL_THREADS, MODEL_MEMORY_MB) before answering '
        + '202; the sessions then load and warm up in the background: poll `GET /models/{name}` until the version is `ready` '
        + '(or `failed`, with the reason in `error`). Other versions keep serving throughout.',
      body: LoadModelBodySchema,
      response: { 202: ModelVersionSchema, ...errorResponses(400, 404), 409: ModelConflictOrBudgetSchema, 422: ModelInvalidSchema, ...errorResponses(500, 503) },
    },
  }, async (request, reply) => {
    const b = request.body;
    const entry = await service.load({
      name: b.name,
      ...(b.version !== undefined ? { version: b.version } : {}),
      ...(b.workers !== undefined ? { workers: b.workers } : {}),
      ...(b.intra_op_threads !== undefined ? { intraOpThreads: b.intra_op_threads } : {}),
    });
    return reply.code(202).header('location', `/models/${entry.model}/versions/${entry.version}`).send(service.view(entry));
  });

  app.delete<{ Params: { name: string; version: string } }>('/models/:name/versions/:version', {
    config: { scope: 'manage' },
    schema: {
      tags: ['models'],
      operationId: 'unloadModelVersion',
      summary: 'Unload a model version after the requests it is serving',
      description: 'The version stops taking requests at once (new ones get 404) and is released once the requests holding it '
        + 'have been answered; answers 202 with state `unloading`, and the version disappears from `GET /models` when done. '
        + 'Refused (409) for the default version of a model with other versions (set another default first), for the '
        + 'only version of the default model, and while evaluation jobs are queued or running on the version. A `failed` version is forgotten at once.',
      params: Type.Object({ name: NAME, version: VERSION }),
      response: { 202: ModelVersionSchema, ...errorResponses(404), 409: ModelConflictSchema, ...errorResponses(500) },
    },
  }, async (request, reply) => {
    const { entry, done } = await service.unload(request.params.name, request.params.version);
    done.catch((err: unknown) => app.log.error({ err, model: entry.model, version: entry.version }, 'unload failed'));
    return reply.code(202).send(service.view(entry));
  });

  app.put<{ Params: { name: string }; Body: { version: string; canary?: { dataset_id: string; confidence?: number } } }>('/models/:name/default', {
    config: { scope: 'manage' },
    schema: {
      tags: ['models'],
      operationId: 'setDefaultModelVersion',
      summary: 'Set the default version of a model (optionally after a canary evaluation)',
      description: 'The version must be `ready`. Requests that name no version use it from now on; requests already running finish on the version they started on. '
        + 'With `canary: {dataset_id}`, the candidate and the current default are first evaluated on the dataset (done evaluations of the same versions '
        + 'from the last 24 h are reused) and compared class by class with a paired bootstrap over images: when the candidate\'s AP is worse beyond '
        + 'the interval on any class, the default is not changed and the answer is 409 MRC_ERR_CANARY_REFUSED with the per-class verdicts.',
      params: Type.Object({ name: NAME }),
      body: SetDefaultBodySchema,
      response: {
        200: SetDefaultResponseSchema, ...errorResponses(400, 404),
        409: CanaryRefusedSchema, 422: CanaryFailedSchema,
        ...errorResponses(500, 503),
      },
    },
  }, async (request, reply) => {
    const c = request.body.canary;
    try {
      const { entry, canary } = await service.setDefault(request.params.name, request.body.version, c ? {
        canary: { datasetId: c.dataset_id, owner: ownerOf(request), ...(c.confidence !== undefined ? { confidence: c.confidence } : {}) },
      } : {});
      return { ...service.model(entry.model), canary };
    } catch (err) {
      if (!(err instanceof CanaryRefusedError)) throw err;
      return reply.code(409).send({ statusCode: 409, code: err.code, error: 'Conflict', message: err.message, field: err.field, canary: err.result });
    }
  });
}
