/**
 * @file Which model version a request is for. The inference and evaluation route plugins
 * (predict, evaluate, evaluations) are registered three times (src/app.ts):
 *   `/predict`                                  → the default model, its default version;
 *   `/models/:name/predict`                     → model `name`, its default version;
 *   `/models/:name/versions/:version/predict`   → that version.
 * {@link modelRoute} gives each registration its params schema, a distinct operationId, and the
 * lookups (404 MRC_ERR_MODEL_NOT_FOUND naming `params.name` / `params.version`).
 */
import { Type, type TObject } from '@sinclair/typebox';
import { Errors, withField } from '../errors.js';
import type { Lease, ModelEntry, ModelRegistry } from '../models/registry.js';

/** Options the route plugins are registered with. */
export interface ModelRouteOptions {
  prefix?: string;
}

/** The path parameters of the per-model registrations. */
export interface ModelParams {
  name?: string;
  version?: string;
}

const NAME = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', description: 'Model: its folder under MODEL_DIR (e.g. `shapes`) or its manifest `name`' });
const VERSION = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', description: 'Version of the model (e.g. `1.1.0`)' });

/** What a route plugin needs to know about the registration it is in. */
export interface ModelRoute {
  /** `params` for the route schema (absent on the default registration). */
  readonly schema: { params?: TObject };
  /** `base` + `ForModel` / `ForModelVersion`: operationIds stay unique. */
  operationId(base: string): string;
  /** The entry the request names (the default model's default version without params). */
  entry(registry: ModelRegistry, params: unknown): ModelEntry;
  /** Holds the ready version for the request (release in a `finally`). */
  acquire(registry: ModelRegistry, params: unknown): Lease;
  /** The model and version the path names ({} on the default registration). */
  target(params: unknown): ModelParams;
}

/** See the file header. */
export function modelRoute(opts: ModelRouteOptions = {}): ModelRoute {
  const prefix = opts.prefix ?? '';
  const hasName = prefix.includes(':name');
  const hasVersion = prefix.includes(':version');
  const schema = hasVersion ? { params: Type.Object({ name: NAME, version: VERSION }) } : hasName ? { params: Type.Object({ name: NAME }) } : {};
  const suffix = hasVersion ? 'ForModelVersion' : hasName ? 'ForModel' : '';
  const target = (params: unknown): ModelParams => {
    const p = (params ?? {}) as ModelParams;
    return { ...(hasName && p.name !== undefined ? { name: p.name } : {}), ...(hasVersion && p.version !== undefined ? { version: p.version } : {}) };
  };
  const entry = (registry: ModelRegistry, params: unknown): ModelEntry => {
    const t = target(params);
    return t.name === undefined ? registry.get() : registry.get(t.name, t.version, 'params.name', 'params.version');
  };
  return {
    schema,
    operationId: (base) => `${base}${suffix}`,
    entry,
    acquire: (registry, params) => entry(registry, params).acquire(),
    target,
  };
}

/**
 * The model and version of a JSON submission that may name them in its body (`model`, `version`)
 * and in the path: the path wins; a body value that differs from the path's is a 400 naming it.
 */
export function mergeTarget(path: ModelParams, body: { model?: unknown; version?: unknown }): ModelParams {
  const out: ModelParams = { ...path };
  for (const [key, field] of [['name', 'model'], ['version', 'version']] as const) {
    const b = body[field];
    if (b === undefined || b === null) continue;
    if (typeof b !== 'string') throw withField(new Errors.VALIDATION(`body.${field} must be a string`), `body.${field}`);
    if (path[key] !== undefined && path[key] !== b) {
      throw withField(new Errors.VALIDATION(`body.${field} "${b}" differs from the ${key} in the path "${path[key]}": leave it out or send the same`), `body.${field}`);
    }
    out[key] = b;
  }
  return out;
}
