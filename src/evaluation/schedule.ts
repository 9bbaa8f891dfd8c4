/**
 * @file Scheduled and automatic evaluations of datasets (docs/history.md#schedules), without HTTP:
 * - cron expressions are parsed and stepped with croner (UTC); a dataset keeps its next firing
 *   time (`next_run_at`) in the store, so a firing survives restarts and happens once: the
 *   {@link DatasetScheduler} finds due datasets and claims each firing with a conditional update
 *   (`next_run_at` moved from the value it read to the next one); among several processes on one
 *   database only the claimant submits. Firings missed while no process ran collapse into one (the
 *   next time is computed from now, not from the missed time);
 * - automatic runs on model events: when a version of a model is loaded (ready) or becomes its
 *   model's default, each dataset with `auto` (and that model, or none) gets one evaluation, claimed
 *   per (dataset, model@version, event) in the store so that several processes submit it once.
 * Every time read goes through the injected clock; nothing sleeps.
 */
import { Cron } from 'croner';
import type { StoredDataset, Store } from '../store/index.js';
import { HistoryInputError } from './history-errors.js';

/**
 * The first firing of `cron` strictly after `after` (epoch ms, UTC), or null when it never fires again.
 * @throws HistoryInputError naming `field` when the expression is invalid
 */
export function nextRunAt(cron: string, after: number, field = 'body.cron'): number | null {
  let job: Cron;
  try {
    job = new Cron(cron, { paused: true, timezone: 'UTC' });
  } catch (err) {
    throw new HistoryInputError(`invalid cron expression "${cron}": ${(err as Error).message}`, field);
  }
  try {
    const next = job.nextRun(new Date(after));
    return next ? next.getTime() : null;
  } finally {
    job.stop();
  }
}

/** What the scheduler needs from the rest of the service. */
export interface SchedulerDeps {
  store: Store;
  /** Epoch ms. */
  clock: () => number;
  /** Submits an evaluation of `dataset` (its schedule's model/version); resolves with the job id. */
  submit(dataset: StoredDataset, trigger: 'schedule' | 'model_loaded' | 'default_changed', model: { name: string | null; version: string | null }): Promise<string>;
  log?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

/** Finds due schedules and model events, and submits their evaluations (see the file header). */
export class DatasetScheduler {
  constructor(private readonly deps: SchedulerDeps) {}

  /**
   * Fires every schedule due now (each at most once across processes).
   * @returns the datasets this call submitted an evaluation for (or tried to)
   */
  async tick(): Promise<string[]> {
    const { store } = this.deps;
    const now = this.deps.clock();
    const fired: string[] = [];
    for (const d of await store.dueDatasets(now)) {
      const expected = d.schedule.nextRunAt;
      if (expected === null) continue;
      let next: number | null = null;
      try {
        next = d.schedule.cron ? nextRunAt(d.schedule.cron, now, 'schedule.cron') : null;
      } catch {
        next = null; // an expression stored by an older version that no longer parses: stop firing it
      }
      if (!await store.claimScheduledRun(d.id, expected, next, now)) continue; // another process fired it
      fired.push(d.id);
      await this.run(d, 'schedule', { name: d.schedule.model, version: d.schedule.version });
    }
    return fired;
  }

  /**
   * A version of `model` became ready (`model_loaded`) or its model's default (`default_changed`):
   * evaluates the datasets that opted in, once per (dataset, model@version, event).
   * `names` are the names the model is known by (repository folder and manifest name).
   */
  async modelEvent(event: 'model_loaded' | 'default_changed', names: readonly string[], version: string): Promise<string[]> {
    const { store } = this.deps;
    const seen = new Set<string>();
    const done: string[] = [];
    for (const name of names) {
      for (const d of await store.autoDatasets(name)) {
        if (seen.has(d.id)) continue;
        seen.add(d.id);
        if (!await store.claimAutoRun(d.id, `${names[0]}@${version}:${event}`)) continue;
        done.push(d.id);
        await this.run(d, event, { name: names[0]!, version });
      }
    }
    return done;
  }

  private async run(d: StoredDataset, trigger: 'schedule' | 'model_loaded' | 'default_changed', model: { name: string | null; version: string | null }): Promise<void> {
    try {
      const jobId = await this.deps.submit(d, trigger, model);
      await this.deps.store.recordDatasetRun(d.id, { jobId, error: null });
      this.deps.log?.info({ dataset: d.id, job: jobId, trigger }, 'dataset evaluation submitted');
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.deps.log?.warn({ dataset: d.id, trigger, err }, 'dataset evaluation could not be submitted');
      await this.deps.store.recordDatasetRun(d.id, { jobId: null, error: message }).catch(() => undefined);
    }
  }
}
