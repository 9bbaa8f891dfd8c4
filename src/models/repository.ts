/**
 * @file The model repository: which model versions MODEL_DIR holds, and where.
 *
 * Two layouts, side by side (docs/models.md):
 * - versioned: `MODEL_DIR/<name>/<version>/{manifest.json, model.onnx}`: one folder per version;
 *   the manifest's `version` must equal the folder name;
 * - flat: `MODEL_DIR/<name>/{manifest.json, model.onnx}`: one version, the manifest's `version`.
 *
 * `<name>` (the folder) is the model's name in URLs and MODELS. Without a version, the default
 * version of a versioned model is the highest folder name (numeric-aware: 1.10.0 > 1.9.0).
 * `resolveVersion` finds a version and verifies its files (src/pipeline/manifest.ts: paths inside
 * MODEL_DIR, manifest fields, sha256) without starting any session.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { loadModelFiles, ModelLoadError, type ModelFiles } from '../pipeline/manifest.js';
import { ModelInvalidError, ModelNotFoundError } from './errors.js';

/** A model name or version: a plain folder name. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A version found in the repository, its files verified. */
export interface ResolvedVersion {
  /** Folder name under MODEL_DIR (the model's name in URLs). */
  model: string;
  version: string;
  /** Folder of this version relative to MODEL_DIR (`shapes` or `shapes/1.1.0`). */
  folder: string;
  layout: 'flat' | 'versioned';
  files: ModelFiles;
}

const collator = new Intl.Collator('en', { numeric: true });

/** Sorts version names oldest first (numeric-aware). */
export function sortVersions(versions: readonly string[]): string[] {
  return [...versions].sort((a, b) => collator.compare(a, b));
}

async function isFile(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isFile(), () => false);
}

async function isDir(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isDirectory(), () => false);
}

/** The version folders (those holding a manifest.json) of a versioned model, oldest first. */
async function versionFolders(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const out: string[] = [];
  for (const n of names) {
    if (NAME_PATTERN.test(n) && !n.includes('..') && await isFile(path.join(dir, n, 'manifest.json'))) out.push(n);
  }
  return sortVersions(out);
}

/**
 * What the repository holds for `model`: its layout and versions (flat: the manifest's version is
 * only known once read, so `versions` is empty and `flat` true). Null when there is no such model.
 */
export async function listVersions(modelDir: string, model: string): Promise<{ flat: boolean; versions: string[] } | null> {
  if (!NAME_PATTERN.test(model) || model.includes('..')) return null;
  const dir = path.join(modelDir, model);
  if (!await isDir(dir)) return null;
  if (await isFile(path.join(dir, 'manifest.json'))) return { flat: true, versions: [] };
  const versions = await versionFolders(dir);
  return versions.length > 0 ? { flat: false, versions } : null;
}

/**
 * Finds `model` (at `version`, default: the latest) in the repository and verifies its files.
 * @param fields the request fields to name in errors
 * @throws ModelNotFoundError (no such model or version), ModelInvalidError (the files are broken)
 */
export async function resolveVersion(
  modelDir: string, model: string, version: string | undefined, fields: { name: string | null; version: string | null } = { name: null, version: null },
): Promise<ResolvedVersion> {
  const found = await listVersions(modelDir, model);
  if (!found) throw new ModelNotFoundError(model, undefined, fields.name);
  let folder: string;
  if (found.flat) {
    folder = model;
  } else {
    const v = version ?? found.versions.at(-1)!;
    if (!found.versions.includes(v)) throw new ModelNotFoundError(model, v, fields.version);
    folder = `${model}/${v}`;
  }
  let files: ModelFiles;
  try {
    files = await loadModelFiles(modelDir, folder);
  } catch (err) {
    if (err instanceof ModelLoadError) throw new ModelInvalidError(`model "${model}": ${err.message}`, fields.name);
    throw err;
  }
  const manifestVersion = files.manifest.version;
  if (found.flat) {
    if (version !== undefined && version !== manifestVersion) throw new ModelNotFoundError(model, version, fields.version);
    return { model, version: manifestVersion, folder, layout: 'flat', files };
  }
  const v = folder.slice(model.length + 1);
  if (manifestVersion !== v) {
    throw new ModelInvalidError(`model "${model}": ${path.join(files.dir, 'manifest.json')} says version "${manifestVersion}" but its folder is "${v}"`, fields.version);
  }
  return { model, version: v, folder, layout: 'versioned', files };
}
