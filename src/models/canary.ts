/**
 * @file The canary check before a model's default version changes (PUT /models/{name}/default
 * with `canary: {dataset_id}`, docs/models.md): the candidate version and the current default are
 * each evaluated on the dataset — a done evaluation of the same version and graph (sha256) on that
 * dataset from the last `reuseWithinMs` is reused, otherwise a dataset evaluation job is submitted
 * and awaited — then compared with src/evaluation/compare.ts (paired bootstrap over images). The
 * switch is refused when, for any class and IoU type, the candidate's AP is worse beyond the
 * interval (verdict `worse`). No HTTP here.
 */
import { compareEvaluations } from '../evaluation/compare.js';
import { submitDatasetEvaluation } from '../evaluation/datasets.js';
import { listEvaluations } from '../evaluation/history.js';
import type { EvaluateOptions } from '../evaluation/response.js';
import type { JobService } from '../jobs/service.js';
import { Failure } from '../failure.js';
import type { ModelEntry } from './registry.js';

/** One class's verdict in one IoU type (candidate − current default). */
export interface CanaryClass {
  iou_type: 'bbox' | 'segm';
  category_id: number;
  name: string;
  ap_delta: number | null;
  ci_low: number | null;
  ci_high: number | null;
  verdict: 'better' | 'worse' | 'no_evidence';
}

/** What the check found. */
export interface CanaryResult {
  passed: boolean;
  dataset_id: string;
  /** The current default version's evaluation. */
  base: { version: string; evaluation_id: string; reused: boolean };
  /** The candidate's evaluation. */
  candidate: { version: string; evaluation_id: string; reused: boolean };
  confidence: number;
  classes: CanaryClass[];
}

/** The candidate is worse than the current default on some class: the default is not changed. */
export class CanaryRefusedError extends Failure {
  override readonly name = 'CanaryRefusedError';
  readonly code = 'MRC_ERR_CANARY_REFUSED';
  constructor(readonly result: CanaryResult) {
    const worse = result.classes.filter((c) => c.verdict === 'worse').map((c) => `${c.name} (${c.iou_type} AP ${c.ap_delta?.toFixed(3)}, interval ${c.ci_low?.toFixed(3)} to ${c.ci_high?.toFixed(3)})`);
    super(`version "${result.candidate.version}" is worse than the default version "${result.base.version}" on dataset ${result.dataset_id} beyond the ${Math.round(result.confidence * 100)}% interval for: ${worse.join(', ')}`, { field: 'body.canary' });
  }
}

/** An evaluation the canary needed did not finish. */
export class CanaryEvaluationError extends Failure {
  override readonly name = 'CanaryEvaluationError';
  readonly code = 'MRC_ERR_CANARY_FAILED';
  constructor(message: string) {
    super(message, { field: 'body.canary' });
  }
}

export interface CanaryDeps {
  jobs: JobService;
  /** How long a done evaluation stays reusable (default 24 h). */
  reuseWithinMs?: number;
  /** How long to wait for a submitted evaluation (default 10 min). */
  timeoutMs?: number;
  pollMs?: number;
  now?: () => number;
}

const DEFAULT_OPTIONS: EvaluateOptions = { lossSampling: 'expected' };

/** The newest reusable done evaluation of `entry` on the dataset, or null. */
async function reusable(deps: CanaryDeps, entry: ModelEntry, datasetId: string, owner: string | null): Promise<string | null> {
  const now = (deps.now ?? Date.now)();
  const since = new Date(now - (deps.reuseWithinMs ?? 24 * 3600_000)).toISOString();
  const sha = entry.files?.manifest.sha256 ?? null;
  for (const name of new Set([entry.name, entry.model])) {
    const page = await listEvaluations(deps.jobs.store, owner, { model: name, version: entry.version!, dataset_id: datasetId, status: 'done', since, limit: 20 }, now);
    const hit = page.evaluations.find((e) => e.model.sha256 === null || sha === null || e.model.sha256 === sha);
    if (hit) return hit.id;
  }
  return null;
}

/** Submits a dataset evaluation of `entry` and waits for it to be done. */
async function evaluate(deps: CanaryDeps, entry: ModelEntry, datasetId: string, owner: string | null): Promise<string> {
  const job = await submitDatasetEvaluation(deps.jobs, {
    datasetId, owner, options: DEFAULT_OPTIONS, trigger: 'canary', field: 'body.canary.dataset_id',
    model: { name: entry.name, version: entry.version!, sha256: entry.files?.manifest.sha256 ?? null },
  });
  const end = Date.now() + (deps.timeoutMs ?? 600_000);
  for (;;) {
    const j = await deps.jobs.get(job.id, owner);
    if (j.status === 'done') return j.id;
    if (j.status === 'failed' || j.status === 'cancelled') {
      throw new CanaryEvaluationError(`the canary evaluation ${j.id} of version "${entry.version}" ended ${j.status}${j.error ? `: ${j.error.message}` : ''}`);
    }
    if (Date.now() > end) throw new CanaryEvaluationError(`the canary evaluation ${j.id} of version "${entry.version}" did not finish in time; it keeps running: retry the switch once it is done (it will be reused)`);
    await new Promise((r) => setTimeout(r, deps.pollMs ?? 250));
  }
}

/**
 * Evaluates (or reuses evaluations of) `base` and `candidate` on the dataset and compares them.
 * @throws CanaryRefusedError (worse on a class), CanaryEvaluationError, DatasetNotFound (field
 *   body.canary.dataset_id), the comparison's errors
 */
export async function runCanary(deps: CanaryDeps, args: { datasetId: string; owner: string | null; base: ModelEntry; candidate: ModelEntry; confidence?: number }): Promise<CanaryResult> {
  const { datasetId, owner } = args;
  const ids: Array<{ id: string; reused: boolean }> = [];
  for (const entry of [args.base, args.candidate]) {
    const id = await reusable(deps, entry, datasetId, owner);
    ids.push(id ? { id, reused: true } : { id: await evaluate(deps, entry, datasetId, owner), reused: false });
  }
  const confidence = args.confidence ?? 0.95;
  const cmp = await compareEvaluations(deps.jobs.store, ids[0]!.id, ids[1]!.id, { owner, curves: false, confidence });
  const classes: CanaryClass[] = [];
  for (const iou of ['bbox', 'segm'] as const) {
    for (const c of cmp.iou_types[iou]?.classes ?? []) {
      classes.push({ iou_type: iou, category_id: c.category_id, name: c.name, ap_delta: c.ap.delta, ci_low: c.ap.ci_low, ci_high: c.ap.ci_high, verdict: c.verdict });
    }
  }
  const result: CanaryResult = {
    passed: !classes.some((c) => c.verdict === 'worse'),
    dataset_id: datasetId,
    base: { version: args.base.version!, evaluation_id: ids[0]!.id, reused: ids[0]!.reused },
    candidate: { version: args.candidate.version!, evaluation_id: ids[1]!.id, reused: ids[1]!.reused },
    confidence,
    classes,
  };
  if (!result.passed) throw new CanaryRefusedError(result);
  return result;
}
