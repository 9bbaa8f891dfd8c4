/**
 * @file The task queue behind evaluation jobs: how a committed job becomes work for some process.
 *
 * Two implementations:
 * - in-process (src/queue/in-process.ts): the job service of this process claims whole jobs from
 *   the store (claims with leases, src/jobs/service.ts) and runs each one image after image. One
 *   replica, or SQLite.
 * - pg-boss (src/queue/pgboss.ts, DATABASE_URL set): a model-mode job is cut into tasks of a few
 *   images each (`images` queue) that any replica sharing the PostgreSQL database claims; each task
 *   records its images' outcomes in the store (an upsert per image: a task run twice changes
 *   nothing), and the replica that records the job's last image sends the job's merge task (`jobs`
 *   queue), which merges every record in image order and finishes the job exactly as one process
 *   would. A detections-mode job is one task on the `jobs` queue. src/queue/tasks.ts is that logic.
 *
 * Nothing here knows HTTP. docs/jobs.md ("Several replicas") and docs/scaling.md describe it.
 */
import type { StoredJob } from '../store/index.js';

/** Which implementation runs the jobs. */
export type QueueKind = 'in-process' | 'pgboss';

/** Names of the queues whose depth is exported (mrcnn_queue_tasks{queue}). */
export type QueueName = 'jobs' | 'images';

/** The queue of one process. */
export interface TaskQueue {
  readonly kind: QueueKind;
  /** Starts taking work (the store is open and the models are loading or loaded). */
  start(): void;
  /**
   * A job was committed to the store: make it runnable. Never loses the job when it rejects — the
   * job is durable in the store and a later sweep (or another process) enqueues it again.
   */
  enqueue(job: StoredJob): Promise<void>;
  /** A job was asked to stop (the store flag is set): drop what waits of it. */
  cancelled(jobId: string): Promise<void>;
  /** Periodic call (the service's poll): claim, re-enqueue what was lost, refresh the depth. */
  poll(): void;
  /** Tasks waiting to be claimed, per queue (last known value; never throws). */
  depth(): Partial<Record<QueueName, number>>;
  /** Stops taking work; work in progress stops at its next checkpoint and is left to be resumed. */
  close(): Promise<void>;
}

/** A task of the `images` queue: images `from` (inclusive) to `to` (exclusive) of a model-mode job, in input order. */
export interface ImagesTask {
  jobId: string;
  from: number;
  to: number;
}

/** A task of the `jobs` queue: a detections-mode job, or the merge and finish of a model-mode job. */
export interface JobTask {
  jobId: string;
}
