/**
 * @file Response schemas of the Open Inference Protocol (v2) health and metadata routes
 * (src/routes/oip/index.ts): the protocol's `$live_server_response`, `$ready_server_response`,
 * `$ready_model_response`, `$metadata_model_response` and `$metadata_tensor`.
 */
import { Type } from '@sinclair/typebox';

export const OipLiveSchema = Type.Object({ live: Type.Boolean() }, { title: 'OipServerLive', examples: [{ live: true }] });

export const OipReadySchema = Type.Object({ ready: Type.Boolean() }, { title: 'OipServerReady', description: '200 when true, 400 when false', examples: [{ ready: true }] });

export const OipModelReadySchema = Type.Object({
  name: Type.String(),
  ready: Type.Boolean(),
}, { title: 'OipModelReady', description: '200 when ready, 400 when not (loading, failed)', examples: [{ name: 'shapes', ready: true }] });

export const OipTensorSchema = Type.Object({
  name: Type.String(),
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
  examples: [{
    name: 'shapes', versions: ['1.1.0'], platform: 'onnxruntime_onnx',
    inputs: [{ name: 'image', datatype: 'FP32', shape: [3, -1, -1] }, { name: 'gt_boxes', datatype: 'FP32', shape: [-1, 4] }],
    outputs: [{ name: 'det_boxes', datatype: 'FP32', shape: [-1, 4] }],
  }],
});
