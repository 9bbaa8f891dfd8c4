/**
 * @file Types shared by the inference pool (src/pipeline/session.ts, main thread) and the worker
 * (src/pipeline/worker.ts): tensors as plain `{type, data, dims}` records over typed arrays, the
 * graph's input/output metadata, and the worker message protocol. Type-only: no runtime code.
 *
 * Other rooms (losses, evaluate route) use {@link Tensor} / {@link TensorMap} to read graph outputs.
 */

/** Element types the service exchanges with the graph (onnxruntime's names). */
export type TensorType =
  | 'float32' | 'float64' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'bool';

/** Any numeric typed array onnxruntime-node hands back (int64 → BigInt64Array, bool → Uint8Array). */
export type TypedArray =
  | Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array
  | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

/** One tensor: flat row-major `data` with `dims` (product of dims = data.length). */
export interface Tensor {
  type: TensorType;
  data: TypedArray;
  dims: readonly number[];
}

/** Named tensors: graph feeds or every graph output of a run. */
export type TensorMap = Record<string, Tensor>;

/** Input/output metadata as reported by the session (symbolic dims are strings, e.g. "H"). */
export interface ValueInfo {
  name: string;
  type: string;
  shape: Array<number | string>;
}

/** Execution provider actually in use. */
export type ExecutionProviderName = 'cuda' | 'cpu';

/** workerData of an inference worker. */
export interface WorkerInit {
  graphPath: string;
  executionProvider: 'auto' | 'cuda' | 'cpu';
  intraOpThreads: number;
}

/** Main → worker. */
export type WorkerRequest =
  /** `fetches`: output names to return (all when absent). */
  | { type: 'run'; id: number; feeds: TensorMap; fetches?: string[] }
  | { type: 'close' };

/** Worker → main. */
export type WorkerResponse =
  | {
    type: 'ready'; provider: ExecutionProviderName; fallbackReason?: string;
    inputs: ValueInfo[]; outputs: ValueInfo[]; ortVersion: string;
  }
  | { type: 'fatal'; message: string }
  | {
    type: 'result'; id: number; outputs: TensorMap; ms: number;
    /** When session.run() started, as performance.timeOrigin + performance.now() in the worker. */
    startedAt: number;
  }
  | { type: 'error'; id: number; message: string }
  /** After 'close': runs not started were dropped (`dropped` ids), the session is released. */
  | { type: 'closed'; dropped: number[] };
