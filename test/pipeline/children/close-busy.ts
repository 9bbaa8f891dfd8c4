/**
 * Child process of test/pipeline/session.test.ts (run with tsx; not a test file itself): stops an
 * InferencePool while its worker is inside session.run(), the way a forced shutdown does, then
 * exits with a code the parent checks. Before the fix this aborted the process (SIGABRT,
 * onnxruntime-node 1.30 "terminate called after throwing an instance of 'Napi::Error'").
 *
 *   tsx close-busy.ts <graph.onnx> close|abandon-exit
 * Prints one JSON line: how the running job ended and how long the stop took.
 */
import { buildFeeds, toChwFloat } from '../../../src/pipeline/preprocess.js';
import { InferencePool, PoolClosedError } from '../../../src/pipeline/session.js';

const [graphPath, mode] = process.argv.slice(2) as [string, string];
const pool = await InferencePool.create({ graphPath, executionProvider: 'cpu', intraOpThreads: 1, workers: 1, queueSize: 2 });
const feeds = () => buildFeeds(toChwFloat(new Uint8Array(320 * 240 * 3).fill(90), 320, 240), { image: 'image', gtBoxes: 'gt_boxes' });
const outcome = (p: Promise<unknown>) => p.then(() => 'ok', (e: Error) => (e instanceof PoolClosedError ? 'closed' : `error: ${e.message}`));
const running = outcome(pool.run(feeds()));
const queued = outcome(pool.run(feeds()));
await new Promise((r) => setTimeout(r, 60)); // the first run is now inside session.run()
const t0 = performance.now();
if (mode === 'close') {
  await pool.close(0); // deadline already passed: reject both, stop the worker only once its run ends
  console.log(JSON.stringify({ running: await running, queued: await queued, ms: performance.now() - t0 }));
  process.exit(0);
} else {
  const clean = await pool.abandon();
  console.log(JSON.stringify({ running: await running, queued: await queued, ms: performance.now() - t0, clean }));
  process.exit(1); // what a forced shutdown does next
}
