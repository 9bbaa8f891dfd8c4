/**
 * mulberry32: a small, fast, deterministic PRNG in [0, 1), for seeded test data and benchmark sets
 * (test/losses/sampling.test.ts, bench/coco.ts). The service's own copy is src/eval/prng.ts.
 */
export { mulberry32 } from '../src/eval/prng.js';
