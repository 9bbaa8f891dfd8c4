/**
 * @file The crash-and-resume procedure shared by the SQLite test (test/jobs/crash.test.ts), the
 * PostgreSQL long test (test/jobs/long/crash-postgres.long.ts) and the restart benchmark
 * (bench/jobs.ts): a model-mode job over a data set on a real server process, SIGKILLed after some
 * images, resumed by a new process on the same store; and the uninterrupted run to compare with.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnServer } from '../robustness/helpers.js';
import { datasetForm, type ShapesDataset } from '../support/shapes-dataset.js';

/** GET /evaluations/{id} as JSON. */
export type JobJson = {
  id: string; status: string; finished_at: string | null; error: unknown;
  progress: { phase: string; images_done: number; images_total: number };
  result: { coco: unknown; voc: unknown; losses: unknown; counts: unknown; warnings: unknown } | null;
};

/** How a job ended. */
export type JobEnd = JobJson & { seconds: number };

/**
 * Env of the servers: a short lease (a killed process's job is taken over within seconds), and the
 * in-process queue also on PostgreSQL (one process resuming a job; several replicas sharing one
 * through the pg-boss queue are tested in test/replicas).
 */
const SERVER_ENV = { JOBS_LEASE_SECONDS: '2', LOG_LEVEL: 'warn', JOBS_QUEUE: 'local' };

/** POST /evaluations with the data set; returns the job id. */
export async function submitJob(baseUrl: string, ds: ShapesDataset): Promise<string> {
  const res = await fetch(`${baseUrl}/evaluations`, { method: 'POST', body: datasetForm(ds) });
  const body = await res.json() as { id?: string };
  assert.equal(res.status, 202, JSON.stringify(body));
  return body.id!;
}

export async function getJob(baseUrl: string, id: string): Promise<JobJson> {
  const res = await fetch(`${baseUrl}/evaluations/${id}`);
  const body = await res.json() as JobJson;
  assert.equal(res.status, 200, JSON.stringify(body));
  return body;
}

/** Polls the job until `pred` holds (a state, not a time: the caller's test timeout bounds it). */
export async function waitJob(baseUrl: string, id: string, pred: (j: JobJson) => boolean, pollMs = 100): Promise<JobJson> {
  for (;;) {
    const j = await getJob(baseUrl, id);
    if (pred(j)) return j;
    await sleep(pollMs);
  }
}

const ended = (j: JobJson): boolean => j.finished_at !== null;

/** One uninterrupted job over `ds` on a fresh server with `env` (its store). */
export async function uninterruptedRun(ds: ShapesDataset, env: Record<string, string>): Promise<JobEnd> {
  const srv = await spawnServer({ ...SERVER_ENV, ...env });
  try {
    const t0 = performance.now();
    const id = await submitJob(srv.baseUrl, ds);
    const end = await waitJob(srv.baseUrl, id, ended, 250);
    assert.equal(end.status, 'done', JSON.stringify(end.error));
    return { ...end, seconds: (performance.now() - t0) / 1000 };
  } finally {
    await srv.stop();
  }
}

/** What {@link crashAndResume} observed. */
export interface CrashRun {
  /** Images done according to the last GET before the kill. */
  doneAtKill: number;
  /** Images done according to the first GET answered by the new process (its store). */
  storedAtRestart: number;
  /** From spawning the new process to its readiness (model load + warm-up). */
  secondsToReady: number;
  /** From the new process answering to the first image recorded after the kill. */
  secondsToProgress: number;
  /** From the new process answering to the job done. */
  resumeSeconds: number;
  end: JobJson;
  /** Deep-equal of coco, voc, losses, counts, warnings with an uninterrupted run. */
  assertSameAs(ref: JobEnd): void;
}

/**
 * Submits a job over `ds`, SIGKILLs the server once `killAfter` images are recorded, starts a new
 * server on the same store (`env`: DATA_DIR or DATABASE_URL) and waits until the job is done.
 */
export async function crashAndResume(ds: ShapesDataset, env: Record<string, string>, killAfter = 30): Promise<CrashRun> {
  const first = await spawnServer({ ...SERVER_ENV, ...env });
  let id: string;
  let doneAtKill: number;
  try {
    id = await submitJob(first.baseUrl, ds);
    const before = await waitJob(first.baseUrl, id, (j) => j.progress.images_done >= killAfter || ended(j));
    assert.equal(before.finished_at, null, 'killed before the end');
    doneAtKill = before.progress.images_done;
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- output of the first server:\n${first.output().slice(-4000)}`, { cause: err });
  } finally {
    first.child.kill('SIGKILL');
  }
  const killed = await first.exited;
  assert.equal(killed.signal, 'SIGKILL');

  const tSpawn = performance.now();
  const second = await spawnServer({ ...SERVER_ENV, ...env });
  const secondsToReady = (performance.now() - tSpawn) / 1000;
  try {
    const t0 = performance.now();
    const atRestart = await getJob(second.baseUrl, id);
    assert.ok(atRestart.progress.images_done >= doneAtKill, `the records of the ${doneAtKill} images done were kept (${atRestart.progress.images_done})`);
    assert.ok(atRestart.progress.images_done < ds.files.length);
    const moved = await waitJob(second.baseUrl, id, (j) => j.progress.images_done > atRestart.progress.images_done || ended(j), 50);
    const secondsToProgress = (performance.now() - t0) / 1000;
    const end = moved.finished_at !== null ? moved : await waitJob(second.baseUrl, id, ended, 250);
    const resumeSeconds = (performance.now() - t0) / 1000;
    assert.equal(end.status, 'done', JSON.stringify(end.error));
    assert.equal(end.progress.images_done, ds.files.length);
    return {
      doneAtKill, storedAtRestart: atRestart.progress.images_done, secondsToReady, secondsToProgress, resumeSeconds, end,
      assertSameAs(ref: JobEnd) {
        const a = end.result!, b = ref.result!;
        assert.deepEqual(a.coco, b.coco, 'coco');
        assert.deepEqual(a.voc, b.voc, 'voc');
        assert.deepEqual(a.losses, b.losses, 'losses');
        assert.deepEqual(a.counts, b.counts, 'counts');
        assert.deepEqual(a.warnings, b.warnings, 'warnings');
      },
    };
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- output of the restarted server:\n${second.output().slice(-4000)}`, { cause: err });
  } finally {
    await second.stop();
  }
}
