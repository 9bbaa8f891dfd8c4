/**
 * manifest.ts: every start-up failure names what is wrong (missing folder/manifest/graph, bad JSON,
 * bad field, sha256 mismatch) and nothing outside MODEL_DIR is ever read (.., absolute, symlinks).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModelFiles, ModelLoadError, parseManifest } from '../../src/pipeline/manifest.js';

const graph = Buffer.from('not really onnx, but hashed all the same');
const sha = createHash('sha256').update(graph).digest('hex');
const manifest = (over: Record<string, unknown> = {}): string => JSON.stringify({
  name: 'toy', version: '0.1.0', format: 'stock', file: 'model.onnx', sha256: sha, classes: ['a', 'b'], ...over,
});

function setup(t: { after(fn: () => void): void }): string {
  const root = mkdtempSync(join(tmpdir(), 'mrc-models-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'models', 'toy'), { recursive: true });
  writeFileSync(join(root, 'models', 'toy', 'model.onnx'), graph);
  writeFileSync(join(root, 'outside.onnx'), graph);
  return root;
}

async function fails(dir: string, name: string, re: RegExp): Promise<void> {
  await assert.rejects(loadModelFiles(dir, name), (err: Error) => {
    assert.ok(err instanceof ModelLoadError, `${err.name}: ${err.message}`);
    assert.match(err.message, re);
    return true;
  });
}

test('a valid model folder resolves, with the graph verified against its sha256', async (t) => {
  const root = setup(t);
  writeFileSync(join(root, 'models', 'toy', 'manifest.json'), manifest());
  const files = await loadModelFiles(join(root, 'models'), 'toy');
  assert.equal(files.manifest.name, 'toy');
  assert.equal(files.manifest.inputName, 'image');
  assert.equal(files.graphBytes, graph.length);
  assert.ok(files.graphPath.endsWith(join('toy', 'model.onnx')));
});

test('EXPECTED FAILURE - missing models dir, folder, manifest, graph; bad JSON', async (t) => {
  const root = setup(t);
  await fails(join(root, 'nope'), 'toy', /models directory not found/);
  await fails(join(root, 'models'), 'other', /model folder "other" not found/);
  await fails(join(root, 'models'), 'toy', /manifest of model "toy" not found/);
  writeFileSync(join(root, 'models', 'toy', 'manifest.json'), '{"name": ');
  await fails(join(root, 'models'), 'toy', /manifest\.json is not valid JSON/);
  writeFileSync(join(root, 'models', 'toy', 'manifest.json'), manifest({ file: 'missing.onnx' }));
  await fails(join(root, 'models'), 'toy', /graph file "missing\.onnx" of model "toy" not found/);
});

test('EXPECTED FAILURE - sha256 mismatch names both hashes', async (t) => {
  const root = setup(t);
  writeFileSync(join(root, 'models', 'toy', 'manifest.json'), manifest({ sha256: '0'.repeat(64) }));
  await fails(join(root, 'models'), 'toy', new RegExp(`sha256 mismatch.*manifest says 0{64}, file is ${sha}`));
});

test('EXPECTED FAILURE - paths escaping MODEL_DIR: .., absolute, symlinked graph or folder', async (t) => {
  const root = setup(t);
  const models = join(root, 'models');
  await fails(models, '../models/toy', /escapes the models directory|not found/);
  writeFileSync(join(models, 'toy', 'manifest.json'), manifest({ file: '../../outside.onnx' }));
  await fails(models, 'toy', /escapes the models directory/);
  writeFileSync(join(models, 'toy', 'manifest.json'), manifest({ file: join(root, 'outside.onnx') }));
  await fails(models, 'toy', /must be a relative path/);
  symlinkSync(join(root, 'outside.onnx'), join(models, 'toy', 'link.onnx'));
  writeFileSync(join(models, 'toy', 'manifest.json'), manifest({ file: 'link.onnx' }));
  await fails(models, 'toy', /outside the models directory/);
  symlinkSync(root, join(models, 'escape'));
  await fails(models, 'escape', /outside the models directory/);
});

test('parseManifest names the bad field', () => {
  const ok = JSON.parse(manifest()) as Record<string, unknown>;
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ ...ok, name: '' }, /"name" must be a non-empty string/],
    [{ ...ok, sha256: 'abc' }, /"sha256" must be 64 hex digits/],
    [{ ...ok, classes: [] }, /"classes" must be a non-empty array/],
    [{ ...ok, format: 'weird' }, /"format" must be "loss-capable" or "stock"/],
    [{ ...ok, outputs: { det_boxes: 3 } }, /"outputs\.det_boxes" must be a string/],
  ];
  for (const [m, re] of bad) assert.throws(() => parseManifest(m, 'manifest.json'), re);
  assert.throws(() => parseManifest([], 'x'), /must be a JSON object/);
});
