/**
 * @file Writes the pycocotools reference numbers of the generated evaluation sets (bench/eval-data.ts)
 * that test/eval/pycocotools-diff.test.ts compares against exactly:
 *
 *   PYCOCOTOOLS_DIR=work/pycocotools/PythonAPI node --import tsx bench/eval-reference.ts [images...]
 *
 * (default 300 and 5000) → test/fixtures/coco-eval/expected/generated_<images>.json: per IoU type the
 * 12 stats, the per-category values and SHA-256 digests of precision / recall / scores. Needs a
 * pycocotools build (docs/evaluation.md#performance says how to make one outside the repository).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateEvalSet } from './eval-data.js';
import { pycocotoolsDir, PYTHON } from './eval-speed-lib.js';
import { ROOT } from '../test/robustness/helpers.js';

const dir = pycocotoolsDir();
if (!dir.ok) {
  process.stderr.write(`${dir.reason}\n`);
  process.exit(1);
}
const sizes = process.argv.slice(2).map(Number);
for (const images of sizes.length ? sizes : [300, 5000]) {
  const set = generateEvalSet(images);
  const tmp = mkdtempSync(join(tmpdir(), 'eval-ref-'));
  try {
    writeFileSync(join(tmp, 'gt.json'), JSON.stringify(set.gt));
    writeFileSync(join(tmp, 'dt.json'), JSON.stringify(set.dets));
    const r = spawnSync(PYTHON, [join(ROOT, 'bench', 'eval-pycocotools.py'), dir.path, join(tmp, 'gt.json'), join(tmp, 'dt.json'), 'bbox,segm', '1'], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (r.status !== 0) throw new Error(r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    const strip = (b: unknown): unknown => { const { seconds: _s, cpu_seconds: _c, ...rest } = b as Record<string, unknown>; return rest; };
    const fixture = {
      source: `bench/eval-data.ts generateEvalSet(${images}) evaluated by pycocotools (ppwwyyxx/cocoapi 2.0.11 built from source), numpy ${String(out.numpy)}`,
      images, gt_instances: set.gt.annotations.length, detections: set.dets.length,
      bbox: strip(out.bbox), segm: strip(out.segm),
    };
    const file = join(ROOT, 'test', 'fixtures', 'coco-eval', 'expected', `generated_${images}.json`);
    writeFileSync(file, `${JSON.stringify(fixture, null, 1)}\n`);
    process.stdout.write(`${file}\n`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
