/**
 * @file The in-process queue: what a single replica (or the SQLite store) does. The job service's
 * claim loop (src/jobs/service.ts `pump`) is the consumer: it claims whole jobs from the store under
 * a lease and runs each one image after image in this process. Enqueueing a job only wakes that loop;
 * the queue's depth is the number of queued jobs in the store.
 */
import type { Store } from '../store/index.js';
import type { QueueName, TaskQueue } from './types.js';

export interface InProcessQueueOptions {
  store: Store;
  /** The service's claim loop (coalesced: calling it while it runs only makes it go round again). */
  claim(): void;
}

export class InProcessQueue implements TaskQueue {
  readonly kind = 'in-process' as const;
  private waiting = 0;
  private closed = false;
  private lastCount = 0;

  constructor(private readonly opts: InProcessQueueOptions) {}

  start(): void {
    this.opts.claim();
  }

  async enqueue(): Promise<void> {
    this.opts.claim();
  }

  async cancelled(): Promise<void> {
    // the store flag is all a running job needs (its lease holder checks it); a queued job is cancelled by the store
  }

  poll(): void {
    if (this.closed) return;
    this.opts.claim();
    // the depth (queued jobs) every 5 s: one count query, not one per poll
    const now = Date.now();
    if (now - this.lastCount < 5000) return;
    this.lastCount = now;
    this.opts.store.countByStatus().then((c) => { this.waiting = c.queued; }, () => { /* store unavailable: keep the last value */ });
  }

  depth(): Partial<Record<QueueName, number>> {
    return { jobs: this.waiting };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
