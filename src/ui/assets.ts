/**
 * @file Where the browser-side files are: this folder's static files (the dashboard's HTML
 * template, ES module and CSS — plain files, no build step) and the chart library (Chart.js, from
 * node_modules, MIT). Read once and kept in memory: the dashboard serves them, the HTML report
 * inlines the library so a saved report opens offline.
 *
 * Lookup: next to this module (src/ui under tsx; dist/src/ui in the Docker image, which copies
 * them there), else the repository's src/ui (a local `npm start` from dist/).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const here = import.meta.dirname;
const UI_DIRS = [here, join(here, '..', '..', '..', 'src', 'ui')];

/** The folder holding the dashboard's static files. */
export function uiDir(): string {
  const dir = UI_DIRS.find((d) => existsSync(join(d, 'dashboard.html')));
  if (!dir) throw new Error(`dashboard files not found (looked in ${UI_DIRS.join(', ')})`);
  return dir;
}

/** Chart.js' package folder. */
function chartPackage(): string {
  // the package's `require` export is dist/chart.cjs
  return dirname(dirname(createRequire(import.meta.url).resolve('chart.js')));
}

let cache: { js: string; license: string; version: string } | null = null;

/** Chart.js UMD build (minified), its licence text and version. */
export function chartLibrary(): { js: string; license: string; version: string } {
  if (!cache) {
    const pkg = chartPackage();
    cache = {
      js: readFileSync(join(pkg, 'dist', 'chart.umd.min.js'), 'utf8'),
      license: readFileSync(join(pkg, 'LICENSE.md'), 'utf8'),
      version: (JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { version: string }).version,
    };
  }
  return cache;
}

/** Text of `<script>` content that must not end the element early. */
export function scriptSafe(js: string): string {
  return js.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}
