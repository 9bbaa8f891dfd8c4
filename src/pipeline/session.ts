/**
 * @file ③ Session: a pool of worker threads (src/pipeline/worker.ts), one onnxruntime-node
 * InferenceSession each, behind a bounded FIFO queue. The generic entry point is
 * `run(feeds) → every graph output as {type, data, dims}`; /predict, the model mode of /evaluate
 * and the losses all read from that.
 *
 * Feeds' typed arrays are TRANSFERRED to the worker (the caller's arrays become detached); outputs
 * come back transferred too (`fetches` limits them to the named ones). The pool holds at most
 * `workers + queueSize` jobs, counting places taken ahead with `reserve()`; beyond that `run` /
 * `reserve` throw QueueFullError (the route answers 503 + Retry-After) instead of queueing without
 * bound. Each worker is sent its running job and the next one. `close()` drains, `abandon()` forces;
 * neither ever terminates a worker inside session.run() (that aborts the process).
 *
 * The worker is found next to this file: `worker.js` when compiled (dist/, `npm start`), or
 * `worker.ts` when running under tsx (tests, `npm run dev`), in which case the worker registers
 * tsx's ESM loader itself before importing the .ts file.
 */
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { InferenceRunError, PoolClosedError, QueueFullError } from './errors.js';
import type {
  ExecutionProviderName, TensorMap, ValueInfo, WorkerInit, WorkerRequest, WorkerResponse,
} from './session-types.js';

export type * from './session-types.js';

export { InferenceRunError, PoolClosedError, QueueFullError } from './errors.js';

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
  fetches?: string[];
  /** performance.timeOrigin + performance.now() when run() accepted it. */
  enqueuedAt: number;
  resolve(r: RunResult): void;
  reject(e: Error): void;
  settled: boolean;
}

interface Slot {
  worker: Worker;
  /** Jobs sent to this worker, in order: `jobs[0]` is running, the rest wait in the worker. */
  jobs: Job[];
  /** Set once the worker is being stopped (see stopWorker). */
  stopping?: Promise<boolean>;
}

/** A place in the pool taken before the expensive part of a request (see {@link InferencePool.reserve}). */
export interface Reservation {
  /** Gives the place back (no-op once released or used by run()). */
  release(): void;
  readonly active: boolean;
}

/**
 * Jobs a worker holds at once: the running one and the next one, so the session starts its next
 * run the moment the current one ends instead of after a round trip through the main thread (which
 * may be busy decoding or encoding masks). On a 2-core CPU host the measured gap between runs was
 * ~2.4 ms with or without it (the worker's own postMessage of the result is preempted when every
 * core is busy); it is for hosts where the CPU is not the bottleneck (GPU).
 */
const WORKER_DEPTH = 2;
/** How long close()/abandon() wait for a running session.run() before giving up on it. */
const DEFAULT_RUN_GRACE_MS = 60_000;

const now = (): number => performance.timeOrigin + performance.now();

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
  private reserved = 0;
  /** Exponentially weighted mean inference time (ms), for Retry-After. */
  private meanMs = 0;
  /** Set by abandon(): everything accepted was rejected, workers are stopping. */
  private abandoned = false;

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

  /** Number of accepted jobs not yet running (in the pool's queue or waiting inside a worker). */
  get queueDepth(): number {
    return this.queue.length + this.slots.reduce((n, s) => n + Math.max(0, s.jobs.length - 1), 0);
  }

  /** Number of workers currently running a job. */
  get busy(): number {
    return this.slots.filter((s) => s.jobs.length > 0).length;
  }

  /** Number of live workers. */
  get size(): number {
    return this.slots.length;
  }

  /** Jobs the pool holds at most: one running per worker plus `queueSize` waiting. */
  get capacity(): number {
    return Math.max(1, this.opts.workers) + this.opts.queueSize;
  }

  /** Jobs accepted or reserved and not finished. */
  get occupancy(): number {
    return this.reserved + this.queue.length + this.slots.reduce((n, s) => n + s.jobs.length, 0);
  }

  /** Seconds a client should wait before retrying when the queue is full (>= 1). */
  retryAfterSeconds(): number {
    const perJob = this.meanMs > 0 ? this.meanMs : 1000;
    return Math.max(1, Math.ceil(((this.queueDepth + 1) * perJob) / Math.max(1, this.slots.length) / 1000));
  }

  /**
   * Takes a place for a job that will be submitted later, so a request is refused (QueueFullError)
   * before it spends CPU on decoding an image that could not be run. Pass it to run(); release it
   * (idempotent) if the request ends without running.
   * @throws QueueFullError, PoolClosedError.
   */
  reserve(): Reservation {
    this.admit();
    this.reserved++;
    let active = true;
    return {
      get active() { return active; },
      release: () => {
        if (!active) return;
        active = false;
        this.reserved--;
      },
    };
  }

  /**
   * Runs the graph on `feeds` (arrays are transferred: do not reuse them).
   * @param opts.reservation a place taken with reserve(); without one the pool must have room now.
   * @param opts.fetches output names to return (default: every output). /predict asks for the
   *   detections only: the loss-capable graph's other outputs are ~700 KB per 256x256 image that
   *   would be copied out of onnxruntime and sent across threads for nothing.
   * @returns the outputs by name.
   * @throws QueueFullError, PoolClosedError, InferenceRunError.
   */
  run(feeds: TensorMap, opts: { reservation?: Reservation | undefined; fetches?: string[] | undefined } = {}): Promise<RunResult> {
    const { reservation, fetches } = opts;
    try {
      if (reservation?.active) {
        reservation.release();
        this.admit(false);
      } else {
        this.admit();
      }
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return new Promise<RunResult>((resolve, reject) => {
      const job: Job = { id: this.nextId++, feeds, enqueuedAt: now(), resolve, reject, settled: false, ...(fetches ? { fetches } : {}) };
      const slot = this.pickSlot();
      if (slot) this.dispatch(slot, job);
      else this.queue.push(job);
      this.opts.onQueueDepth?.(this.queueDepth);
    });
  }

  /** Runs `makeFeeds()` once on every worker (warm-up: first runs allocate and are slow). */
  async warmup(makeFeeds: () => TensorMap): Promise<void> {
    await Promise.all(this.slots.map(() => this.run(makeFeeds())));
  }

  /**
   * Stops accepting jobs, lets running and queued jobs finish, then releases every session.
   * @param timeoutMs after this, jobs not finished are rejected (PoolClosedError); a session.run()
   *   already in progress still completes before its worker stops (up to `runGraceMs`), because
   *   tearing a worker down inside session.run() aborts the whole process (onnxruntime-node 1.30).
   */
  async close(timeoutMs = 30_000, runGraceMs = DEFAULT_RUN_GRACE_MS): Promise<void> {
    this.closing = true;
    const deadline = Date.now() + timeoutMs;
    while ((this.queue.length > 0 || this.busy > 0) && Date.now() < deadline && !this.abandoned) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await this.abandon(runGraceMs);
  }

  /**
   * Forced shutdown: rejects every accepted job now (PoolClosedError), refuses new ones, lets each
   * worker finish the session.run() it is in (at most `runGraceMs`), then releases the sessions and
   * stops the workers. After it resolves the process can exit without tearing down a running
   * session (which aborts the process with onnxruntime-node 1.30). Idempotent; close() ends here too.
   * @returns true if every worker stopped cleanly within `runGraceMs`.
   */
  abandon(runGraceMs = DEFAULT_RUN_GRACE_MS): Promise<boolean> {
    this.closing = true;
    this.abandoned = true;
    this.rejectAll('inference pool closed');
    return Promise.all([...this.slots].map((s) => this.stopWorker(s, runGraceMs))).then((ok) => ok.every(Boolean));
  }

  /** Rejects queued and dispatched jobs (a dispatched one's run may still be in progress). */
  private rejectAll(message: string): void {
    for (const job of this.queue.splice(0)) this.settle(job, new PoolClosedError(message));
    for (const s of this.slots) for (const job of s.jobs) this.settle(job, new PoolClosedError(message));
    this.opts.onQueueDepth?.(0);
  }

  private settle(job: Job, outcome: RunResult | Error): void {
    if (job.settled) return;
    job.settled = true;
    job.feeds = {};
    if (outcome instanceof Error) job.reject(outcome);
    else job.resolve(outcome);
  }

  /**
   * Asks a worker to stop after its current run (it drops runs not started and releases its
   * session), then terminates it. Terminates a worker still running only after `graceMs`.
   * Idempotent per worker. @returns false if it had to terminate a worker that did not answer.
   */
  private stopWorker(s: Slot, graceMs: number): Promise<boolean> {
    s.stopping ??= (async () => {
      const w = s.worker;
      const clean = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), graceMs);
        const done = (): void => { clearTimeout(timer); resolve(true); };
        w.on('message', (msg: WorkerResponse) => { if (msg.type === 'closed') done(); });
        w.once('exit', done);
        w.postMessage({ type: 'close' } satisfies WorkerRequest);
      });
      if (!clean) {
        this.opts.log?.error({ graceMs }, 'an inference did not finish within the grace period; terminating its worker (onnxruntime-node may abort the process)');
      }
      const i = this.slots.indexOf(s);
      if (i >= 0) this.slots.splice(i, 1);
      s.jobs.length = 0;
      await w.terminate();
      return clean;
    })();
    return s.stopping;
  }

  /**
   * @param counting false when the caller already held a reservation (its place is in `reserved`
   *   until this call, so it is not counted twice).
   */
  private admit(counting = true): void {
    if (this.closing) throw new PoolClosedError('inference pool is closed');
    if (this.slots.length === 0) throw new PoolClosedError('no inference worker available (a replacement is starting)', false);
    if (counting && this.occupancy >= this.capacity) throw new QueueFullError(this.retryAfterSeconds());
  }

  /** An idle worker, else one with room for a next job (fewest jobs first), else none. */
  private pickSlot(): Slot | undefined {
    let best: Slot | undefined;
    for (const s of this.slots) {
      if (s.jobs.length >= WORKER_DEPTH) continue;
      if (!best || s.jobs.length < best.jobs.length) best = s;
    }
    return best;
  }

  private attach(worker: Worker): void {
    const slot: Slot = { worker, jobs: [] };
    this.slots.push(slot);
    worker.on('message', (msg: WorkerResponse) => this.onMessage(slot, msg));
    worker.on('error', (err) => this.opts.log?.error({ err }, 'inference worker error'));
    worker.on('exit', (code) => this.onExit(slot, code));
  }

  private dispatch(slot: Slot, job: Job): void {
    slot.jobs.push(job);
    const feeds = job.feeds;
    job.feeds = {};
    slot.worker.postMessage({ type: 'run', id: job.id, feeds, ...(job.fetches ? { fetches: job.fetches } : {}) } satisfies WorkerRequest, transferList(feeds));
  }

  /** Fills a worker's free places from the queue. */
  private refill(slot: Slot): void {
    let moved = false;
    while (slot.jobs.length < WORKER_DEPTH && this.queue.length > 0) {
      this.dispatch(slot, this.queue.shift()!);
      moved = true;
    }
    if (moved) this.opts.onQueueDepth?.(this.queueDepth);
  }

  private onMessage(slot: Slot, msg: WorkerResponse): void {
    if (msg.type !== 'result' && msg.type !== 'error') return;
    const i = slot.jobs.findIndex((j) => j.id === msg.id);
    if (i < 0) return;
    const [job] = slot.jobs.splice(i, 1) as [Job];
    if (msg.type === 'result') {
      this.meanMs = this.meanMs === 0 ? msg.ms : 0.8 * this.meanMs + 0.2 * msg.ms;
      this.settle(job, { outputs: msg.outputs, inferenceMs: msg.ms, queuedMs: Math.max(0, msg.startedAt - job.enqueuedAt) });
    } else {
      this.settle(job, new InferenceRunError(msg.message));
    }
    if (!this.closing) this.refill(slot);
    this.opts.onQueueDepth?.(this.queueDepth);
  }

  /** A worker died: fail its jobs, and (unless closing) replace it with a fresh one. */
  private onExit(slot: Slot, code: number): void {
    const i = this.slots.indexOf(slot);
    if (i < 0) return; // removed by close()
    this.slots.splice(i, 1);
    for (const job of slot.jobs.splice(0)) this.settle(job, new InferenceRunError(`inference worker exited with code ${code}`));
    if (this.closing) return;
    this.opts.log?.warn({ code }, 'inference worker exited; starting a replacement');
    startWorker({ graphPath: this.opts.graphPath, executionProvider: this.info.provider, intraOpThreads: this.opts.intraOpThreads })
      .then(({ worker }) => {
        if (this.closing) { void worker.terminate(); return; }
        this.attach(worker);
        this.refill(this.slots[this.slots.length - 1]!);
      })
      .catch((err: unknown) => {
        this.opts.log?.error({ err }, 'could not replace the inference worker');
        if (this.slots.length === 0) {
          for (const job of this.queue.splice(0)) this.settle(job, new PoolClosedError('no inference worker left', false));
        }
      });
  }
}
