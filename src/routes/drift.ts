/**
 * @file Drift of /predict traffic without labels (docs/drift.md), the HTTP edge of src/drift:
 * - `GET /drift?model=&version=` (scope `inference`): the current window's histograms, the pinned
 *   reference's, and the PSI of each feature;
 * - `POST /drift/reference` (scope `evaluate`): pins a reference — the live window (all of it, the
 *   last N predictions, or those of the last T), or a golden set's predictions (a finished
 *   evaluation, or the newest one of a dataset by this model version);
 * - `DELETE /drift/reference?model=&version=` (scope `evaluate`): removes it.
 */
import type { FastifyInstance } from 'fastify';
import { ownerOf } from '../auth/scopes.js';
import type { ModelKey } from '../drift/collector.js';
import { DriftNoDataError } from '../drift/errors.js';
import { Errors, withField } from '../errors.js';
import { ModelNotFoundError } from '../models/errors.js';
import { errorResponses } from '../schemas/common.js';
import { DriftQuerySchema, DriftReferenceSchema, DriftReportSchema, PinBodySchema, type DriftQuery, type PinBody } from '../schemas/drift.js';

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** Registers /drift and /drift/reference. */
export default async function driftRoutes(app: FastifyInstance): Promise<void> {
  const service = app.drift.service;

  /** The model version a request names (the loaded manifest's name, version and classes). */
  function resolve(name: string | undefined, version: string | undefined, where: 'querystring' | 'body'): ModelKey {
    try {
      const m = app.models.get(name, version, `${where}.model`, `${where}.version`).require().files.manifest;
      return { name: m.name, version: m.version, classes: m.classes };
    } catch (err) {
      // a version no longer loaded still has its window (until restart) and its stored reference
      if (err instanceof ModelNotFoundError && name !== undefined && version !== undefined) {
        const w = service.collector.window(name, version);
        if (w) return { name, version, classes: w.classes };
      }
      throw err;
    }
  }

  app.get<{ Querystring: DriftQuery }>('/drift', {
    config: { scope: 'inference' },
    schema: {
      tags: ['drift'], summary: 'Drift of the predictions against the pinned reference (PSI per feature)', operationId: 'getDrift',
      description: 'No labels needed: the class mix, scores, detections per image, mask areas and image sizes of the newest '
        + '/predict answers (DRIFT_WINDOW images of this process) against the pinned reference, with the population stability index '
        + 'of each (null until a reference is pinned and DRIFT_MIN_IMAGES images were counted). See docs/drift.md.',
      querystring: DriftQuerySchema,
      response: { 200: DriftReportSchema, ...errorResponses(400, 404, 500, 503) },
    },
  }, async (request) => {
    const m = resolve(request.query.model, request.query.version, 'querystring');
    return service.report(m.name, m.version, m.classes);
  });

  app.post<{ Body: PinBody }>('/drift/reference', {
    config: { scope: 'evaluate' },
    schema: {
      tags: ['drift'], summary: 'Pin the drift reference of a model version', operationId: 'pinDriftReference',
      description: 'Live traffic: the whole current window, the `last` N predictions and/or those of the last `window` (`30m`, `2h`, `1d`). '
        + 'Golden set: `evaluation_id` (a finished evaluation: model mode gives the model\'s predictions on the set\'s images) or '
        + '`dataset_id` (its newest finished evaluation by this model version). Replaces the previous reference; kept in the store.',
      body: PinBodySchema,
      response: { 201: DriftReferenceSchema, ...errorResponses(400, 404), 409: errorResponses(409)[409]!, ...errorResponses(500, 503) },
    },
  }, async (request, reply) => {
    const b = request.body;
    if (b.evaluation_id !== undefined && b.dataset_id !== undefined) {
      throw withField(new Errors.VALIDATION('give evaluation_id or dataset_id, not both'), 'body.dataset_id');
    }
    const golden = b.evaluation_id ?? b.dataset_id;
    if (golden !== undefined && (b.last !== undefined || b.window !== undefined)) {
      throw withField(new Errors.VALIDATION('last and window select live predictions: not with evaluation_id or dataset_id'), b.last !== undefined ? 'body.last' : 'body.window');
    }
    const m = resolve(b.model, b.version, 'body');
    const owner = ownerOf(request);
    let ref;
    if (b.evaluation_id !== undefined) {
      ref = await service.pinEvaluation(m, b.evaluation_id, owner);
    } else if (b.dataset_id !== undefined) {
      const id = await service.latestEvaluationOf(b.dataset_id, m, owner);
      if (!id) throw new DriftNoDataError(m.name, m.version, `no finished evaluation of dataset "${b.dataset_id}" by this model version`);
      ref = await service.pinEvaluation(m, id, owner, 'body.dataset_id');
    } else {
      const windowSeconds = b.window === undefined ? undefined : Number(b.window.slice(0, -1)) * UNIT_SECONDS[b.window.slice(-1)]!;
      ref = await service.pinLive(m, { ...(b.last !== undefined ? { last: b.last } : {}), ...(windowSeconds !== undefined ? { windowSeconds } : {}), owner });
    }
    return reply.code(201).send(ref);
  });

  app.delete<{ Querystring: DriftQuery }>('/drift/reference', {
    config: { scope: 'evaluate' },
    schema: {
      tags: ['drift'], summary: 'Remove the drift reference of a model version', operationId: 'deleteDriftReference',
      querystring: DriftQuerySchema,
      response: { 204: { type: 'null', description: 'Removed' }, ...errorResponses(400, 404, 500, 503) },
    },
  }, async (request, reply) => {
    const m = resolve(request.query.model, request.query.version, 'querystring');
    await service.clear(m.name, m.version);
    return reply.code(204).send();
  });
}
