/**
 * @file A {@link Store} that is there before the database is: every call rejects with
 * StoreUnavailableError (`starting`, Retry-After 2) until the real store has opened, then forwards.
 * Opening is retried in the background while the database is unavailable (PostgreSQL down at
 * start-up, SQLite directory not writable yet); any other failure (a corrupt SQLite file, a schema
 * from a newer version) rejects `opened` for good — the process exits with it (src/server.ts). So
 * the service starts, /predict serves, and job requests answer 503 until the store is reachable.
 */
import { StoreUnavailableError, type Store } from '../store/index.js';

/** A store being opened (see the file header). */
export interface DeferredStore {
  /** Forwards to the real store once open; rejects with StoreUnavailableError before. */
  readonly store: Store;
  /** Resolves with the real store; rejects with a fatal open error. */
  readonly opened: Promise<Store>;
  /** Stops retrying; closes the real store if it opened. */
  close(): Promise<void>;
}

/**
 * Starts opening with `open`, retrying after StoreUnavailableError (its retryAfterSeconds, at most
 * `maxRetryMs`) until it succeeds or `close()` is called.
 */
export function deferredStore(open: () => Promise<Store>, engine: Store['engine'], location: string, opts: { maxRetryMs?: number; onRetry?: (err: StoreUnavailableError) => void } = {}): DeferredStore {
  let real: Store | null = null;
  let closed = false;
  let timer: NodeJS.Timeout | null = null;
  let wake: (() => void) | null = null;
  const opened = (async () => {
    for (;;) {
      if (closed) throw new StoreUnavailableError('The store is closed', 'closed', 5);
      try {
        real = await open();
        if (closed) {
          await real.close();
          throw new StoreUnavailableError('The store is closed', 'closed', 5);
        }
        return real;
      } catch (err) {
        if (!(err instanceof StoreUnavailableError) || closed) throw err;
        opts.onRetry?.(err);
        await new Promise<void>((resolve) => {
          wake = resolve;
          timer = setTimeout(resolve, Math.min(opts.maxRetryMs ?? 5000, Math.max(200, err.retryAfterSeconds * 1000)));
        });
      }
    }
  })();
  opened.catch(() => { /* observed by whoever awaits `opened` */ });
  const store = new Proxy({} as Store, {
    get(_t, prop: keyof Store | 'then') {
      if (prop === 'then') return undefined; // not a thenable: `await store` must not call into it
      if (prop === 'engine') return real?.engine ?? engine;
      if (prop === 'location') return real?.location ?? location;
      return (...args: unknown[]) => {
        if (!real) return Promise.reject(new StoreUnavailableError('The store is not open yet (the database is unavailable)', 'starting', 2));
        return (real[prop] as (...a: unknown[]) => unknown).apply(real, args);
      };
    },
  });
  return {
    store,
    opened,
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      wake?.();
      await opened.then((s) => s.close(), () => undefined);
    },
  };
}
