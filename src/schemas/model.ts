/**
 * @file GET /models, GET /health/live and GET /health/ready schemas.
 */
import { Type } from '@sinclair/typebox';

const ValueInfoSchema = Type.Object({
  name: Type.String(),
  type: Type.String({ description: 'onnxruntime element type, e.g. float32, int64' }),
  shape: Type.Array(Type.Union([Type.Integer(), Type.String()]), { description: 'Symbolic dimensions are strings' }),
});

const EXAMPLE = {
    name: 'shapes-maskrcnn', version: '1.0.0', format: 'loss-capable',
    classes: [{ id: 1, name: 'square' }, { id: 2, name: 'circle' }, { id: 3, name: 'triangle' }],
    execution_provider: 'cpu', execution_provider_fallback_reason: 'OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library',
    onnxruntime_version: '1.30.0',
    inputs: [{ name: 'image', type: 'float32', shape: [3, 'H', 'W'] }, { name: 'gt_boxes', type: 'float32', shape: ['G', 4] }],
    outputs: [{ name: 'det_boxes', type: 'float32', shape: ['D', 4] }],
    file: 'model.onnx', sha256: 'f05d9f9c36e5823cab9ec074616799af8bd2dbf9e111f1c77c974df4ec8d1bc3', graph_bytes: 27129215,
    workers: 1, intra_op_threads: 2, queue_size: 8, losses_available: true, losses_unavailable_reason: null,
  };

export const ModelMetadataSchema = Type.Object({
  name: Type.String(),
  version: Type.String(),
  format: Type.Union([Type.Literal('loss-capable'), Type.Literal('stock')], { description: '`stock`: a plain torchvision export (no losses)' }),
  classes: Type.Array(Type.Object({ id: Type.Integer(), name: Type.String() })),
  execution_provider: Type.String({ description: 'Execution provider in use: cuda or cpu' }),
  execution_provider_fallback_reason: Type.Union([Type.String(), Type.Null()], { description: 'Why CUDA was not used (EXECUTION_PROVIDER=auto)' }),
  onnxruntime_version: Type.String(),
  inputs: Type.Array(ValueInfoSchema),
  outputs: Type.Array(ValueInfoSchema),
  file: Type.String(),
  sha256: Type.String(),
  graph_bytes: Type.Integer(),
  workers: Type.Integer({ description: 'Inference worker threads (one session each)' }),
  intra_op_threads: Type.Integer(),
  queue_size: Type.Integer(),
  losses_available: Type.Boolean(),
  losses_unavailable_reason: Type.Union([Type.String(), Type.Null()]),
}, { title: 'ModelMetadata', description: 'The model and how it runs', examples: [EXAMPLE] });

export const ModelsResponseSchema = Type.Object({
  models: Type.Array(ModelMetadataSchema, { description: 'The served model (one per process)' }),
}, { title: 'ModelsResponse', description: 'The served model', examples: [{ models: [EXAMPLE] }] });

export const LiveSchema = Type.Object({
  status: Type.Literal('ok'),
  uptime_s: Type.Number(),
}, { title: 'Live', description: 'The process is up and its event loop answers', examples: [{ status: 'ok', uptime_s: 12.3 }] });

export const ReadySchema = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('loading'), Type.Literal('failed'), Type.Literal('shutting_down')]),
  model: Type.Union([Type.Object({ name: Type.String(), version: Type.String(), execution_provider: Type.String() }), Type.Null()]),
  queue_depth: Type.Integer(),
  busy_workers: Type.Integer(),
  store: Type.Optional(Type.Object({
    engine: Type.String({ description: '`sqlite` (DATA_DIR) or `postgres` (DATABASE_URL)' }),
    ok: Type.Boolean({ description: 'The job store answered; when false, evaluation jobs get 503 MRC_ERR_STORE_UNAVAILABLE (predictions still work)' }),
  }, { description: 'The durable store of evaluation jobs' })),
  auth: Type.Optional(Type.Union([Type.Literal('on'), Type.Literal('off')], { description: 'Access control: `on` (TOKENS_FILE: routes need a bearer token) or `off` (open to anyone who can reach the service)' })),
}, {
  title: 'Ready',
  description: 'Model loaded and warmed up; not shutting down',
  examples: [{ status: 'ready', model: { name: 'shapes-maskrcnn', version: '1.0.0', execution_provider: 'cpu' }, queue_depth: 0, busy_workers: 0, store: { engine: 'sqlite', ok: true }, auth: 'on' }],
});
