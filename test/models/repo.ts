/**
 * A temporary model repository in the versioned layout, built from the shipped models: the graphs
 * are copied once into the repository (a graph must resolve inside MODEL_DIR) and each version
 * folder links to its copy, with its own manifest.json (version, and any edit a test makes).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MODEL_DIR, type AfterHook } from '../helper.js';

/** One version folder to create: `<model>/<version>/` from a shipped model (`shapes` or `shapes-stock`). */
export interface VersionSpec {
  model: string;
  version: string;
  from: 'shapes' | 'shapes-stock';
  /** Edits the manifest (after its version was set). */
  edit?: (manifest: Record<string, unknown>) => void;
}

/** Creates the repository (removed after the test); returns its path. */
export function versionedRepo(t: AfterHook, versions: readonly VersionSpec[]): string {
  const root = mkdtempSync(join(tmpdir(), 'mrcnn-repo-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, '.graphs'));
  const copied = new Set<string>();
  for (const v of versions) {
    if (!copied.has(v.from)) {
      copyFileSync(join(MODEL_DIR, v.from, 'model.onnx'), join(root, '.graphs', `${v.from}.onnx`));
      copied.add(v.from);
    }
    const dir = join(root, v.model, v.version);
    mkdirSync(dir, { recursive: true });
    symlinkSync(join(root, '.graphs', `${v.from}.onnx`), join(dir, 'model.onnx'));
    const manifest = JSON.parse(readFileSync(join(MODEL_DIR, v.from, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    manifest.version = v.version;
    v.edit?.(manifest);
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  }
  return root;
}

/** Polls `fn` every 100 ms until it returns a value (not undefined), or fails after `ms`. */
export async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
