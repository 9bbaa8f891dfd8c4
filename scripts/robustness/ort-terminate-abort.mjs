#!/usr/bin/env node
// Reproduces a process abort found by the robustness suite (docs/robustness.md, "Known failures"):
// terminating a worker thread while onnxruntime-node's session.run() is in progress in it kills the
// WHOLE process with SIGABRT ("terminate called after throwing an instance of 'Napi::Error'") when
// the native run completes. src/pipeline/session.ts does exactly that in InferencePool.close() when
// the shutdown timeout expires with an inference still running (and after 2 s if a worker does not
// answer 'close'), so a slow shutdown ends in an abort (exit 134) instead of exit 1.
//
//   node scripts/robustness/ort-terminate-abort.mjs [models/shapes/model.onnx]
// Prints "ABORT REPRODUCED" (and exits 0) if the child process died by SIGABRT.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

if (process.argv[2] === '--child') {
  const { Worker } = await import('node:worker_threads');
  const w = new Worker(`
    const ort = require('onnxruntime-node');
    const { parentPort, workerData } = require('node:worker_threads');
    (async () => {
      const s = await ort.InferenceSession.create(workerData, { intraOpNumThreads: 1 });
      parentPort.postMessage('ready');
      const h = 256, w = 256;
      await s.run({ image: new ort.Tensor('float32', new Float32Array(3 * h * w).fill(0.3), [3, h, w]),
                    gt_boxes: new ort.Tensor('float32', new Float32Array(0), [0, 4]) });
    })();`, { eval: true, workerData: process.argv[3] });
  w.on('message', () => setTimeout(() => { void w.terminate(); }, 50)); // mid-run
  setTimeout(() => process.exit(0), 15_000);
} else {
  const graph = resolve(process.argv[2] ?? 'models/shapes/model.onnx');
  const r = spawnSync(process.execPath, [new URL(import.meta.url).pathname, '--child', graph], { encoding: 'utf8' });
  console.log(`child exit code ${r.status}, signal ${r.signal}`);
  console.log((r.stderr || '').trim().split('\n').slice(-3).join('\n'));
  console.log(r.signal === 'SIGABRT' ? 'ABORT REPRODUCED' : 'no abort');
}
