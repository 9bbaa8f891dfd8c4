#!/usr/bin/env node
// `npm run bench [-- args]`: the service benchmark (bench/run.ts: /predict and /evaluate against raw
// onnxruntime and torchvision, COCO evaluation throughput), then the evaluation-jobs benchmark
// (bench/jobs.ts: job throughput per store backend, restart after SIGKILL). Arguments go to both
// (`--write` updates both blocks of bench/RESULTS.md); with `--model` (another model's run) only
// bench/run.ts runs. BENCH_JOBS=0 skips the jobs part. Then bench/auth.ts: /predict with access
// control on vs off (BENCH_AUTH=0 skips it), then, with BENCH_REPLICAS=1, bench/replicas.ts: 1 vs 3
// replicas on one PostgreSQL (long; also `npm run bench:replicas`). Exit code: the first non-zero one.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const run = (file) => spawnSync(process.execPath, ['--import', 'tsx', file, ...args], { cwd: root, stdio: 'inherit' }).status ?? 1;
const first = run('bench/run.ts');
const jobs = args.includes('--model') || process.env.BENCH_JOBS === '0' ? 0 : run('bench/jobs.ts');
// access control on vs off on /predict (bench/auth.ts); BENCH_AUTH=0 skips it
const auth = args.includes('--model') || process.env.BENCH_AUTH === '0' ? 0 : run('bench/auth.ts');
// several replicas on one PostgreSQL vs one process (bench/replicas.ts, ~15 min on 2 cores): only
// with BENCH_REPLICAS=1 (else `npm run bench:replicas`)
const replicas = args.includes('--model') || process.env.BENCH_REPLICAS !== '1' ? 0 : run('bench/replicas.ts');
// detections-mode evaluation of 5000 images vs pycocotools (bench/eval-speed.ts); BENCH_EVAL=0 skips it
const evalSpeed = args.includes('--model') || process.env.BENCH_EVAL === '0' ? 0 : run('bench/eval-speed.ts');
process.exit(first || jobs || auth || replicas || evalSpeed);
