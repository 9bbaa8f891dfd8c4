/**
 * @file Inference worker thread: owns ONE onnxruntime-node InferenceSession and runs it off the main
 * thread. onnxruntime-node's `run()` executes the native session synchronously on the calling JS
 * thread (a 600 ms inference froze the event loop for 600 ms), so it lives here; the main thread
 * keeps answering /health, /metrics and uploads while a run is in progress.
 *
 * Started only by src/pipeline/session.ts (InferencePool). Protocol (all typed arrays transferred,
 * never copied):
 *   → workerData {graphPath, executionProvider, intraOpThreads}
 *   ← {type:'ready', provider, fallbackReason?, inputs, outputs, ortVersion} | {type:'fatal', message}
 *   → {type:'run', id, feeds}        ← {type:'result', id, outputs, ms, startedAt} | {type:'error', id, message}
 *   → {type:'close'}                 ← {type:'closed', dropped}  (after the run in progress, if any)
 * Runs are executed one at a time in arrival order; the pool may send the next one while one runs.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import type {
  ExecutionProviderName, Tensor, TensorMap, TypedArray, ValueInfo, WorkerInit, WorkerRequest, WorkerResponse,
} from './session-types.js';

const port = parentPort;
if (!port) throw new Error('src/pipeline/worker.ts must run as a worker thread (started by InferencePool)');
const init = workerData as WorkerInit;

function post(msg: WorkerResponse, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(msg, transfer);
}

function describe(meta: readonly ort.InferenceSession.ValueMetadata[]): ValueInfo[] {
  return meta.map((m) => (m.isTensor
    ? { name: m.name, type: m.type, shape: [...m.shape] }
    : { name: m.name, type: 'non-tensor', shape: [] }));
}

async function createSession(): Promise<{ session: ort.InferenceSession; provider: ExecutionProviderName; fallbackReason?: string }> {
  const base: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: init.intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
  if (init.executionProvider === 'cpu') {
    return { session: await ort.InferenceSession.create(init.graphPath, { ...base, executionProviders: ['cpu'] }), provider: 'cpu' };
  }
  try {
    const session = await ort.InferenceSession.create(init.graphPath, {
      ...base, executionProviders: [{ name: 'cuda', deviceId: 0 }],
    });
    return { session, provider: 'cuda' };
  } catch (err) {
    const reason = (err as Error).message;
    if (init.executionProvider === 'cuda') {
      throw new Error(`EXECUTION_PROVIDER=cuda but the CUDA execution provider cannot be loaded: ${reason}`);
    }
    const session = await ort.InferenceSession.create(init.graphPath, { ...base, executionProviders: ['cpu'] });
    return { session, provider: 'cpu', fallbackReason: reason };
  }
}

/** Copies a typed array when it does not own its whole buffer, so the buffer can be transferred. */
function ownBuffer<T extends TypedArray>(a: T): T {
  if (a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && a.buffer instanceof ArrayBuffer) return a;
  return a.slice() as T;
}

async function main(): Promise<void> {
  // In auto mode a missing CUDA EP is expected: keep onnxruntime's own error line out of the log.
  ort.env.logLevel = init.executionProvider === 'auto' ? 'fatal' : 'error';
  let created;
  try {
    created = await createSession();
  } catch (err) {
    post({ type: 'fatal', message: (err as Error).message });
    return;
  }
  const { session, provider, fallbackReason } = created;
  post({
    type: 'ready',
    provider,
    ...(fallbackReason !== undefined ? { fallbackReason } : {}),
    inputs: describe(session.inputMetadata),
    outputs: describe(session.outputMetadata),
    ortVersion: ort.env.versions.node ?? ort.env.versions.common,
  });

  // Runs one at a time, in arrival order. The pool sends a worker its next job while the current
  // one runs (so the session never waits for a round trip through the main thread); it waits here.
  const pending: Array<Extract<WorkerRequest, { type: 'run' }>> = [];
  let running = false;
  let closing = false;

  const finish = (): void => {
    const dropped = pending.splice(0).map((m) => m.id);
    void session.release().finally(() => {
      post({ type: 'closed', dropped });
      port!.close();
    });
  };

  const pump = async (): Promise<void> => {
    if (running) return;
    running = true;
    while (pending.length > 0 && !closing) await runOne(pending.shift()!);
    running = false;
    // 'close' waits for the run in progress: tearing a worker down inside session.run() aborts the
    // whole process (onnxruntime-node 1.30), so the pool never terminates a busy worker.
    if (closing) finish();
  };

  const runOne = async (msg: Extract<WorkerRequest, { type: 'run' }>): Promise<void> => {
    try {
      const feeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(msg.feeds)) {
        feeds[name] = new ort.Tensor(t.type as 'float32', t.data as Float32Array, [...t.dims]);
      }
      const startedAt = performance.timeOrigin + performance.now();
      const t0 = performance.now();
      const result = msg.fetches ? await session.run(feeds, msg.fetches) : await session.run(feeds);
      const ms = performance.now() - t0;
      const outputs: TensorMap = {};
      const transfer = new Set<ArrayBuffer>();
      for (const [name, value] of Object.entries(result)) {
        if (value.type === 'string') throw new Error(`output "${name}" is a string tensor (unsupported)`);
        let data = ownBuffer(value.data as TypedArray);
        if (transfer.has(data.buffer as ArrayBuffer)) data = data.slice() as TypedArray;
        transfer.add(data.buffer as ArrayBuffer);
        outputs[name] = { type: value.type as Tensor['type'], data, dims: [...value.dims] };
      }
      post({ type: 'result', id: msg.id, outputs, ms, startedAt }, [...transfer]);
    } catch (err) {
      post({ type: 'error', id: msg.id, message: (err as Error).message });
    }
  };

  port!.on('message', (msg: WorkerRequest) => {
    if (msg.type === 'close') {
      if (closing) return;
      closing = true;
      if (!running) finish();
      return;
    }
    if (closing) return;
    pending.push(msg);
    void pump();
  });
}

void main();
