/**
 * @file Where the evaluation benchmark finds pycocotools: `PYCOCOTOOLS_DIR` (a folder holding the
 * `pycocotools` package, e.g. a `setup.py build_ext --inplace` build of cocoapi's PythonAPI), else
 * the default `work/pycocotools/PythonAPI` under the repository (gitignored), else an installed
 * `pycocotools` module of BENCH_PYTHON (default /usr/bin/python3). Nothing is downloaded or built here.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ROOT } from '../test/robustness/helpers.js';

export const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';

/** The default build location (documented in docs/evaluation.md#performance). */
export const DEFAULT_PYCOCOTOOLS_DIR = join(ROOT, 'work', 'pycocotools', 'PythonAPI');

/** The folder to put on sys.path ('-' = the installed module), or why there is none. */
export function pycocotoolsDir(): { ok: true; path: string } | { ok: false; reason: string } {
  const candidates = process.env.PYCOCOTOOLS_DIR ? [resolve(process.env.PYCOCOTOOLS_DIR)] : existsSync(DEFAULT_PYCOCOTOOLS_DIR) ? [DEFAULT_PYCOCOTOOLS_DIR] : [];
  candidates.push('-');
  for (const dir of candidates) {
    const code = `import sys\nif sys.argv[1] != '-': sys.path.insert(0, sys.argv[1])\nimport pycocotools._mask, pycocotools.cocoeval`;
    const probe = spawnSync(PYTHON, ['-c', code, dir], { encoding: 'utf8' });
    if (!probe.error && probe.status === 0) return { ok: true, path: dir };
  }
  return {
    ok: false,
    reason: `pycocotools not found (PYCOCOTOOLS_DIR=${process.env.PYCOCOTOOLS_DIR ?? 'unset'}, ${DEFAULT_PYCOCOTOOLS_DIR}, or installed for ${PYTHON}); comparison skipped`,
  };
}
