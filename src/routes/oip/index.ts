/**
 * @file KServe Open Inference Protocol (v2) health and metadata, over the same registry as /models
 * (docs/models.md, Open Inference Protocol):
 * - `GET /v2/health/live` → `{"live": true}`;
 * - `GET /v2/health/ready` → `{"ready": bool}`: ready when not shutting down and the default
 *   version of every served model is ready;
 * - `GET /v2/models/{name}[/versions/{version}]` → `{name, versions, platform, inputs, outputs}`
 *   (tensors as `{name, datatype, shape}`: FP32/INT64/…, dynamic dimensions -1);
 * - `GET /v2/models/{name}[/versions/{version}]/ready` → `{name, ready}`.
 * As the protocol says, health answers carry their boolean in the status too: 200 for true, 400
 * for false; a `false` body also has the service's error fields (code MRC_ERR_MODEL_NOT_READY or
 * MRC_ERR_SHUTTING_DOWN), so every 4xx of the service has the one error shape. An unknown model or version is 404 in the service's error shape
 * (whose `error` string is what the protocol's error response has). Health routes are public,
 * metadata routes need the `inference` scope.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { ModelEntry } from '../../models/registry.js';
import type { ValueInfo } from '../../pipeline/session-types.js';
import { errorResponses } from '../../schemas/common.js';
import { OipLiveSchema, OipModelMetadataSchema, OipModelNotReadySchema, OipModelReadySchema, OipNotReadySchema, OipReadySchema } from './schemas.js';

/** onnxruntime element type → the protocol's tensor data type. */
const DATATYPES: Record<string, string> = {
  bool: 'BOOL', uint8: 'UINT8', uint16: 'UINT16', uint32: 'UINT32', uint64: 'UINT64',
  int8: 'INT8', int16: 'INT16', int32: 'INT32', int64: 'INT64',
  float16: 'FP16', float32: 'FP32', float64: 'FP64', bfloat16: 'BF16', string: 'BYTES',
};

/** The protocol's tensor metadata: symbolic (dynamic) dimensions are -1. */
export function oipTensor(v: ValueInfo): { name: string; datatype: string; shape: number[] } {
  return {
    name: v.name,
    datatype: DATATYPES[v.type] ?? v.type.toUpperCase(),
    shape: v.shape.map((d) => (typeof d === 'number' && Number.isInteger(d) && d >= 0 ? d : -1)),
  };
}

const NAME = Type.String({ maxLength: 200, description: 'The model: its folder under MODEL_DIR or its manifest `name`' });
const VERSION = Type.String({ maxLength: 200, description: 'The version (e.g. 1.1.0)' });

/** Registers the /v2 routes. */
export default async function oipRoutes(app: FastifyInstance): Promise<void> {
  const registry = app.models;

  // false: the protocol's 4xx, with its body fields and the service's error fields
  const answer = (reply: FastifyReply, ok: boolean, body: object): FastifyReply => (ok ? reply.code(200).send(body) : reply.code(400).send({
    ...body, statusCode: 400, code: app.draining ? 'MRC_ERR_SHUTTING_DOWN' : 'MRC_ERR_MODEL_NOT_READY', error: 'Bad Request',
    message: app.draining ? 'Server is shutting down' : 'Model is not loaded or not warmed up yet', field: null,
  }));

  app.get('/v2/health/live', {
    config: { scope: 'public' },
    schema: { tags: ['health'], operationId: 'oipServerLive', summary: 'Open Inference Protocol: server live', response: { 200: OipLiveSchema, ...errorResponses(500) } },
  }, async () => ({ live: true }));

  app.get('/v2/health/ready', {
    config: { scope: 'public' },
    schema: {
      tags: ['health'], operationId: 'oipServerReady', summary: 'Open Inference Protocol: server ready (the default version of every model is ready)',
      response: { 200: OipReadySchema, 400: OipNotReadySchema, ...errorResponses(500) },
    },
  }, async (_request, reply) => {
    const names = registry.modelNames();
    const ready = !app.draining && names.length > 0 && names.every((n) => registry.defaultOf(n)?.ready === true);
    return answer(reply, ready, { ready });
  });

  const metadata = (entry: ModelEntry) => {
    const versions = registry.versionsOf(entry.model).filter((e) => e.visible && e.version !== null).map((e) => e.version!);
    const rt = entry.require(); // 503 while loading: the graph's tensors are known once its session is up
    return {
      name: entry.model,
      versions,
      platform: 'onnxruntime_onnx',
      inputs: rt.session.inputs.map(oipTensor),
      outputs: rt.session.outputs.map(oipTensor),
    };
  };
  const metaSchema = { 200: OipModelMetadataSchema, ...errorResponses(404, 500, 503) };
  const readySchema = { 200: OipModelReadySchema, 400: OipModelNotReadySchema, ...errorResponses(404, 500) };

  app.get<{ Params: { name: string } }>('/v2/models/:name', {
    config: { scope: 'inference' },
    schema: { tags: ['models'], operationId: 'oipModelMetadata', summary: 'Open Inference Protocol: model metadata (default version)', params: Type.Object({ name: NAME }), response: metaSchema },
  }, async (request) => metadata(registry.get(request.params.name, undefined, 'params.name')));

  app.get<{ Params: { name: string; version: string } }>('/v2/models/:name/versions/:version', {
    config: { scope: 'inference' },
    schema: { tags: ['models'], operationId: 'oipModelVersionMetadata', summary: 'Open Inference Protocol: model version metadata', params: Type.Object({ name: NAME, version: VERSION }), response: metaSchema },
  }, async (request) => metadata(registry.get(request.params.name, request.params.version, 'params.name', 'params.version')));

  app.get<{ Params: { name: string } }>('/v2/models/:name/ready', {
    config: { scope: 'inference' },
    schema: { tags: ['models'], operationId: 'oipModelReady', summary: 'Open Inference Protocol: model ready (default version)', params: Type.Object({ name: NAME }), response: readySchema },
  }, async (request, reply) => {
    const e = registry.get(request.params.name, undefined, 'params.name');
    return answer(reply, e.ready && !app.draining, { name: e.model, ready: e.ready && !app.draining });
  });

  app.get<{ Params: { name: string; version: string } }>('/v2/models/:name/versions/:version/ready', {
    config: { scope: 'inference' },
    schema: { tags: ['models'], operationId: 'oipModelVersionReady', summary: 'Open Inference Protocol: model version ready', params: Type.Object({ name: NAME, version: VERSION }), response: readySchema },
  }, async (request, reply) => {
    const e = registry.get(request.params.name, request.params.version, 'params.name', 'params.version');
    return answer(reply, e.ready && !app.draining, { name: e.model, ready: e.ready && !app.draining });
  });
}
