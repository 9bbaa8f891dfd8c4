/**
 * @file The budget of the loaded versions (docs/models.md, Budget): worker threads (MODEL_THREADS:
 * the sum over versions of workers x intra-op threads) and memory (MODEL_MEMORY_MB: the sum of each
 * version's estimate, replaced by the measured RSS growth of its load once it could be measured).
 * Versions count from the moment their load is accepted until they are unloaded; failed ones do not.
 */
import { ModelBudgetError } from './errors.js';
import type { ModelEntry, VersionCost } from './registry.js';

/** Bytes a version is expected to take before it is loaded: per worker, a fixed part plus the graph times a factor. */
export const MEMORY_BASE_BYTES = 80 * 1024 ** 2;
/**
 * The graph file's size times this per worker: onnxruntime holds the weights (float16 files are
 * widened to float32) plus its arenas. Measured on the shipped models, one worker, load + warm-up:
 * models/shapes (26 MiB graph) 217 MiB as the process's first version (onnxruntime itself included),
 * models/shapes-stock (13 MiB, float16 weights) 133 MiB as a second one (docs/models.md, Budget).
 */
export const MEMORY_GRAPH_FACTOR = 4;

/** The estimate of {@link MEMORY_BASE_BYTES} + graph x {@link MEMORY_GRAPH_FACTOR}, per worker. */
export function estimateMemory(graphBytes: number, workers: number): number {
  return workers * (MEMORY_BASE_BYTES + MEMORY_GRAPH_FACTOR * graphBytes);
}

/** Totals allowed; 0 memory = not budgeted. */
export interface BudgetLimits {
  threads: number;
  memoryBytes: number;
}

/** What the loaded versions use, and the limits. */
export interface BudgetUsage {
  threads: { used: number; total: number };
  memory_mb: { used: number; total: number | null };
}

const mb = (b: number): number => Math.round(b / 1024 ** 2);

/** True for entries that hold (or will hold) threads and memory. */
function counts(e: ModelEntry): boolean {
  return e.state === 'loading' || e.state === 'ready' || e.state === 'unloading';
}

export class ModelBudget {
  constructor(readonly limits: BudgetLimits) {}

  usage(entries: readonly ModelEntry[]): BudgetUsage {
    const live = entries.filter(counts);
    return {
      threads: { used: live.reduce((n, e) => n + e.cost.threads, 0), total: this.limits.threads },
      memory_mb: { used: mb(live.reduce((n, e) => n + e.cost.memoryBytes, 0)), total: this.limits.memoryBytes > 0 ? mb(this.limits.memoryBytes) : null },
    };
  }

  /**
   * @throws ModelBudgetError naming the budget, what is used and what the version needs
   */
  check(need: VersionCost, entries: readonly ModelEntry[], what: string): void {
    const live = entries.filter(counts);
    const threads = live.reduce((n, e) => n + e.cost.threads, 0);
    if (threads + need.threads > this.limits.threads) {
      throw new ModelBudgetError(`${what} needs ${need.threads} worker threads (workers x intra-op threads) and ${threads} of the MODEL_THREADS budget of ${this.limits.threads} are used by ${live.length} loaded version(s): unload a version or raise MODEL_THREADS`);
    }
    const memory = live.reduce((n, e) => n + e.cost.memoryBytes, 0);
    if (this.limits.memoryBytes > 0 && memory + need.memoryBytes > this.limits.memoryBytes) {
      throw new ModelBudgetError(`${what} needs about ${mb(need.memoryBytes)} MB and ${mb(memory)} MB of the MODEL_MEMORY_MB budget of ${mb(this.limits.memoryBytes)} MB are used by ${live.length} loaded version(s): unload a version or raise MODEL_MEMORY_MB`);
    }
  }
}
