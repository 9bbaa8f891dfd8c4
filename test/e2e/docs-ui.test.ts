/**
 * Headless Chromium opens the real service's Swagger UI at /docs and must render every operation of
 * the OpenAPI document; a screenshot is saved to test-artifacts/swagger-ui.png. Also: the document
 * the service serves at /docs/json is the committed openapi/openapi.json.
 * Skips only when the model file or /usr/bin/chromium is absent.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CHROMIUM_BIN, runChromium, skipUnless } from './tools.js';
import { ROOT, skipNoModel, startService, type Service } from './service.js';

const ARTIFACTS = join(ROOT, 'test-artifacts');
const SCREENSHOT = join(ARTIFACTS, 'swagger-ui.png');
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
/** Let Swagger UI fetch /docs/json and render before the DOM is dumped (virtual time, not wall time). */
const RENDER_BUDGET = '--virtual-time-budget=15000';

const skip = skipNoModel || skipUnless(CHROMIUM_BIN, 'chromium');

/** `METHOD /path` of every operation of an OpenAPI document. */
function operations(doc: { paths: Record<string, Record<string, unknown>> }): string[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.keys(item).filter((m) => HTTP_METHODS.includes(m)).map((m) => `${m.toUpperCase()} ${path}`)).sort();
}

/** `METHOD /path` of every operation block Swagger UI rendered (`.opblock` with method + data-path). */
function renderedOperations(dom: string): string[] {
  const out = new Set<string>();
  for (const block of dom.split(/<div class="opblock opblock-/).slice(1)) {
    const method = /^(\w+)/.exec(block)?.[1];
    const path = /data-path="([^"]+)"/.exec(block)?.[1];
    if (method && path) out.add(`${method.toUpperCase()} ${path.replaceAll('&amp;', '&')}`);
  }
  return [...out].sort();
}

describe('Swagger UI in a real browser', { skip }, () => {
  let svc: Service;
  let doc: { paths: Record<string, Record<string, unknown>>; info: { title: string } };

  before(async () => {
    svc = await startService();
    doc = await (await fetch(`${svc.baseUrl}/docs/json`)).json() as typeof doc;
  });
  after(async () => { await svc?.close(); });

  test('the served document equals the committed openapi/openapi.json', () => {
    const committed = JSON.parse(readFileSync(join(ROOT, 'openapi', 'openapi.json'), 'utf8')) as unknown;
    assert.deepEqual(doc, committed, 'run `npm run openapi` and commit openapi/openapi.json');
  });

  test('headless Chromium renders every operation at /docs', async () => {
    const dom = await runChromium(`${svc.baseUrl}/docs`, ['--dump-dom', RENDER_BUDGET]);
    assert.match(dom, /swagger-ui/);
    assert.ok(dom.includes(doc.info.title), 'the API title is shown');
    const expected = operations(doc);
    assert.ok(expected.length >= 5, `the document has the service's operations (${expected.join(', ')})`);
    assert.deepEqual(renderedOperations(dom), expected);
    for (const hidden of ['/metrics', '/docs']) assert.doesNotMatch(dom, new RegExp(`data-path="${hidden}"`));
  });

  test('a screenshot of /docs is saved to test-artifacts/', async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    await runChromium(`${svc.baseUrl}/docs`, [`--screenshot=${SCREENSHOT}`, '--window-size=1280,1800', RENDER_BUDGET]);
    const png = readFileSync(SCREENSHOT);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG file');
    assert.ok(statSync(SCREENSHOT).size > 20_000, 'not a blank page');
  });
});
