/**
 * @file Worker-thread entry that computes the VOC table (src/eval vocFromCoco) of a large job off
 * the event loop. It receives the loaded ground truth and results with their typed arrays (the raw
 * segmentations are not sent: the VOC table uses boxes only) and answers the VOC block plus the
 * one warning vocFromCoco may raise. Started by src/jobs/voc-offload.ts, one per call.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { vocFromCoco, WarningCollector, type CocoGroundTruth, type CocoResults } from '../eval/index.js';

interface VocJob {
  gt: CocoGroundTruth;
  dt: CocoResults;
  iouThr: number;
  mode: 'area' | '11points';
}

const job = workerData as VocJob;
try {
  const warnings = new WarningCollector();
  const voc = vocFromCoco(job.gt, job.dt, { iouThr: job.iouThr, mode: job.mode, warnings });
  parentPort!.postMessage({ voc, warnings: warnings.list() });
} catch (err) {
  parentPort!.postMessage({ error: { message: (err as Error).message, path: (err as { path?: string }).path ?? null, statusCode: (err as { statusCode?: number }).statusCode ?? 500 } });
}
