/**
 * @file buildApp(config): the whole service as a Fastify instance, without listening (tests use
 * `inject` or `listen({port: 0})`; src/server.ts listens and handles signals).
 *
 * Registration order is explicit and is the data flow: error handlers → auth (tokens, scopes, rate
 * limits; its onRoute hook must see every route, docs/security.md) → metrics → swagger (it must
 * see every route) → multipart → engines (models: the registry; jobs: the store and the job
 * service) → routes (health, models, predict, evaluate, evaluations).
 * Shutdown: `app.close()` stops accepting connections, and from then on every request that still
 * arrives on an open connection gets 503 MRC_ERR_SHUTTING_DOWN; requests already running finish;
 * running jobs stop at their next image and stay resumable, the store closes, then the models let
 * running inferences end and release the sessions.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import multipart from '@fastify/multipart';
import type { Config } from './config.js';
import { Errors, installErrorHandlers, sendError, withField } from './errors.js';
import metricsPlugin, { type MetricsPluginOptions } from './plugins/metrics.js';
import authPlugin from './plugins/auth.js';
import { withRedaction } from './auth/redact.js';
import modelsPlugin from './plugins/models.js';
import swaggerPlugin, { type SwaggerPluginOptions } from './plugins/swagger.js';
import evaluateRoutes from './routes/evaluate.js';
import evaluationsRoutes from './routes/evaluations.js'; // evaluation jobs
import jobsPlugin, { type JobsPluginOptions } from './plugins/jobs.js';
import driftPlugin, { type DriftPluginOptions } from './plugins/drift.js';
import historyPlugin, { type HistoryPluginOptions } from './plugins/history.js';
import datasetsRoutes from './routes/datasets.js'; // golden datasets (docs/history.md)
import historyRoutes from './routes/history.js'; // history, series, comparisons (docs/history.md)
import driftRoutes from './routes/drift.js'; // drift of /predict traffic (docs/drift.md)
import dashboardRoutes from './routes/dashboard.js'; // GET /dashboard (docs/observability.md)
import healthRoutes from './routes/health.js';
import modelsRoutes from './routes/models.js';
import oipRoutes from './routes/oip/index.js'; // Open Inference Protocol v2 health and metadata (docs/models.md)
import predictRoutes from './routes/predict.js';

/** Options of {@link buildApp} that are not configuration (tests, embedding). */
export interface BuildOptions {
  /** Fastify logger option; default: pino at config.logLevel. */
  logger?: FastifyServerOptions['logger'];
  /** Await model load + warm-up before resolving (default true). server.ts passes false. */
  waitForModel?: boolean;
  metrics?: MetricsPluginOptions;
  swagger?: SwaggerPluginOptions;
  /** The job store and service (tests: a given store, the temp root, a clock); limits are JOBS_* in the config. */
  jobs?: JobsPluginOptions;
  /** Drift window options (tests: a clock, a small window). */
  drift?: DriftPluginOptions;
  /** Datasets, schedules and history (tests: a clock, the poll period). */
  history?: HistoryPluginOptions;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** True from the start of close(): new requests get 503. */
    draining: boolean;
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Builds the app: plugins, then routes, then `ready()`.
 * @throws ModelLoadError (waitForModel) naming the missing file, bad sha256, bad manifest or EP;
 *   StoreCorruptError / SchemaTooNewError (the job store cannot be opened).
 */
export async function buildApp(config: Config, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: withRedaction(opts.logger ?? { level: config.logLevel }), // never the Authorization header (src/auth/redact.ts)
    bodyLimit: config.bodyLimit,
    requestTimeout: config.requestTimeoutMs,
    return503OnClosing: false, // our onRequest hook answers 503 in the common error shape
    // Router-level errors (undecodable URL, over-long path parameter) in the common error shape too.
    frameworkErrors: (err, _request, reply) => { sendError(reply, err); },
    requestIdHeader: false, // genReqId reads and validates x-request-id itself
    genReqId: (req) => {
      const h = req.headers['x-request-id'];
      return typeof h === 'string' && REQUEST_ID.test(h) ? h : randomUUID();
    },
  });
  app.decorate('config', config);
  app.decorate('draining', false);

  installErrorHandlers(app);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    if (app.draining && request.url !== '/health/live') {
      app.metrics.rejected('shutting_down');
      reply.header('connection', 'close');
      return sendError(reply, new Errors.SHUTTING_DOWN());
    }
    return undefined;
  });
  // Ajv coerces "Infinity"/"1e999" query strings to ±Infinity and then skips minimum/maximum
  // (its range checks are guarded by isFinite): refuse non-finite numbers after validation.
  app.addHook('preHandler', async (request) => {
    const q = request.query;
    if (q === null || typeof q !== 'object') return;
    for (const [key, value] of Object.entries(q as Record<string, unknown>)) {
      if (typeof value === 'number' && !Number.isFinite(value)) {
        throw withField(new Errors.VALIDATION(`querystring/${key} must be a finite number`), `querystring.${key}`);
      }
    }
  });
  app.addHook('preClose', async () => {
    app.draining = true;
  });
  // server.close() only closes the connections idle at that moment. A keep-alive connection whose
  // request finishes later is closed as soon as it is idle; one that already carries a next
  // (pipelined) request stays open until that request got its 503.
  app.addHook('onResponse', async () => {
    if (app.draining) setImmediate(() => app.server.closeIdleConnections());
  });

  // access control first: its onRoute hook must see every route (metrics, docs and the routes below)
  await app.register(authPlugin, { publicPrefixes: [opts.swagger?.routePrefix ?? '/docs'] });
  await app.register(metricsPlugin, opts.metrics ?? {});
  await app.register(swaggerPlugin, opts.swagger ?? {});
  await app.register(multipart, {
    limits: { fileSize: config.bodyLimit, files: 2, fields: 8, parts: 16, headerPairs: 200 },
    throwFileSizeLimit: true,
  });
  await app.register(modelsPlugin, { waitForModel: opts.waitForModel ?? true });
  await app.register(jobsPlugin, { waitForStore: opts.waitForModel ?? true, ...opts.jobs });
  await app.register(driftPlugin, opts.drift ?? {});
  await app.register(historyPlugin, opts.history ?? {});

  await app.register(healthRoutes);
  await app.register(modelsRoutes);
  await app.register(predictRoutes);
  await app.register(evaluateRoutes);
  await app.register(evaluationsRoutes); // evaluation jobs: /evaluations (docs/jobs.md)
  await app.register(datasetsRoutes);
  await app.register(historyRoutes);
  // the same for one model (its default version) and for one version (docs/models.md)
  for (const prefix of ['/models/:name', '/models/:name/versions/:version']) {
    await app.register(predictRoutes, { prefix });
    await app.register(evaluateRoutes, { prefix });
    await app.register(evaluationsRoutes, { prefix }); // only POST
  }
  await app.register(oipRoutes);
  await app.register(driftRoutes);
  await app.register(dashboardRoutes);

  await app.ready();
  return app;
}
