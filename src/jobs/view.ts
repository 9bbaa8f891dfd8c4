/**
 * @file The JSON view of a job (GET /evaluations/{id}, DELETE, and the CLI's in-process runs):
 * status, times, progress with the fraction and the ETA, error, result when done, links. A running
 * job whose cancellation was asked shows `cancelled` at once (it stops at its next checkpoint).
 */
import { isFinished, type Job } from './types.js';

/** Links of a job. */
export const jobLinks = (id: string): { self: string; report: string; cancel: string } => ({ self: `/evaluations/${id}`, report: `/evaluations/${id}/report`, cancel: `/evaluations/${id}` });

const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());

/** The status a client sees. */
export function visibleStatus(job: Job): Job['status'] {
  return job.cancelRequested && !isFinished(job.status) ? 'cancelled' : job.status;
}

/** GET /evaluations/{id} body (JobSchema). */
export interface JobView {
  id: string;
  status: Job['status'];
  mode: Job['mode'];
  created_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  expires_at: string | null;
  progress: { phase: string; images_done: number; images_total: number; fraction: number; eta_seconds: number | null };
  error: Job['error'];
  result: Job['result'];
  links: ReturnType<typeof jobLinks>;
}

/** The JSON view of a job. */
export function jobView(job: Job): JobView {
  const { done, total, imageMs } = job.progress;
  const status = visibleStatus(job);
  const running = status === 'running';
  const fraction = job.status === 'done' ? 1 : total > 0 ? Math.min(1, done / total) : 0;
  const eta = running && done > 0 && total > done ? Math.round((imageMs / done) * (total - done) / 100) / 10 : running && done >= total && total > 0 ? 0 : null;
  return {
    id: job.id, status, mode: job.mode,
    created_at: iso(job.createdAt), started_at: iso(job.startedAt), finished_at: iso(job.finishedAt),
    expires_at: iso(job.expiresAt),
    progress: { phase: job.progress.phase, images_done: done, images_total: total, fraction: Math.round(fraction * 1000) / 1000, eta_seconds: eta },
    error: job.error, result: job.status === 'done' ? job.result : null, links: jobLinks(job.id),
  };
}
