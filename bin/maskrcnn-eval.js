#!/usr/bin/env node
// maskrcnn-serve CLI (`maskrcnn-serve evaluate ...`, docs/jobs.md): runs the compiled CLI in
// dist/src/cli/main.js — build it first with `npm run build`.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('maskrcnn-serve: dist/src/cli/main.js not found: run `npm run build` first\n');
  process.exit(2);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
