/**
 * The OpenAPI document and Swagger UI. @fastify/swagger (dynamic mode) builds the document from the
 * route schemas in src/schemas/ — they are the single source of truth — and
 * @fastify/swagger-ui serves it at /docs (HTML), /docs/json and /docs/yaml.
 *
 * Register this plugin BEFORE the routes: @fastify/swagger collects routes through an onRoute hook.
 * `npm run openapi` (scripts/openapi.ts) writes the same document to openapi/openapi.json; CI runs
 * `npm run openapi:check` to fail on drift. Routes with `schema.hide` (GET /metrics, the /docs
 * routes themselves) stay out of the document.
 * @see https://github.com/fastify/fastify-swagger
 * @see https://github.com/fastify/fastify-swagger-ui
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { SECURITY_SCHEME } from './auth.js';

/** OpenAPI 3.1: TypeBox emits `type: 'null'` and `const`, which 3.0 cannot express. */
export const OPENAPI_VERSION = '3.1.0';

/** Operation tags, in the order Swagger UI lists them. Route schemas use these names. */
export const TAGS = [
  { name: 'inference', description: 'Run the model on an image: instances with boxes, masks and scores, or a rendered PNG.' },
  { name: 'evaluation', description: 'The five Mask R-CNN losses, COCO AP/AR (bbox, segm) and per-class VOC tables for a labelled set.' },
  { name: 'models', description: 'The loaded models and versions: metadata (classes, execution provider, inputs and outputs), state, loading, unloading, default versions; Open Inference Protocol metadata.' },
  { name: 'health', description: 'Liveness and readiness probes for orchestrators.' },
  { name: 'datasets', description: 'Golden datasets stored once and evaluated again and again: on request, on a cron schedule, when a model version is loaded or becomes the default.' },
  { name: 'history', description: 'Evaluations over time: the history with summaries, series per dataset and model, paired-bootstrap comparisons, diagnosis.' },
  { name: 'drift', description: 'Quality watch without labels: distributions of /predict answers per model version against a pinned reference (PSI).' },
  { name: 'dashboard', description: 'The dashboard page and its static files (Chart.js bundled: works offline).' },
] as const;

export interface SwaggerPluginOptions {
  /** Where Swagger UI lives (default `/docs`); the document is also at `<prefix>/json` and `/yaml`. */
  routePrefix?: string;
  /** Serve Swagger UI (default true). The document is still built when false (app.swagger()). */
  ui?: boolean;
  /** OpenAPI `servers`; default one relative server, so the document works behind any host/port. */
  servers?: Array<{ url: string; description?: string }>;
  /** `info.version`; defaults to package.json's version. */
  version?: string;
}

/** package.json fields, found by walking up from this file (works from src/ and dist/src/). */
function packageJson(): { version: string; description: string; license: string } {
  let dir = import.meta.dirname;
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
      if (typeof pkg.version === 'string') {
        return {
          version: pkg.version,
          description: typeof pkg.description === 'string' ? pkg.description : '',
          license: typeof pkg.license === 'string' ? pkg.license : 'UNLICENSED',
        };
      }
    } catch { /* not here: go up */ }
    dir = dirname(dir);
  }
  return { version: '0.0.0', description: '', license: 'UNLICENSED' };
}

const DESCRIPTION = [
  'Serves a Mask R-CNN ONNX model: `POST /predict` returns instances (COCO `[x, y, w, h]` boxes,',
  'pycocotools-compatible RLE masks) or a rendered PNG; `POST /evaluate` computes the five torchvision',
  'losses, COCO AP/AR and per-class VOC AP for a labelled set (model mode) or for given detections',
  '(detections mode).',
  '',
  'Every JSON error has the shape `{"statusCode", "code": "MRC_...", "error", "message", "field"?}`;',
  '`field` is the path of the offending input when there is one. Prometheus metrics are at `GET /metrics`',
  '(text format, not part of this document).',
  '',
  'Access control: with TOKENS_FILE set, send `Authorization: Bearer <token>`; each operation names the scope it needs',
  '(401 `MRC_ERR_UNAUTHORIZED` without a valid token, 403 `MRC_ERR_FORBIDDEN` without the scope, 429 `MRC_ERR_RATE_LIMITED`',
  'with Retry-After over the rate limit). Evaluation jobs are visible only to the token that created them.',
].join('\n');

async function swaggerPlugin(app: FastifyInstance, opts: SwaggerPluginOptions): Promise<void> {
  const pkg = packageJson();
  await app.register(swagger, {
    openapi: {
      openapi: OPENAPI_VERSION,
      info: {
        title: 'Mask R-CNN inference and evaluation service',
        summary: pkg.description,
        description: DESCRIPTION,
        version: opts.version ?? pkg.version,
        license: { name: pkg.license, identifier: pkg.license },
      },
      servers: opts.servers ?? [{ url: '/', description: 'This service (same origin)' }],
      tags: TAGS.map((t) => ({ ...t })),
      // Operations list the scope they need in `security` (src/plugins/auth.ts); public ones `security: []`.
      components: {
        securitySchemes: {
          [SECURITY_SCHEME]: {
            type: 'http', scheme: 'bearer',
            description: 'A token from TOKENS_FILE: `Authorization: Bearer <token>`. Each operation names the scope it needs '
              + '(inference, evaluate, manage, metrics). Without TOKENS_FILE the service is open and no token is needed (docs/security.md).',
          },
        },
      },
    },
  });
  if (opts.ui !== false) {
    await app.register(swaggerUi, {
      routePrefix: opts.routePrefix ?? '/docs',
      uiConfig: { deepLinking: true, docExpansion: 'list', displayRequestDuration: true, persistAuthorization: true },
      staticCSP: true,
    });
  }
}

export default fp(swaggerPlugin, { name: 'swagger', fastify: '5.x' });
