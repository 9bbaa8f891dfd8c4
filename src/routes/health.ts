/**
 * @file ① GET /health/live and GET /health/ready.
 * Live: the process answers (also during a long inference: inference runs in worker threads).
 * Ready: the model is loaded and warmed up, and the server is not shutting down; otherwise 503 in
 * the error shape (MRC_ERR_MODEL_NOT_READY / MRC_ERR_SHUTTING_DOWN) with Retry-After. It also
 * reports the job store (`store: {engine, ok}`, ok = it answered a trivial query within a second):
 * a store that is down only stops evaluation jobs (503 MRC_ERR_STORE_UNAVAILABLE), not /predict, so
 * it does not make the service unready.
 */
import type { FastifyInstance } from 'fastify';
import { Errors } from '../errors.js';
import { errorResponses } from '../schemas/common.js';
import { LiveSchema, ReadySchema } from '../schemas/model.js';

/** Registers the health routes. */
export default async function healthRoutes(app: FastifyInstance): Promise<void> {
  app.get('/health/live', {
    config: { scope: 'public' },
    schema: {
      tags: ['health'],
      operationId: 'getLiveness',
      summary: 'Liveness: the process is up and its event loop answers',
      response: { 200: LiveSchema, ...errorResponses(500) },
    },
  }, async () => ({ status: 'ok' as const, uptime_s: Math.round(process.uptime() * 1000) / 1000 }));

  app.get('/health/ready', {
    config: { scope: 'public' },
    schema: {
      tags: ['health'],
      operationId: 'getReadiness',
      summary: 'Readiness: model loaded and warmed up, not shutting down',
      response: { 200: ReadySchema, ...errorResponses(500, 503) },
    },
  }, async (_request, reply) => {
    const model = app.models.default;
    if (app.draining || model.state === 'closed') {
      reply.header('retry-after', '5');
      throw new Errors.SHUTTING_DOWN();
    }
    if (!model.ready) {
      reply.header('retry-after', '5');
      throw new Errors.MODEL_NOT_READY();
    }
    const runtime = model.require();
    const store = app.jobs.store;
    const ok = await Promise.race([
      store.ping().then(() => true, () => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 1000).unref()),
    ]);
    const m = runtime.files.manifest;
    const pool = runtime.pipeline.pool;
    return {
      status: 'ready' as const,
      model: { name: m.name, version: m.version, execution_provider: runtime.session.provider },
      queue_depth: pool.queueDepth,
      busy_workers: pool.busy,
      store: { engine: store.engine, ok },
      auth: app.auth.enabled ? 'on' as const : 'off' as const,
    };
  });
}
