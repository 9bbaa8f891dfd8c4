/**
 * @file ③ Session: a pool of worker threads (src/pipeline/worker.ts), one onnxruntime-node
 * InferenceSession each, behind a bounded FIFO queue. The generic entry point is
 * `run(feeds) → every graph output as {type, data, dims}`; /predict, the model mode of /evaluate
 * and the losses all read from that.
 *
 * Feeds' typed arrays are TRANSFERRED to the worker (the caller's arrays become detached); outputs
 * come back transferred too. When every worker is busy and `queueSize` jobs already wait, `run`
 * throws QueueFullError (the route answers 503 + Retry-After) instead of queueing without bound.
 *
 * The worker is found next to this file: `worker.js` when compiled (dist/, `npm start`), or
 * `worker.ts` when running under tsx (tests, `npm run dev`), in which case the worker registers
 * tsx's ESM loader itself before importing the .ts file.
 */
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import type {
  ExecutionProviderName, TensorMap, ValueInfo, WorkerInit, WorkerRequest, WorkerResponse,
} from './session-types.js';

export type * from './session-types.js';

/** Thrown by run() when the queue is full. */
export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';
  constructor(readonly retryAfterSeconds: number) {
    super('inference queue is full');
  }
}
/**
 * Thrown by run() after close() started (`closing` true), or when no worker is available while a
 * dead one is being replaced or could not be replaced (`closing` false).
 */
export class PoolClosedError extends Error {
  override readonly name = 'PoolClosedError';
  constructor(message: string, readonly closing = true) {
    super(message);
  }
}
/** The graph failed on this input (bad shapes, runtime error) or the worker died mid-run. */
export class InferenceRunError extends Error {
  override readonly name = 'InferenceRunError';
}

/** Options of {@link InferencePool.create}. */
export interface PoolOptions {
  graphPath: string;
  executionProvider: 'auto' | 'cuda' | 'cpu';
  /** intraOpNumThreads of each session. */
  intraOpThreads: number;
  /** Number of worker threads (sessions). */
  workers: number;
  /** Max jobs waiting for a free worker. */
  queueSize: number;
  /** Called whenever the number of waiting jobs changes. */
  onQueueDepth?: (depth: number) => void;
  /** Where worker crashes are reported. */
  log?: { error(obj: unknown, msg?: string): void; warn(obj: unknown, msg?: string): void };
}

/** What a run returns: all outputs, the inference time measured in the worker, the queue wait. */
export interface RunResult {
  outputs: TensorMap;
  /** Milliseconds spent in session.run(), measured in the worker. */
  inferenceMs: number;
  /** Milliseconds waited in the queue before a worker took the job. */
  queuedMs: number;
}

/** What the first worker reported about the loaded session. */
export interface SessionInfo {
  provider: ExecutionProviderName;
  /** Why CUDA was not used in auto mode (absent when CUDA loaded or cpu was requested). */
  fallbackReason?: string;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  ortVersion: string;
}

interface Job {
  id: number;
  feeds: TensorMap;
  enqueuedAt: number;
  resolve(r: RunResult): void;
  reject(e: Error): void;
  startedAt?: number;
}

interface Slot {
  worker: Worker;
  job: Job | null;
}

/** Collects every distinct ArrayBuffer of a tensor map for a zero-copy postMessage. */
function transferList(map: TensorMap): ArrayBuffer[] {
  const set = new Set<ArrayBuffer>();
  for (const t of Object.values(map)) if (t.data.buffer instanceof ArrayBuffer) set.add(t.data.buffer);
  return [...set];
}

/** Starts one worker and resolves when its session is loaded. */
function startWorker(init: WorkerInit): Promise<{ worker: Worker; info: SessionInfo }> {
  const isTs = import.meta.url.endsWith('.ts');
  const url = new URL(isTs ? './worker.ts' : './worker.js', import.meta.url);
  const worker = isTs
    ? new Worker(
      `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})` +
        `.then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`,
      { eval: true, workerData: init },
    )
    : new Worker(url, { workerData: init });
  return new Promise((resolve, reject) => {
    const onExit = (code: number): void => reject(new Error(`inference worker exited with code ${code} while loading the model`));
    const onError = (err: Error): void => reject(err);
    worker.once('error', onError);
    worker.once('exit', onExit);
    worker.once('message', (msg: WorkerResponse) => {
      worker.off('error', onError);
      worker.off('exit', onExit);
      if (msg.type === 'ready') {
        const { provider, inputs, outputs, ortVersion } = msg;
        resolve({ worker, info: { provider, inputs, outputs, ortVersion, ...(msg.fallbackReason ? { fallbackReason: msg.fallbackReason } : {}) } });
      } else {
        void worker.terminate();
        reject(new Error(msg.type === 'fatal' ? msg.message : `unexpected worker message ${msg.type}`));
      }
    });
  });
}

/** A bounded pool of inference workers. Create with {@link InferencePool.create}. */
export class InferencePool {
  readonly info: SessionInfo;
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closing = false;
  /** Exponentially weighted mean inference time (ms), for Retry-After. */
  private meanMs = 0;

  private constructor(private readonly opts: PoolOptions, info: SessionInfo) {
    this.info = info;
  }

  /**
   * Starts `opts.workers` workers and loads the graph in each.
   * @throws Error with the worker's message (e.g. CUDA requested but unavailable, invalid graph).
   */
  static async create(opts: PoolOptions): Promise<InferencePool> {
    const init: WorkerInit = { graphPath: opts.graphPath, executionProvider: opts.executionProvider, intraOpThreads: opts.intraOpThreads };
    // Load the first session alone (it decides the provider), then the others with the same one.
    const first = await startWorker(init);
    const pool = new InferencePool(opts, first.info);
    pool.attach(first.worker);
    try {
      const rest = await Promise.all(Array.from({ length: opts.workers - 1 }, () =>
        startWorker({ ...init, executionProvider: first.info.provider })));
      for (const r of rest) pool.attach(r.worker);
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  /** Number of jobs waiting for a worker (not counting running ones). */
  get queueDepth(): number {
    return this.queue.length;
  }

  /** Number of workers currently running a job. */
  get busy(): number {
    return this.slots.filter((s) => s.job !== null).length;
  }

  /** Number of live workers. */
  get size(): number {
    return this.slots.length;
  }

  /** Seconds a client should wait before retrying when the queue is full (>= 1). */
  retryAfterSeconds(): number {
    const perJob = this.meanMs > 0 ? this.meanMs : 1000;
    return Math.max(1, Math.ceil(((this.queue.length + 1) * perJob) / Math.max(1, this.slots.length) / 1000));
  }

  /**
   * Runs the graph on `feeds` (arrays are transferred: do not reuse them).
   * @returns every output of the graph, by output name.
   * @throws QueueFullError, PoolClosedError, InferenceRunError.
   */
  run(feeds: TensorMap): Promise<RunResult> {
    if (this.closing) return Promise.reject(new PoolClosedError('inference pool is closed'));
    if (this.slots.length === 0) return Promise.reject(new PoolClosedError('no inference worker available (a replacement is starting)', false));
    const free = this.slots.find((s) => s.job === null);
    if (!free && this.queue.length >= this.opts.queueSize) {
      return Promise.reject(new QueueFullError(this.retryAfterSeconds()));
    }
    return new Promise<RunResult>((resolve, reject) => {
      const job: Job = { id: this.nextId++, feeds, enqueuedAt: performance.now(), resolve, reject };
      if (free) this.dispatch(free, job);
      else {
        this.queue.push(job);
        this.opts.onQueueDepth?.(this.queue.length);
      }
    });
  }

  /** Runs `makeFeeds()` once on every worker (warm-up: first runs allocate and are slow). */
  async warmup(makeFeeds: () => TensorMap): Promise<void> {
    await Promise.all(this.slots.map(() => this.run(makeFeeds())));
  }

  /**
   * Stops accepting jobs, lets running and queued jobs finish, then releases every session.
   * @param timeoutMs after this, remaining jobs are rejected and workers terminated.
   */
  async close(timeoutMs = 30_000): Promise<void> {
    this.closing = true;
    const deadline = Date.now() + timeoutMs;
    while ((this.queue.length > 0 || this.busy > 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const job of this.queue.splice(0)) job.reject(new PoolClosedError('inference pool closed'));
    const slots = this.slots.splice(0);
    await Promise.all(slots.map(async (s) => {
      s.job?.reject(new PoolClosedError('inference pool closed'));
      s.job = null;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000);
        s.worker.once('message', () => { clearTimeout(timer); resolve(); });
        s.worker.postMessage({ type: 'close' } satisfies WorkerRequest);
      });
      await s.worker.terminate();
    }));
  }

  private attach(worker: Worker): void {
    const slot: Slot = { worker, job: null };
    this.slots.push(slot);
    worker.on('message', (msg: WorkerResponse) => this.onMessage(slot, msg));
    worker.on('error', (err) => this.opts.log?.error({ err }, 'inference worker error'));
    worker.on('exit', (code) => this.onExit(slot, code));
  }

  private dispatch(slot: Slot, job: Job): void {
    slot.job = job;
    job.startedAt = performance.now();
    const feeds = job.feeds;
    job.feeds = {};
    slot.worker.postMessage({ type: 'run', id: job.id, feeds } satisfies WorkerRequest, transferList(feeds));
  }

  private next(slot: Slot): void {
    const job = this.queue.shift();
    if (job) {
      this.opts.onQueueDepth?.(this.queue.length);
      this.dispatch(slot, job);
    }
  }

  private onMessage(slot: Slot, msg: WorkerResponse): void {
    if (msg.type !== 'result' && msg.type !== 'error') return;
    const job = slot.job;
    if (!job || job.id !== msg.id) return;
    slot.job = null;
    if (msg.type === 'result') {
      this.meanMs = this.meanMs === 0 ? msg.ms : 0.8 * this.meanMs + 0.2 * msg.ms;
      job.resolve({ outputs: msg.outputs, inferenceMs: msg.ms, queuedMs: (job.startedAt ?? job.enqueuedAt) - job.enqueuedAt });
    } else {
      job.reject(new InferenceRunError(msg.message));
    }
    this.next(slot);
  }

  /** A worker died: fail its job, and (unless closing) replace it with a fresh one. */
  private onExit(slot: Slot, code: number): void {
    const i = this.slots.indexOf(slot);
    if (i < 0) return; // removed by close()
    this.slots.splice(i, 1);
    slot.job?.reject(new InferenceRunError(`inference worker exited with code ${code}`));
    slot.job = null;
    if (this.closing) return;
    this.opts.log?.warn({ code }, 'inference worker exited; starting a replacement');
    startWorker({ graphPath: this.opts.graphPath, executionProvider: this.info.provider, intraOpThreads: this.opts.intraOpThreads })
      .then(({ worker }) => {
        if (this.closing) { void worker.terminate(); return; }
        this.attach(worker);
        this.next(this.slots[this.slots.length - 1]!);
      })
      .catch((err: unknown) => {
        this.opts.log?.error({ err }, 'could not replace the inference worker');
        if (this.slots.length === 0) {
          for (const job of this.queue.splice(0)) job.reject(new PoolClosedError('no inference worker left', false));
        }
      });
  }
}
