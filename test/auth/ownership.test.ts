/**
 * @file Ownership: whatever a token creates is visible only to that token; another token gets the
 * same 404 as for an id that never existed (existence does not leak). Checked in the job service
 * (the use case, on the in-memory store) and over HTTP on the real app: evaluation jobs (GET,
 * DELETE, report, and the history list when the route exists) and datasets (when the routes exist).
 * Without TOKENS_FILE everything is visible to everyone.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { JobNotDoneError, JobNotFoundError } from '../../src/jobs/errors.js';
import { MemoryStore } from '../../src/jobs/memory-store.js';
import { JobService } from '../../src/jobs/service.js';
import { loadConfig } from '../../src/config.js';
import { assertError, build, multipart, shapesImage } from '../helper.js';
import { bearer, LogCapture, token, writeTokensFile, type TestToken } from './support.js';

const GT = {
  images: [{ id: 1, file_name: 'a.png', width: 100, height: 80 }, { id: 2, file_name: 'b.png', width: 100, height: 80 }],
  categories: [{ id: 1, name: 'square' }, { id: 2, name: 'circle' }],
  annotations: [
    { id: 1, image_id: 1, category_id: 1, bbox: [10, 10, 20, 20], area: 400, iscrowd: 0 },
    { id: 2, image_id: 2, category_id: 2, bbox: [5, 5, 40, 40], area: 1600, iscrowd: 0 },
  ],
};
const DETS = [
  { image_id: 1, category_id: 1, bbox: [11, 10, 20, 20], score: 0.9 },
  { image_id: 2, category_id: 2, bbox: [6, 4, 40, 41], score: 0.7 },
];
const UNKNOWN = '00000000-0000-4000-8000-000000000000';

describe('the job service filters by owner', () => {
  const service = new JobService({
    store: new MemoryStore(),
    limits: loadConfig({}).jobs,
    model: async () => { throw new Error('no model in this test'); },
    describeError: (err) => ({ statusCode: 500, code: 'X', message: String(err), field: null }),
  });
  after(() => service.close());
  const submit = (owner: string | null) => service.submit({ owner, mode: 'detections', groundTruth: GT, detections: DETS, options: { lossSampling: 'expected' }, total: 2 });

  it('get, report, cancel and list: the owner sees the job, another owner gets "not found", null sees all', async () => {
    const job = await submit('alice');
    assert.equal(job.owner, 'alice');
    assert.equal((await service.get(job.id, 'alice')).id, job.id);
    assert.equal((await service.get(job.id, null)).id, job.id);
    const unknown = await service.get(UNKNOWN, 'bob').catch((e: unknown) => e);
    const hidden = await service.get(job.id, 'bob').catch((e: unknown) => e);
    assert.ok(hidden instanceof JobNotFoundError && unknown instanceof JobNotFoundError);
    assert.equal((hidden as Error).message.replace(job.id, 'ID'), (unknown as Error).message.replace(UNKNOWN, 'ID'));
    // the owner learns the job is not done; another owner only that there is no such job
    await assert.rejects(service.report(job.id, 'alice'), JobNotDoneError);
    await assert.rejects(service.report(job.id, 'bob'), JobNotFoundError);
    await assert.rejects(service.cancel(job.id, 'bob'), JobNotFoundError);
    assert.equal((await service.get(job.id, 'alice')).status, 'queued', 'a refused cancel changed nothing');
    const bobs = await submit('bob');
    const anon = await submit(null);
    const ids = async (viewer: string | null) => (await service.list(50, viewer)).map((j) => j.id).sort();
    assert.deepEqual(await ids('alice'), [job.id]);
    assert.deepEqual(await ids('bob'), [bobs.id]);
    assert.deepEqual(await ids(null), [job.id, bobs.id, anon.id].sort());
    await assert.rejects(service.get(anon.id, 'alice'), JobNotFoundError, 'a job made while access control was off belongs to no token');
    assert.equal((await service.cancel(job.id, 'alice')).status, 'cancelled');
  });
});

/** Polls a job as `tok` until it ended. */
async function waitEnded(app: FastifyInstance, id: string, tok: TestToken): Promise<Record<string, unknown>> {
  for (;;) {
    const j = (await app.inject({ url: `/evaluations/${id}`, headers: bearer(tok) })).json() as Record<string, unknown>;
    if (j.finished_at !== null && j.finished_at !== undefined) return j;
    await sleep(50);
  }
}

/** The 404 body with the id taken out (to compare "someone else's" with "never existed"). */
function notFound(res: { statusCode: number; body: string; headers: Record<string, unknown> }, id: string): unknown {
  const body = assertError(res, 404, 'MRC_ERR_JOB_NOT_FOUND');
  return { ...body, message: String(body.message).replace(id, 'ID') };
}

describe('over HTTP, with tokens', async () => {
  const alice = token('alice', ['evaluate']);
  const bob = token('bob', ['evaluate', 'inference']);
  const app = await build({ after }, { TOKENS_FILE: writeTokensFile([alice, bob]) });
  const has = (method: string, url: string) => app.auth.routes.some((r) => r.method === method && r.url === url);

  it('evaluation jobs: bob gets 404 (like an unknown id) on GET, DELETE and the report of alice\'s job', async () => {
    const res = await app.inject({ method: 'POST', url: '/evaluations', headers: bearer(alice), payload: { ground_truth: GT, detections: DETS } });
    assert.equal(res.statusCode, 202, res.body);
    const id = res.json().id as string;
    const never = notFound(await app.inject({ url: `/evaluations/${UNKNOWN}`, headers: bearer(bob) }), UNKNOWN);
    assert.deepEqual(notFound(await app.inject({ url: `/evaluations/${id}`, headers: bearer(bob) }), id), never);
    assert.deepEqual(notFound(await app.inject({ method: 'DELETE', url: `/evaluations/${id}`, headers: bearer(bob) }), id), never);
    assert.deepEqual(notFound(await app.inject({ url: `/evaluations/${id}/report`, headers: bearer(bob) }), id), never);
    const done = await waitEnded(app, id, alice);
    assert.equal(done.status, 'done', JSON.stringify(done.error));
    assert.equal((await app.inject({ url: `/evaluations/${id}/report`, headers: { ...bearer(alice), accept: 'application/json' } })).statusCode, 200);
    assert.deepEqual(notFound(await app.inject({ url: `/evaluations/${id}/report`, headers: bearer(bob) }), id), never);
    assert.deepEqual(notFound(await app.inject({ method: 'DELETE', url: `/evaluations/${id}`, headers: bearer(bob) }), id), never);
    assert.equal((await app.inject({ url: `/evaluations/${id}`, headers: bearer(alice) })).statusCode, 200, 'still there for alice');
    assert.equal((await app.inject({ method: 'DELETE', url: `/evaluations/${id}`, headers: bearer(alice) })).statusCode, 200);
    notFound(await app.inject({ url: `/evaluations/${id}`, headers: bearer(alice) }), id);
  });

  it('the evaluation history lists only the caller\'s jobs', async (t) => {
    if (!has('GET', '/evaluations')) return t.skip('GET /evaluations is not registered in this build');
    const a = (await app.inject({ method: 'POST', url: '/evaluations', headers: bearer(alice), payload: { ground_truth: GT, detections: DETS } })).json().id as string;
    const b = (await app.inject({ method: 'POST', url: '/evaluations', headers: bearer(bob), payload: { ground_truth: GT, detections: DETS } })).json().id as string;
    await waitEnded(app, a, alice);
    await waitEnded(app, b, bob);
    const list = async (tok: TestToken): Promise<string> => {
      const res = await app.inject({ url: '/evaluations', headers: bearer(tok) });
      assert.equal(res.statusCode, 200, res.body);
      return res.body;
    };
    const seenByAlice = await list(alice);
    const seenByBob = await list(bob);
    assert.ok(seenByAlice.includes(a) && !seenByAlice.includes(b), seenByAlice.slice(0, 300));
    assert.ok(seenByBob.includes(b) && !seenByBob.includes(a), seenByBob.slice(0, 300));
    return undefined;
  });

  it('datasets: bob gets 404 on GET and DELETE of alice\'s dataset and does not list it', async (t) => {
    if (!has('POST', '/datasets')) return t.skip('the /datasets routes are not registered in this build');
    const image = await shapesImage(100, 80);
    const { payload, headers } = multipart([
      { name: 'name', data: 'alice-set' },
      { name: 'image', data: image, filename: 'a.png', contentType: 'image/png' },
      { name: 'image', data: image, filename: 'b.png', contentType: 'image/png' },
      { name: 'annotations', data: JSON.stringify(GT), filename: 'annotations.json', contentType: 'application/json' },
    ]);
    const created = await app.inject({ method: 'POST', url: '/datasets', payload, headers: { ...headers, ...bearer(alice) } });
    assert.equal(created.statusCode, 201, created.body);
    const id = created.json().id as string;
    const missing = (res: { statusCode: number; body: string }) => {
      assert.equal(res.statusCode, 404, res.body);
      return JSON.parse(res.body).code as string;
    };
    const never = missing(await app.inject({ url: `/datasets/${UNKNOWN}`, headers: bearer(bob) }));
    assert.equal(missing(await app.inject({ url: `/datasets/${id}`, headers: bearer(bob) })), never);
    assert.equal(missing(await app.inject({ method: 'DELETE', url: `/datasets/${id}`, headers: bearer(bob) })), never);
    const listed = (await app.inject({ url: '/datasets', headers: bearer(bob) })).body;
    assert.ok(!listed.includes(id), listed.slice(0, 300));
    assert.ok((await app.inject({ url: '/datasets', headers: bearer(alice) })).body.includes(id));
    assert.equal((await app.inject({ url: `/datasets/${id}`, headers: bearer(alice) })).statusCode, 200);
    // bob cannot evaluate alice's dataset either
    const res = await app.inject({ method: 'POST', url: '/evaluations', headers: bearer(bob), payload: { dataset_id: id } });
    assert.equal(res.statusCode, 404, res.body);
    if (has('GET', '/evaluations/:id/compare/:other_id')) {
      // two evaluations of alice's dataset: alice compares them, bob gets 404
      const runs: string[] = [];
      for (let i = 0; i < 2; i++) {
        const r = await app.inject({ method: 'POST', url: '/evaluations', headers: bearer(alice), payload: { dataset_id: id } });
        assert.equal(r.statusCode, 202, r.body);
        runs.push(r.json().id as string);
        assert.equal((await waitEnded(app, runs[i]!, alice)).status, 'done');
      }
      const url = `/evaluations/${runs[0]}/compare/${runs[1]}`;
      assert.equal((await app.inject({ url, headers: bearer(alice) })).statusCode, 200);
      assert.equal((await app.inject({ url, headers: bearer(bob) })).statusCode, 404);
      if (has('PUT', '/datasets/:id/baseline')) {
        const put = (tok: TestToken) => app.inject({ method: 'PUT', url: `/datasets/${id}/baseline`, headers: bearer(tok), payload: { evaluation_id: runs[0] } });
        assert.equal((await put(bob)).statusCode, 404);
        assert.equal((await put(alice)).statusCode, 200);
      }
    }
    return undefined;
  });
});

describe('without TOKENS_FILE', async () => {
  const logs = new LogCapture();
  const app = await build({ after }, {}, { logger: { level: 'warn', stream: logs } });

  it('a warning at start-up; everything is visible to everyone; /health/ready says "auth": "off"', async () => {
    assert.ok(logs.records().some((r) => r.level === 40 && /access control is OFF \(TOKENS_FILE is not set\)/.test(String(r.msg))), logs.text);
    assert.equal((await app.inject({ url: '/health/ready' })).json().auth, 'off');
    const res = await app.inject({ method: 'POST', url: '/evaluations', headers: { authorization: 'Bearer whatever' }, payload: { ground_truth: GT, detections: DETS } });
    assert.equal(res.statusCode, 202, res.body);
    const id = res.json().id as string;
    assert.equal((await app.inject({ url: `/evaluations/${id}` })).statusCode, 200);
    assert.equal((await app.inject({ url: `/evaluations/${id}`, headers: { authorization: 'Bearer someone-else' } })).statusCode, 200);
    assert.equal((await app.jobs.get(id)).owner, null);
  });
});
