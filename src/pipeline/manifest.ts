/**
 * @file Model files: reads `<MODEL_DIR>/<name>/manifest.json`, validates it, resolves the graph file
 * without ever leaving MODEL_DIR (symlinks included) and checks the graph's sha256.
 *
 * Used by src/models/loader.ts at start-up. Every failure is a ModelLoadError whose message names
 * the model, the file and what is wrong, so a broken deployment says why in its first log line.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';

/** Graph flavours: loss-capable (docs/architecture.md outputs) or a stock torchvision export. */
export type ModelFormat = 'loss-capable' | 'stock';

/** The fields of manifest.json the service reads (others are kept in `raw` and shown by GET /models). */
export interface Manifest {
  name: string;
  version: string;
  /** Declared format; when absent it is detected from the graph's output names. */
  format?: ModelFormat;
  /** Graph file, relative to the model folder. */
  file: string;
  /** Lower-case hex sha256 of the graph file. */
  sha256: string;
  /** Class names; category id i+1 is classes[i] (0 = background). */
  classes: string[];
  /** Name of the image input (default `image`). */
  inputName: string;
  /** Name of the ground-truth boxes input of loss-capable graphs (default `gt_boxes`). */
  gtInputName: string;
  /** Logical output name → graph output name (defaults to identity). */
  outputs: Record<string, string>;
  /** The loss constants (docs/losses.md#loss-constants), passed through to the losses core untouched. */
  lossConstants: Record<string, unknown> | null;
  /** The whole parsed manifest. */
  raw: Record<string, unknown>;
}

/** A resolved, verified model on disk. */
export interface ModelFiles {
  manifest: Manifest;
  /** Absolute real path of the model folder. */
  dir: string;
  /** Absolute real path of the graph, inside `dir`. */
  graphPath: string;
  /** Size of the graph in bytes. */
  graphBytes: number;
}

/** Start-up failure of model loading; the message is meant for the operator. */
export class ModelLoadError extends Error {
  override readonly name = 'ModelLoadError';
}

function isInside(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** Resolves `rel` against `base` (inside `root`), following symlinks; refuses anything outside `root`. */
async function safeResolve(root: string, base: string, rel: string, what: string): Promise<string> {
  if (path.isAbsolute(rel)) throw new ModelLoadError(`${what} must be a relative path, got "${rel}"`);
  const joined = path.resolve(base, rel);
  if (!isInside(root, joined)) throw new ModelLoadError(`${what} "${rel}" escapes the models directory ${root}`);
  let real: string;
  try {
    real = await realpath(joined);
  } catch {
    throw new ModelLoadError(`${what} not found: ${joined}`);
  }
  if (!isInside(root, real)) throw new ModelLoadError(`${what} "${rel}" resolves to ${real}, outside the models directory ${root}`);
  return real;
}

/** Streams a file through sha256; returns lower-case hex. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function req<T>(ok: boolean, value: T, where: string, msg: string): T {
  if (!ok) throw new ModelLoadError(`${where}: ${msg}`);
  return value;
}

/**
 * Validates a parsed manifest.json object.
 * @param where prefix for messages, e.g. the manifest's path.
 */
export function parseManifest(raw: unknown, where: string): Manifest {
  const m = req(typeof raw === 'object' && raw !== null && !Array.isArray(raw), raw as Record<string, unknown>, where, 'must be a JSON object');
  const s = (k: string): string => req(typeof m[k] === 'string' && (m[k] as string).length > 0, m[k] as string, where, `"${k}" must be a non-empty string`);
  const name = s('name');
  const version = s('version');
  const file = s('file');
  const sha256 = s('sha256').toLowerCase();
  req(/^[0-9a-f]{64}$/.test(sha256), 0, where, '"sha256" must be 64 hex digits');
  const classes = req(Array.isArray(m.classes) && m.classes.length > 0 && m.classes.every((c) => typeof c === 'string' && c.length > 0),
    m.classes as string[], where, '"classes" must be a non-empty array of class names (background excluded)');
  let format: ModelFormat | undefined;
  if (m.format !== undefined) {
    format = req(m.format === 'loss-capable' || m.format === 'stock', m.format as ModelFormat, where, '"format" must be "loss-capable" or "stock"');
  }
  const input = (typeof m.input === 'object' && m.input !== null ? m.input : {}) as Record<string, unknown>;
  const inputName = typeof input.name === 'string' ? input.name : 'image';
  const gtInputName = typeof m.gt_input === 'string' ? m.gt_input : 'gt_boxes';
  const outputs: Record<string, string> = {};
  if (m.outputs !== undefined) {
    req(typeof m.outputs === 'object' && m.outputs !== null && !Array.isArray(m.outputs), 0, where, '"outputs" must be an object of logical name → graph output name');
    for (const [k, v] of Object.entries(m.outputs as Record<string, unknown>)) {
      outputs[k] = req(typeof v === 'string', v as string, where, `"outputs.${k}" must be a string`);
    }
  }
  const lc = m.loss_constants;
  const lossConstants = typeof lc === 'object' && lc !== null && !Array.isArray(lc) ? (lc as Record<string, unknown>) : null;
  return { name, version, ...(format ? { format } : {}), file, sha256, classes, inputName, gtInputName, outputs, lossConstants, raw: m };
}

/**
 * Loads and verifies a model folder.
 * @param modelDir the configured models directory (MODEL_DIR); nothing outside it is read.
 * @param modelName folder name under modelDir (MODEL_NAME).
 * @throws ModelLoadError naming the missing file, the manifest field or the sha256 mismatch.
 */
export async function loadModelFiles(modelDir: string, modelName: string): Promise<ModelFiles> {
  let root: string;
  try {
    root = await realpath(modelDir);
  } catch {
    throw new ModelLoadError(`models directory not found: ${modelDir} (set MODEL_DIR)`);
  }
  const dir = await safeResolve(root, root, modelName, `model folder "${modelName}"`);
  const manifestPath = await safeResolve(root, dir, 'manifest.json', `manifest of model "${modelName}"`);
  let text: string;
  try {
    text = await readFile(manifestPath, 'utf8');
  } catch (err) {
    throw new ModelLoadError(`cannot read ${manifestPath}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ModelLoadError(`${manifestPath} is not valid JSON: ${(err as Error).message}`);
  }
  const manifest = parseManifest(parsed, manifestPath);
  const graphPath = await safeResolve(root, dir, manifest.file, `graph file "${manifest.file}" of model "${modelName}"`);
  const st = await stat(graphPath);
  if (!st.isFile()) throw new ModelLoadError(`graph ${graphPath} is not a regular file`);
  const actual = await sha256File(graphPath);
  if (actual !== manifest.sha256) {
    throw new ModelLoadError(`sha256 mismatch for ${graphPath}: manifest says ${manifest.sha256}, file is ${actual} (re-export the model or fix manifest.json)`);
  }
  return { manifest, dir, graphPath, graphBytes: st.size };
}
