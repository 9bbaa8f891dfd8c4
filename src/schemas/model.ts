/**
 * @file GET /models, GET /health/live and GET /health/ready schemas.
 */
import { Type, type TSchema } from '@sinclair/typebox';
import { ErrorSchema } from './common.js';

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

const STATE = Type.Union([Type.Literal('loading'), Type.Literal('ready'), Type.Literal('failed'), Type.Literal('unloading'), Type.Literal('closed')], {
  description: '`loading` (sessions starting, warming up), `ready` (serves requests), `failed` (see `error`), `unloading` (finishing the requests it holds)',
});

/** One loaded version: its state and, once its sessions are up, the metadata of ModelMetadata. */
export const ModelVersionSchema = Type.Object({
  ...Object.fromEntries(Object.entries(ModelMetadataSchema.properties).map(([k, v]) => [k, Type.Optional(v)])),
  model: Type.String({ description: 'The model\'s name in URLs and MODELS: its folder under MODEL_DIR' }),
  name: Type.String({ description: 'The manifest `name` (the folder name until loaded)' }),
  version: Type.Union([Type.String(), Type.Null()], { description: 'The version (null only while a MODELS item without a version is being found)' }),
  state: STATE,
  default: Type.Boolean({ description: 'The default version of its model (used by /models/{name}/predict)' }),
  default_model: Type.Boolean({ description: 'The default version of the default model (used by /predict, /evaluate, /evaluations)' }),
  error: Type.Union([Type.String(), Type.Null()], { description: 'Why the load failed (state `failed`)' }),
  in_use: Type.Integer({ description: 'Requests holding this version now' }),
  threads: Type.Integer({ description: 'Worker threads it takes from MODEL_THREADS: workers x intra-op threads' }),
  memory_mb: Type.Integer({ description: 'Memory it takes from MODEL_MEMORY_MB: the estimate, or the measured RSS growth of its load' }),
  memory_measured: Type.Boolean({ description: '`memory_mb` is a measurement (true) or the estimate before the load (false)' }),
}, {
  title: 'ModelVersion', description: 'One model version and its state',
  examples: [{ ...EXAMPLE, model: 'shapes', state: 'ready', default: true, default_model: true, error: null, in_use: 0, threads: 2, memory_mb: 217, memory_measured: true }],
});
const VERSION_EXAMPLE = { ...EXAMPLE, model: 'shapes', state: 'ready', default: true, default_model: true, error: null, in_use: 0, threads: 2, memory_mb: 217, memory_measured: true };
const LOADING_EXAMPLE = { model: 'shapes', name: 'shapes-maskrcnn', version: '2.0.0', state: 'loading', default: false, default_model: false, error: null, in_use: 0, threads: 2, memory_mb: 183, memory_measured: false };

const BudgetSchema = Type.Object({
  threads: Type.Object({ used: Type.Integer(), total: Type.Integer({ description: 'MODEL_THREADS' }) }),
  memory_mb: Type.Object({ used: Type.Integer(), total: Type.Union([Type.Integer(), Type.Null()], { description: 'MODEL_MEMORY_MB (null: not budgeted)' }) }),
}, { description: 'What the loaded versions take of the budget (docs/models.md)' });

export const ModelsResponseSchema = Type.Object({
  models: Type.Array(ModelVersionSchema, { description: 'Every loaded version (also loading, failed and unloading ones), the default model first' }),
  default_model: Type.String({ description: 'The model /predict, /evaluate and /evaluations use' }),
  budget: BudgetSchema,
}, {
  title: 'ModelsResponse', description: 'The served models and versions',
  examples: [{ models: [VERSION_EXAMPLE, LOADING_EXAMPLE], default_model: 'shapes', budget: { threads: { used: 4, total: 4 }, memory_mb: { used: 400, total: 6144 } } }],
});

/** GET /models/{name}: the default version at the top level (as ModelVersion) and every version. */
export const ModelDetailSchema = Type.Object({
  ...ModelVersionSchema.properties,
  default_version: Type.Union([Type.String(), Type.Null()]),
  versions: Type.Array(ModelVersionSchema),
}, {
  title: 'ModelDetail', description: 'One model: its default version\'s fields, and all its versions',
  examples: [{ ...VERSION_EXAMPLE, default_version: '1.1.0', versions: [VERSION_EXAMPLE, LOADING_EXAMPLE] }],
});

export const LoadModelBodySchema = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', description: 'Folder under MODEL_DIR' }),
  version: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', description: 'Version folder (`<name>/<version>/`); default: the latest, or the flat folder\'s manifest version' })),
  workers: Type.Optional(Type.Integer({ minimum: 1, maximum: 64, description: 'Inference workers of this version (default INFERENCE_WORKERS)' })),
  intra_op_threads: Type.Optional(Type.Integer({ minimum: 1, maximum: 256, description: 'Intra-op threads per worker (default INTRA_OP_THREADS)' })),
}, { additionalProperties: false, examples: [{ name: 'shapes', version: '1.1.0' }] });

export const SetDefaultBodySchema = Type.Object({
  version: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' }),
  canary: Type.Optional(Type.Object({
    dataset_id: Type.String({ minLength: 1, maxLength: 100, description: 'A dataset of the caller (POST /datasets)' }),
    confidence: Type.Optional(Type.Number({ minimum: 0.5, maximum: 0.999, default: 0.95, description: 'Level of the bootstrap intervals' })),
  }, { additionalProperties: false, description: 'Evaluate the candidate and the current default on this dataset first (done evaluations of the last 24 h are reused); refuse (409) when the candidate is worse on any class' })),
}, { additionalProperties: false, examples: [{ version: '1.1.0' }, { version: '2.0.0', canary: { dataset_id: '6f1c2a9e-3b7d-4c55-9a0e-1d2b3c4d5e6f' } }] });

const Num = Type.Union([Type.Number(), Type.Null()]);
export const CanaryResultSchema = Type.Object({
  passed: Type.Boolean(),
  dataset_id: Type.String(),
  base: Type.Object({ version: Type.String(), evaluation_id: Type.String(), reused: Type.Boolean() }, { description: 'The default version before the switch' }),
  candidate: Type.Object({ version: Type.String(), evaluation_id: Type.String(), reused: Type.Boolean() }),
  confidence: Type.Number(),
  classes: Type.Array(Type.Object({
    iou_type: Type.Union([Type.Literal('bbox'), Type.Literal('segm')]),
    category_id: Type.Integer(),
    name: Type.String(),
    ap_delta: Num,
    ci_low: Num,
    ci_high: Num,
    verdict: Type.Union([Type.Literal('better'), Type.Literal('worse'), Type.Literal('no_evidence')], { description: 'AP of candidate − default: the interval excludes 0 above (better) or below (worse)' }),
  })),
}, { title: 'CanaryResult', description: 'Per-class AP verdicts of the candidate against the current default (GET /evaluations/{id}/compare/{other_id} has the full comparison)' });
const CANARY_EXAMPLE = {
  passed: false, dataset_id: '6f1c2a9e-3b7d-4c55-9a0e-1d2b3c4d5e6f',
  base: { version: '1.1.0', evaluation_id: '0b6b7c1e-52c4-4a43-9f3e-2a4d5b6c7d8e', reused: true },
  candidate: { version: '2.0.0', evaluation_id: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d', reused: false },
  confidence: 0.95,
  classes: [
    { iou_type: 'bbox', category_id: 1, name: 'square', ap_delta: 0.012, ci_low: -0.01, ci_high: 0.03, verdict: 'no_evidence' },
    { iou_type: 'bbox', category_id: 3, name: 'triangle', ap_delta: -0.21, ci_low: -0.35, ci_high: -0.08, verdict: 'worse' },
  ],
};

/** An error body with its own example (statuses the shared catalog has no example for). */
function errorWithExample(description: string, example: Record<string, unknown>, extra: Record<string, TSchema> = {}) {
  return Type.Object({ ...ErrorSchema.properties, ...extra }, { title: 'Error', description, examples: [example] });
}

export const ModelConflictSchema = errorWithExample('The version is already loaded, loading or unloading; the default version cannot be unloaded; the version is not ready', {
  statusCode: 409, code: 'MRC_ERR_MODEL_CONFLICT', error: 'Conflict', message: 'version "1.1.0" of model "shapes" is already loaded', field: 'body.version',
});
export const ModelConflictOrBudgetSchema = errorWithExample('Already loaded, loading or unloading (MRC_ERR_MODEL_CONFLICT), or over the thread or memory budget (MRC_ERR_MODEL_BUDGET)', {
  statusCode: 409, code: 'MRC_ERR_MODEL_BUDGET', error: 'Conflict',
  message: 'version "2.0.0" of model "shapes" needs 2 worker threads (workers x intra-op threads) and 4 of the MODEL_THREADS budget of 4 are used by 2 loaded version(s): unload a version or raise MODEL_THREADS',
  field: null,
});
export const ModelInvalidSchema = errorWithExample('The version\'s files cannot be served: bad manifest, missing graph, sha256 mismatch, manifest version not its folder', {
  statusCode: 422, code: 'MRC_ERR_MODEL_INVALID', error: 'Unprocessable Entity',
  message: 'model "mine": sha256 mismatch for /srv/models/mine/2.0.0/model.onnx: manifest says 2cd9…, file is 77ab… (re-export the model or fix manifest.json)', field: 'body.name',
});
export const CanaryRefusedSchema = errorWithExample('The version is not ready (MRC_ERR_MODEL_CONFLICT), or the canary refused it (MRC_ERR_CANARY_REFUSED, `canary`: the verdicts)', {
  statusCode: 409, code: 'MRC_ERR_CANARY_REFUSED', error: 'Conflict',
  message: 'version "2.0.0" is worse than the default version "1.1.0" on dataset 6f1c2a9e-3b7d-4c55-9a0e-1d2b3c4d5e6f beyond the 95% interval for: triangle (bbox AP -0.210, interval -0.350 to -0.080)',
  field: 'body.canary', canary: CANARY_EXAMPLE,
}, { canary: Type.Optional(CanaryResultSchema) });
export const CanaryFailedSchema = errorWithExample('A canary evaluation failed or did not finish in time', {
  statusCode: 422, code: 'MRC_ERR_CANARY_FAILED', error: 'Unprocessable Entity', message: 'the canary evaluation 9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d of version "2.0.0" ended failed: …', field: 'body.canary',
});

export const SetDefaultResponseSchema = Type.Object({
  ...ModelDetailSchema.properties,
  canary: Type.Union([CanaryResultSchema, Type.Null()], { description: 'The canary\'s verdicts (null without a canary)' }),
}, {
  title: 'DefaultVersionSet', description: 'The model with its new default version, and the canary that allowed it',
  examples: [{ ...VERSION_EXAMPLE, default_version: '1.1.0', versions: [VERSION_EXAMPLE], canary: null }],
});

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
