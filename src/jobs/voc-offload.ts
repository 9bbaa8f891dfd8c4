/**
 * @file The VOC table of a whole set without holding the event loop: above `minDetections`
 * results, vocFromCoco runs in a short-lived worker thread (src/jobs/voc-worker.ts; under tsx the
 * worker registers tsx first, as src/pipeline/session.ts does); the caller awaits it and can stop it
 * (`shouldStop`, polled every 100 ms, terminates the worker). Small sets, or a worker that cannot
 * start, are computed in this thread. Same numbers either way (same code on the same typed arrays).
 */
import { Worker } from 'node:worker_threads';
import { InputError, vocFromCoco, type CocoGroundTruth, type CocoResults, type VocBlock, type WarningCollector } from '../eval/index.js';

export interface VocOffloadOptions {
  iouThr: number;
  mode: 'area' | '11points';
  warnings: WarningCollector;
  /** Results below which the table is computed in this thread (default 20 000). */
  minDetections?: number;
  /** Polled while the worker runs; true terminates it and rejects with `stopError()`. */
  shouldStop?: () => boolean;
  stopError?: () => Error;
}

function startWorker(data: unknown): Worker {
  const isTs = import.meta.url.endsWith('.ts');
  const url = new URL(isTs ? './voc-worker.ts' : './voc-worker.js', import.meta.url);
  return isTs
    ? new Worker(
      `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})`
        + `.then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`,
      { eval: true, workerData: data },
    )
    : new Worker(url, { workerData: data });
}

/** vocFromCoco(gt, dt), in a worker for large inputs; warnings are added to `opts.warnings` as in-thread. */
export async function vocTable(gt: CocoGroundTruth, dt: CocoResults, opts: VocOffloadOptions): Promise<VocBlock> {
  if (dt.count < (opts.minDetections ?? 20_000)) return vocFromCoco(gt, dt, { iouThr: opts.iouThr, mode: opts.mode, warnings: opts.warnings });
  const data = {
    gt: { ...gt, anns: { ...gt.anns, segmentation: [] } },
    dt: { ...dt, segmentation: [] },
    iouThr: opts.iouThr,
    mode: opts.mode,
  };
  let worker: Worker;
  try {
    worker = startWorker(data);
  } catch {
    return vocFromCoco(gt, dt, { iouThr: opts.iouThr, mode: opts.mode, warnings: opts.warnings });
  }
  type Msg = { voc?: VocBlock; warnings?: Array<{ path: string; message: string }>; error?: { message: string; path: string | null; statusCode: number } };
  const msg = await new Promise<Msg>((resolve, reject) => {
    const timer = setInterval(() => {
      if (opts.shouldStop?.()) {
        clearInterval(timer);
        void worker.terminate();
        reject(opts.stopError?.() ?? new Error('stopped'));
      }
    }, 100);
    worker.once('message', (m: Msg) => { clearInterval(timer); resolve(m); });
    worker.once('error', (err) => { clearInterval(timer); reject(err); });
    worker.once('exit', (code) => { clearInterval(timer); reject(new Error(`VOC worker exited with code ${code}`)); });
  });
  void worker.terminate();
  if (msg.error) {
    if (msg.error.path !== null) throw new InputError(msg.error.path, msg.error.message, msg.error.statusCode as 400 | 413 | 422);
    throw new Error(msg.error.message);
  }
  // vocFromCoco raises at most one warning kind, with addSummary: replay it the same way
  for (const w of msg.warnings ?? []) opts.warnings.addSummary('voc-skipped-gt', w.path, w.message);
  return msg.voc!;
}
