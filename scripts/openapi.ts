/**
 * Writes (or checks) the committed OpenAPI document, openapi/openapi.json, generated from the route
 * schemas by @fastify/swagger — the same document the running service serves at /docs/json.
 *
 *   npm run openapi          # regenerate openapi/openapi.json
 *   npm run openapi:check    # exit 1 (and print the first differing lines) when the committed file is stale
 *
 * The app is built with a fixed configuration (not the caller's environment), without waiting for
 * the model and without Swagger UI, so the output depends only on the source tree and package.json.
 * test/openapi/openapi.test.ts runs the same check.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export const ROOT = resolve(import.meta.dirname, '..');
export const OPENAPI_FILE = join(ROOT, 'openapi', 'openapi.json');

/**
 * Environment for the build: only what shapes the document. Sizes appear in descriptions, so they
 * are pinned to the defaults; warm-up is off because only the route schemas matter here.
 */
const FIXED_ENV: Record<string, string> = {
  MODEL_DIR: join(ROOT, 'models'),
  LOG_LEVEL: 'silent',
  WARMUP: 'false',
  INFERENCE_WORKERS: '1',
  INTRA_OP_THREADS: '1',
  EXECUTION_PROVIDER: 'cpu',
};

/** Builds the app and returns the OpenAPI document as the exact text we commit (2-space JSON + \n). */
export async function generateOpenApi(): Promise<string> {
  const { loadConfig } = await import('../src/config.js');
  const { buildApp } = await import('../src/app.js');
  const { MemoryStore } = await import('../src/jobs/memory-store.js');
  const app = await buildApp(loadConfig(FIXED_ENV, [], ROOT), {
    logger: false,
    waitForModel: false,
    swagger: { ui: false },
    jobs: { store: new MemoryStore() }, // the document needs the routes, not a database
  });
  try {
    return `${JSON.stringify(app.swagger(), null, 2)}\n`;
  } finally {
    await app.close();
  }
}

/** First lines where two texts differ, for a readable failure. */
export function firstDifferences(a: string, b: string, max = 10): string[] {
  const la = a.split('\n');
  const lb = b.split('\n');
  const out: string[] = [];
  for (let i = 0; i < Math.max(la.length, lb.length) && out.length < max; i++) {
    if (la[i] !== lb[i]) out.push(`line ${i + 1}:\n  committed: ${la[i] ?? '<EOF>'}\n  generated: ${lb[i] ?? '<EOF>'}`);
  }
  return out;
}

async function main(argv: string[]): Promise<number> {
  const check = argv.includes('--check');
  const generated = await generateOpenApi();
  if (!check) {
    await mkdir(dirname(OPENAPI_FILE), { recursive: true });
    await writeFile(OPENAPI_FILE, generated);
    console.log(`wrote ${OPENAPI_FILE}`);
    return 0;
  }
  const committed = await readFile(OPENAPI_FILE, 'utf8').catch(() => '');
  if (committed === generated) {
    console.log(`${OPENAPI_FILE} is up to date`);
    return 0;
  }
  console.error(`${OPENAPI_FILE} is stale: run \`npm run openapi\` and commit the result.`);
  for (const d of firstDifferences(committed, generated)) console.error(d);
  return 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (err: unknown) => {
    console.error(err);
    process.exit(2);
  });
}
