/**
 * Model-mode evaluation does not fetch the graph's anchors; the loader compares them once, on the
 * warm-up image, with the anchors regenerated from the manifest's loss_constants. A manifest that
 * does not describe its graph (here: other anchor sizes) fails the load with a message naming the
 * difference, instead of giving wrong losses.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildApp } from '../../src/app.js';
import { MODEL_DIR, testConfig } from '../helper.js';

function modelWith(edit: (lc: Record<string, unknown>) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'mrcnn-anchors-'));
  mkdirSync(join(dir, 'shapes'));
  copyFileSync(join(MODEL_DIR, 'shapes', 'model.onnx'), join(dir, 'shapes', 'model.onnx'));
  const manifest = JSON.parse(readFileSync(join(MODEL_DIR, 'shapes', 'manifest.json'), 'utf8'));
  edit(manifest.loss_constants);
  writeFileSync(join(dir, 'shapes', 'manifest.json'), JSON.stringify(manifest));
  return dir;
}

test('EXPECTED FAILURE - loss_constants with other anchor sizes than the graph\'s fail the load, naming the anchors', async (t) => {
  const dir = modelWith((lc) => { lc.anchor_sizes = [32, 64, 128, 256, 512]; });
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await assert.rejects(buildApp(testConfig({ MODEL_DIR: dir }), { logger: false }), /loss_constants do not describe the graph: its anchors differ/);
});

test('the shipped manifest passes the check (the same load with the true constants succeeds)', async (t) => {
  const dir = modelWith(() => {});
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const app = await buildApp(testConfig({ MODEL_DIR: dir }), { logger: false });
  await app.close();
});
