/**
 * @file ① GET /models and GET /models/:name: metadata of the served model (name, version, classes,
 * execution provider in use, onnxruntime version, graph inputs/outputs, format, loss support).
 */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { errorResponses } from '../schemas/common.js';
import { ModelMetadataSchema, ModelsResponseSchema } from '../schemas/model.js';

/** Registers the model metadata routes. */
export default async function modelsRoutes(app: FastifyInstance): Promise<void> {
  app.get('/models', {
    config: { scope: 'inference' },
    schema: {
      tags: ['models'],
      operationId: 'listModels',
      summary: 'The served model and how it runs',
      response: { 200: ModelsResponseSchema, ...errorResponses(500, 503) },
    },
  }, async () => ({ models: app.models.list().map((m) => m.require().metadata()) }));

  app.get<{ Params: { name: string } }>('/models/:name', {
    config: { scope: 'inference' },
    schema: {
      tags: ['models'],
      operationId: 'getModel',
      summary: 'One model by name (manifest name or folder name)',
      params: Type.Object({ name: Type.String({ maxLength: 200, description: 'The manifest `name` (e.g. shapes-maskrcnn) or the folder name (MODEL_NAME)' }) }),
      response: { 200: ModelMetadataSchema, ...errorResponses(404, 500, 503) },
    },
  }, async (request) => app.models.get(request.params.name, undefined, 'params.name').require().metadata());
}
