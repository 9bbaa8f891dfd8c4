/**
 * @file Response schemas of the Open Inference Protocol (v2) health and metadata routes
 * (src/routes/oip/index.ts): the protocol's `$live_server_response`, `$ready_server_response`,
 * `$ready_model_response`, `$metadata_model_response` and `$metadata_tensor`.
 */
import { Type } from '@sinclair/typebox';
import { ErrorSchema } from '../../schemas/common.js';

export const OipLiveSchema = Type.Object({ live: Type.Boolean() }, { title: 'OipServerLive', description: 'The server is live', examples: [{ live: true }] });

export const OipReadySchema = Type.Object({ ready: Type.Boolean() }, { title: 'OipServerReady', description: 'Ready: not shutting down, the default version of every model ready', examples: [{ ready: true }] });

export const OipModelReadySchema = Type.Object({
  name: Type.String(),
  ready: Type.Boolean(),
}, { title: 'OipModelReady', description: 'The model (its default version) or the named version is ready', examples: [{ name: 'shapes', ready: true }] });

const NOT_READY = { statusCode: 400, code: 'MRC_ERR_MODEL_NOT_READY', error: 'Bad Request', message: 'Model is not loaded or not warmed up yet', field: null };

/** The protocol's `false`: status 400, its body fields, and the service's error fields. */
export const OipNotReadySchema = Type.Object({ ready: Type.Literal(false), ...ErrorSchema.properties }, {
  title: 'OipServerNotReady', description: 'Not ready (the protocol\'s 4xx): starting, a default version loading or failed, or shutting down', examples: [{ ready: false, ...NOT_READY }],
});
export const OipModelNotReadySchema = Type.Object({ name: Type.String(), ready: Type.Literal(false), ...ErrorSchema.properties }, {
  title: 'OipModelNotReady', description: 'The version is loading, failed, or the server is shutting down (the protocol\'s 4xx)', examples: [{ name: 'shapes', ready: false, ...NOT_READY }],
});

export const OipTensorSchema = Type.Object({
  name: Type.String({ description: 'Graph input or output name' }),
  datatype: Type.String({ description: 'BOOL, UINT8 … UINT64, INT8 … INT64, FP16, FP32, FP64, BYTES' }),
  shape: Type.Array(Type.Integer(), { description: 'Dynamic dimensions are -1' }),
}, { title: 'OipTensorMetadata' });

export const OipModelMetadataSchema = Type.Object({
  name: Type.String({ description: 'The model (its folder under MODEL_DIR)' }),
  versions: Type.Array(Type.String(), { description: 'Its loaded versions' }),
  platform: Type.String({ description: 'Always `onnxruntime_onnx`' }),
  inputs: Type.Array(OipTensorSchema),
  outputs: Type.Array(OipTensorSchema),
}, {
  title: 'OipModelMetadata',
  description: 'The model\'s metadata: platform, graph inputs and outputs',
  examples: [{
    name: 'shapes', versions: ['1.1.0'], platform: 'onnxruntime_onnx',
    inputs: [{ name: 'image', datatype: 'FP32', shape: [3, -1, -1] }, { name: 'gt_boxes', datatype: 'FP32', shape: [-1, 4] }],
    outputs: [{ name: 'det_boxes', datatype: 'FP32', shape: [-1, 4] }],
  }],
});
