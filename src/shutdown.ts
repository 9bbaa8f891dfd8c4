/**
 * @file Graceful and forced shutdown of the process (used by src/server.ts).
 *
 * - First SIGTERM / SIGINT / SIGHUP: `close()` (stop listening, finish in-flight requests and
 *   inferences, release the sessions), then exit 0.
 * - An uncaught exception or unhandled rejection: logged, then the same graceful close, exit 1.
 * - A second signal, or `delayMs` (SHUTDOWN_TIMEOUT_MS) passing: forced. `force()` answers every
 *   accepted inference with 503 and resolves once no session.run() is in progress; then exit 1.
 *   Exiting (or terminating a worker) while onnxruntime-node is inside session.run() aborts the
 *   whole process with SIGABRT (measured with onnxruntime-node 1.30:
 *   scripts/robustness/ort-terminate-abort.mjs), so a forced exit waits for the run in progress,
 *   which is bounded by one inference.
 *
 * Process-free by construction (signals, exit and the clock are injected) so it can be unit-tested.
 */

/** What {@link installShutdown} needs. */
export interface ShutdownOptions {
  /** Graceful close budget before forcing (ms). */
  delayMs: number;
  /** Graceful close: stop accepting, finish in-flight work, release resources. */
  close(): Promise<void>;
  /** Forced: abandon queued work, resolve when nothing native is running (bounded by the caller). */
  force(): Promise<unknown>;
  log: { info(obj: object, msg: string): void; error(obj: object, msg: string): void };
  /** process.exit in production. */
  exit(code: number): void;
  /** Where signals and error events come from (process in production). */
  emitter?: NodeJS.EventEmitter;
  signals?: readonly NodeJS.Signals[];
  /** Pause between force() resolving and exit, so 503 answers to abandoned requests are flushed. */
  flushMs?: number;
}

/** Handle returned by {@link installShutdown}. */
export interface Shutdown {
  /** Starts the graceful shutdown (as a signal would). */
  begin(reason: { signal?: string; err?: unknown }): Promise<void>;
  /** Removes the listeners. */
  uninstall(): void;
}

export function installShutdown(opts: ShutdownOptions): Shutdown {
  const emitter = opts.emitter ?? process;
  const signals = opts.signals ?? ['SIGTERM', 'SIGINT', 'SIGHUP'];
  let started = false;
  let forcing = false;
  let timer: NodeJS.Timeout | undefined;

  const forceExit = async (why: string): Promise<void> => {
    if (forcing) return;
    forcing = true;
    if (timer) clearTimeout(timer);
    opts.log.error({}, `${why}: forcing shutdown (queued requests get 503; waiting for the inference in progress, then exit 1)`);
    try {
      await opts.force();
    } catch (err) {
      opts.log.error({ err }, 'forced shutdown failed');
    }
    await new Promise((r) => setTimeout(r, opts.flushMs ?? 50));
    opts.exit(1);
  };

  const onSignal = (signal: NodeJS.Signals): void => {
    if (started) void forceExit(`second ${signal}`);
    else void begin({ signal });
  };
  const onError = (err: unknown): void => {
    opts.log.error({ err }, started ? 'uncaught error during shutdown' : 'uncaught error: shutting down');
    if (started) void forceExit('uncaught error during shutdown');
    else void begin({ err });
  };

  async function begin(reason: { signal?: string; err?: unknown }): Promise<void> {
    if (started) return;
    started = true;
    opts.log.info({ signal: reason.signal }, 'shutting down: finishing in-flight requests');
    timer = setTimeout(() => void forceExit(`killed by timeout (${opts.delayMs} ms)`), opts.delayMs);
    let code = reason.err === undefined ? 0 : 1;
    try {
      await opts.close();
    } catch (err) {
      opts.log.error({ err }, 'error while shutting down');
      code = 1;
    }
    if (forcing) return; // forceExit owns the exit
    clearTimeout(timer);
    opts.log.info({}, 'shutdown complete');
    opts.exit(code);
  }

  for (const s of signals) emitter.on(s, onSignal);
  emitter.on('uncaughtException', onError);
  emitter.on('unhandledRejection', onError);
  return {
    begin,
    uninstall() {
      for (const s of signals) emitter.off(s, onSignal);
      emitter.off('uncaughtException', onError);
      emitter.off('unhandledRejection', onError);
      if (timer) clearTimeout(timer);
    },
  };
}
