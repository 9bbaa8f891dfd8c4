/**
 * The committed OpenAPI document (openapi/openapi.json): valid per @readme/openapi-parser (OpenAPI
 * 3.1 schema + its extra rules), identical to what `npm run openapi` generates from the route
 * schemas (the `openapi:check` drift gate), /metrics and /docs hidden, and every operation
 * documented: tags, summary, a JSON 2xx schema, error responses in the one error shape, and none
 * of the documentation gaps below (examples, request bodies of non-JSON uploads, operationIds,
 * parameter descriptions): a gap fails the suite and is listed in the failure message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { compileErrors, validate } from '@readme/openapi-parser';
import { OPENAPI_FILE, firstDifferences, generateOpenApi } from '../../scripts/openapi.js';
import { OPENAPI_VERSION, TAGS } from '../../src/plugins/swagger.js';
import type { OpenApiDoc } from './client.js';

type Op = OpenApiDoc['paths'][string][string] & { tags?: string[]; description?: string };
const readCommitted = (): string => readFileSync(OPENAPI_FILE, 'utf8');
const committedDoc = (): OpenApiDoc & { info: { title: string; version: string }; tags: Array<{ name: string }> } =>
  JSON.parse(readCommitted()) as never;
const HTTP = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

function eachOperation(doc: OpenApiDoc): Array<{ key: string; op: Op }> {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).filter(([m]) => HTTP.includes(m)).map(([m, op]) => ({ key: `${m.toUpperCase()} ${path}`, op: op as Op })));
}

test('openapi/openapi.json is a valid OpenAPI 3.1 document', async () => {
  const doc = committedDoc();
  assert.equal(doc.openapi, OPENAPI_VERSION);
  const result = await validate(structuredClone(doc) as never);
  assert.ok(result.valid, result.valid ? '' : compileErrors(result));
});

test('openapi/openapi.json is up to date with the route schemas (npm run openapi:check)', async () => {
  const generated = await generateOpenApi();
  const committed = readCommitted();
  assert.ok(committed === generated,
    `openapi/openapi.json is stale: run \`npm run openapi\` and commit it.\n${firstDifferences(committed, generated).join('\n')}`);
});

test('the document lists the service operations and hides /metrics and /docs', () => {
  const keys = eachOperation(committedDoc()).map((o) => o.key);
  for (const k of ['GET /health/live', 'GET /health/ready', 'GET /models', 'POST /predict', 'POST /evaluate']) {
    assert.ok(keys.includes(k), `${k} is documented`);
  }
  assert.ok(!keys.some((k) => k.includes('/metrics') || k.includes('/docs')), `hidden routes stay hidden: ${keys.join(', ')}`);
});

test('every operation has known tags, a summary, a JSON 2xx schema and error responses in the error shape', () => {
  const known = new Set<string>(TAGS.map((t) => t.name));
  const doc = committedDoc();
  assert.deepEqual(doc.tags.map((t) => t.name), [...known]);
  for (const { key, op } of eachOperation(doc)) {
    assert.ok(op.tags?.length && op.tags.every((t) => known.has(t)), `${key}: tags ${op.tags} are among ${[...known]}`);
    assert.ok(op.summary, `${key}: has a summary`);
    const ok = Object.entries(op.responses).find(([s]) => /^2\d\d$/.test(s));
    // A JSON schema for the 2xx answer; pages and static files (HTML, JS) document their media type instead; 204 has no body.
    const content = (ok?.[1].content ?? {}) as Record<string, { schema?: unknown }>;
    const documented = content['application/json']?.schema ?? (Object.keys(content).some((t) => /^text\//.test(t)) && Object.values(content).every((c) => c.schema));
    assert.ok(ok?.[0] === '204' || documented, `${key}: a JSON 2xx response schema (or a documented text/* page, or 204 No Content)`);
    for (const [status, res] of Object.entries(op.responses).filter(([s]) => /^[45]\d\d$/.test(s))) {
      const schema = res.content?.['application/json']?.schema as { required?: string[] } | undefined;
      assert.ok(schema, `${key} ${status}: has a JSON schema`);
      for (const f of ['statusCode', 'code', 'error', 'message']) assert.ok(schema.required?.includes(f), `${key} ${status}: error shape requires ${f}`);
      assert.notEqual(res.description, 'Default Response', `${key} ${status}: has a real description`);
    }
  }
});

/** Documentation gaps, fixed in the route schemas (src/schemas/**, src/routes/**). */
function documentationGaps(doc: OpenApiDoc): string[] {
  const gaps: string[] = [];
  for (const { key, op } of eachOperation(doc)) {
    if (!op.operationId) gaps.push(`${key}: no operationId (generated clients name methods from it)`);
    for (const [status, res] of Object.entries(op.responses)) {
      const media = res.content?.['application/json'] as { schema?: { examples?: unknown[] }; example?: unknown; examples?: unknown } | undefined;
      if (/^2/.test(status) && res.description === 'Default Response') gaps.push(`${key} ${status}: no response description`);
      if (media && media.example === undefined && media.examples === undefined && !media.schema?.examples) gaps.push(`${key} ${status}: no example`);
    }
    if (!Object.keys(op.responses).some((s) => /^[45]\d\d$/.test(s))) gaps.push(`${key}: no error responses (not even 500)`);
    if (key === 'POST /predict' && !op.requestBody) gaps.push(`${key}: no requestBody (multipart/form-data \`image\` and image/jpeg|png|webp raw bodies are undocumented)`);
    if (key === 'POST /predict' && !op.responses['200']?.content?.['image/png']) gaps.push(`${key} 200: the image/png answer (Accept: image/png) is undocumented`);
    if (key === 'POST /evaluate' && !op.requestBody?.content['multipart/form-data']) gaps.push(`${key}: model mode (multipart/form-data image files + annotations) is undocumented`);
    for (const p of op.parameters ?? []) {
      if (p.in === 'query' && p.required && (p.schema as { default?: unknown } | undefined)?.default !== undefined) {
        gaps.push(`${key}: query parameter ${p.name} has a default but is marked required (use Type.Optional)`);
      }
      if (!(p as { description?: string }).description) gaps.push(`${key}: parameter ${p.name} has no description`);
    }
  }
  return gaps;
}

test('documentation completeness: no gaps (examples, request bodies, operationIds, descriptions)', () => {
  const gaps = documentationGaps(committedDoc());
  assert.equal(gaps.length, 0, `${gaps.length} documentation gaps in src/schemas/** / src/routes/**:\n${gaps.join('\n')}`);
});
