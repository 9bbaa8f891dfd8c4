#!/usr/bin/env node
// Reproduces, with onnxruntime-node alone, the process abort the robustness suite found
// (docs/robustness.md, item 7): terminating a worker thread while onnxruntime-node's session.run()
// is in progress in it kills the WHOLE process with SIGABRT ("terminate called after throwing an
// instance of 'Napi::Error'") when the native run completes; process.exit() during a run does the
// same. The service used to do both on a forced shutdown; src/shutdown.ts and
// InferencePool.abandon() now wait for the run in progress instead. Kept to check new
// onnxruntime-node versions: if it prints "no abort", the wait could be dropped.
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
