/**
 * @file The store conformance suite: every engine (test/store/sqlite.test.ts,
 * test/store/postgres.test.ts) must pass the same tests of the {@link Store} contract — create (one
 * transaction), get, list (filters, keyset pagination), image inputs and records (idempotent),
 * claims (exclusive under concurrency, lease takeover, fencing), cancel, finish, TTL expiry (cascade),
 * migrations (idempotent, concurrent, rolled back on failure, SchemaTooNew) and large blobs.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import {
  DatasetExistsError, DatasetLimitError, DatasetNotFoundError, InvalidCursorError, iterateImageRecords, SchemaTooNewError, StoreUnavailableError, type Store,
} from '../../src/store/index.js';
import type { Migration } from '../../src/store/migrations/index.js';
import type { JobProgress, NewDataset, NewJob, NewJobImage } from '../../src/store/types.js';

/** One empty database of the engine under test. */
export interface TestDatabase {
  /** Opens a store on it (call several times for several connections / "processes"). */
  open(options?: { migrations?: readonly Migration[] }): Promise<Store>;
  /** Raw SQL on it, outside any store (rows of a SELECT). */
  query(sql: string): Promise<Array<Record<string, unknown>>>;
  /** The shipped migrations of the engine. */
  migrations: readonly Migration[];
}

/** What an engine's test file gives the suite. */
export interface EngineUnderTest {
  /** A fresh, empty database (one per test). */
  newDatabase(): Promise<TestDatabase>;
}

const T0 = 1_700_000_000_000;
const TTL = 60_000;

function modelJob(over: Partial<NewJob> = {}, images: NewJobImage[] = []): NewJob {
  return {
    options: { iou_types: ['bbox', 'segm'], voc_mode: 'area' }, total: images.length, createdAt: T0,
    input: { mode: 'model', annotations: { images: images.map((im) => ({ id: im.index + 1, file_name: im.fileName })), annotations: [], categories: [] }, images },
    ...over,
  };
}

function detectionsJob(over: Partial<NewJob> = {}): NewJob {
  return { options: {}, total: 2, createdAt: T0, input: { mode: 'detections', groundTruth: { images: [{ id: 1 }, { id: 2 }] }, detections: [{ image_id: 1, score: 0.5 }] }, ...over };
}

const img = (index: number, size = 64): NewJobImage & { bytes: Buffer } => ({ index, fileName: `im${index}.png`, field: `image[${index}]`, bytes: randomBytes(size) });
const progress = (done: number, total: number, phase = 'images'): JobProgress => ({ phase, done, total, imageMs: done * 10 });
const num = (v: unknown): number => Number(v);

/** Registers the suite for one engine. */
export function storeConformance(engine: EngineUnderTest): void {
  /** A fresh database and one store on it, closed after the test. */
  async function setup(t: TestContext): Promise<{ db: TestDatabase; store: Store; open: () => Promise<Store> }> {
    const db = await engine.newDatabase();
    const open = async (): Promise<Store> => {
      const s = await db.open();
      t.after(() => s.close());
      return s;
    };
    return { db, store: await open(), open };
  }

  describe('store conformance', () => {
    describe('create and read', () => {
      test('a model job with its inputs is created queued and read back', async (t) => {
        const { store } = await setup(t);
        const images = [img(2), img(0), img(1)];
        const created = await store.createJob(modelJob({ owner: 'alice', modelName: 'shapes', modelVersion: '3', datasetId: 'ds1' }, images));
        assert.match(created.id, /^[0-9a-f-]{36}$/);
        assert.equal(created.status, 'queued');
        assert.equal(created.mode, 'model');
        assert.deepEqual(created.progress, { phase: 'queued', done: 0, total: 3, imageMs: 0 });
        assert.equal(created.createdAt, T0);
        assert.equal(created.startedAt, null);
        assert.equal(created.expiresAt, null);
        assert.equal(created.cancelRequested, false);
        assert.equal(created.attempts, 0);
        const got = await store.getJob(created.id, T0);
        assert.deepEqual(got, created);
        assert.deepEqual({ owner: got!.owner, modelName: got!.modelName, modelVersion: got!.modelVersion, datasetId: got!.datasetId },
          { owner: 'alice', modelName: 'shapes', modelVersion: '3', datasetId: 'ds1' });
        assert.deepEqual(got!.options, { iou_types: ['bbox', 'segm'], voc_mode: 'area' });
        assert.equal(got!.result, null);

        const input = await store.getJobInput(created.id);
        assert.ok(input && input.mode === 'model');
        assert.deepEqual(input.images, [0, 1, 2].map((i) => ({ index: i, fileName: `im${i}.png`, field: `image[${i}]`, size: 64 })));
        assert.deepEqual((input.annotations as { images: unknown[] }).images.length, 3);
        for (const im of images) {
          const data = await store.getJobImage(created.id, im.index);
          assert.ok(data);
          assert.ok(Buffer.from(data.bytes).equals(im.bytes), `image ${im.index} bytes`);
          assert.equal(data.fileName, im.fileName);
        }
        assert.equal(await store.getJobImage(created.id, 7), null);
      });

      test('a detections job keeps its JSON exactly (key order too)', async (t) => {
        const { store } = await setup(t);
        const gt = { info: { z: 1, a: 2 }, images: [{ id: 1, width: 10, height: 10 }], annotations: [], categories: [{ id: 1, name: 'é ✓' }] };
        const dets = [{ image_id: 1, category_id: 1, bbox: [0.1, 0.2, 3.0000000000000004, 4], score: 0.30000000000000004 }];
        const job = await store.createJob({ ...detectionsJob(), input: { mode: 'detections', groundTruth: gt, detections: dets } });
        const input = await store.getJobInput(job.id);
        assert.ok(input && input.mode === 'detections');
        assert.equal(JSON.stringify(input.groundTruth), JSON.stringify(gt));
        assert.equal(JSON.stringify(input.detections), JSON.stringify(dets));
      });

      test('unknown, malformed and upper-case ids', async (t) => {
        const { store } = await setup(t);
        const job = await store.createJob(detectionsJob());
        assert.equal(await store.getJob(randomUUID()), null);
        assert.equal(await store.getJob('not-a-uuid'), null);
        assert.equal((await store.getJob(job.id.toUpperCase()))?.id, job.id);
        assert.equal(await store.getJobInput(randomUUID()), null);
        assert.equal(await store.getReport(randomUUID()), null);
        assert.equal(await store.deleteJob('nope'), false);
        await assert.rejects(store.createJob(detectionsJob({ id: 'nope' })), TypeError);
      });

      test('images from files and an async iterable, read one at a time', async (t) => {
        const { store } = await setup(t);
        const dir = await mkdtemp(join(tmpdir(), 'store-conf-'));
        t.after(() => rm(dir, { recursive: true, force: true }));
        const blobs = [randomBytes(1000), randomBytes(2000)];
        await writeFile(join(dir, 'a.png'), blobs[0]!);
        await writeFile(join(dir, 'b.png'), blobs[1]!);
        async function* gen(): AsyncGenerator<NewJobImage> {
          yield { index: 5, fileName: 'a.png', path: join(dir, 'a.png') };
          yield { index: 9, fileName: 'b.png', path: join(dir, 'b.png') };
        }
        const job = await store.createJob({ ...modelJob(), total: 2, input: { mode: 'model', annotations: {}, images: gen() } });
        assert.ok(Buffer.from((await store.getJobImage(job.id, 5))!.bytes).equals(blobs[0]!));
        assert.ok(Buffer.from((await store.getJobImage(job.id, 9))!.bytes).equals(blobs[1]!));
        assert.equal((await store.getJobImage(job.id, 9))!.field, null);
      });

      test('a failure in the middle of createJob leaves nothing', async (t) => {
        const { store, db } = await setup(t);
        const id = randomUUID();
        const images = [img(0), img(1), { index: 2, fileName: 'gone.png', path: join(tmpdir(), `missing-${randomUUID()}.png`) }];
        await assert.rejects(store.createJob(modelJob({ id }, images)), /ENOENT/);
        assert.equal(await store.getJob(id), null);
        assert.equal(await store.getJobInput(id), null);
        assert.equal((await store.listJobs()).jobs.length, 0);
        for (const table of ['jobs', 'job_inputs', 'job_images']) {
          assert.equal(num((await db.query(`SELECT count(*) AS n FROM ${table}`))[0]!.n), 0, table);
        }
        // duplicate image index: constraint violation, rolled back too
        await assert.rejects(store.createJob(modelJob({ id }, [img(0), img(0)])));
        assert.equal(await store.getJob(id), null);
        // the same id can then be created: nothing was left behind, and the store still works
        const ok = await store.createJob(modelJob({ id }, [img(0)]));
        assert.equal(ok.id, id);
        assert.equal(num((await db.query('SELECT count(*) AS n FROM job_images'))[0]!.n), 1);
      });

      test('other calls wait for a createJob in progress (no interleaving in its transaction)', async (t) => {
        const { store } = await setup(t);
        let release!: () => void;
        const gate = new Promise<void>((r) => { release = r; });
        async function* slow(): AsyncGenerator<NewJobImage> {
          yield img(0);
          await gate;
          throw new Error('upload aborted');
        }
        const id = randomUUID();
        const creating = store.createJob({ ...modelJob({ id }), input: { mode: 'model', annotations: {}, images: slow() } });
        const other = store.createJob(detectionsJob());
        setTimeout(release, 50);
        await assert.rejects(creating, /upload aborted/);
        const kept = await other;
        assert.equal(await store.getJob(id), null);
        assert.equal((await store.getJob(kept.id))?.id, kept.id);
      });
    });

    describe('list', () => {
      test('filters, newest first, keyset pagination without gaps or repeats', async (t) => {
        const { store } = await setup(t);
        const ids: string[] = [];
        for (let i = 0; i < 9; i++) {
          const job = await store.createJob(detectionsJob({
            createdAt: T0 + Math.floor(i / 2) * 1000, // pairs share a timestamp: ties broken by id
            owner: i % 3 === 0 ? 'alice' : 'bob', modelName: i % 2 ? 'm1' : 'm2', datasetId: i < 4 ? 'dsA' : null,
          }));
          ids.push(job.id);
        }
        const all = (await store.listJobs({ limit: 100, now: T0 })).jobs;
        assert.equal(all.length, 9);
        for (let i = 1; i < all.length; i++) {
          const [a, b] = [all[i - 1]!, all[i]!];
          assert.ok(a.createdAt > b.createdAt || (a.createdAt === b.createdAt && a.id > b.id), 'newest first, then id descending');
        }
        assert.ok(!('result' in all[0]!), 'summaries carry no result');

        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const page = await store.listJobs({ limit: 2, cursor, now: T0 });
          seen.push(...page.jobs.map((j) => j.id));
          cursor = page.nextCursor;
          pages++;
        } while (cursor);
        assert.equal(pages, 5);
        assert.deepEqual(seen, all.map((j) => j.id));

        const ownerAlice = (await store.listJobs({ owner: 'alice', now: T0 })).jobs;
        assert.deepEqual(new Set(ownerAlice.map((j) => j.id)), new Set([ids[0], ids[3], ids[6]]));
        assert.equal((await store.listJobs({ modelName: 'm1', now: T0 })).jobs.length, 4);
        assert.equal((await store.listJobs({ datasetId: 'dsA', owner: 'bob', now: T0 })).jobs.length, 2);

        await store.claimJob(ids[1]!, 'w', 1000, T0);
        await store.claimJob(ids[2]!, 'w', 1000, T0);
        await store.finishJob(ids[2]!, { status: 'failed', error: { code: 'X' }, leaseOwner: 'w', ttlMs: TTL, now: T0 });
        assert.deepEqual((await store.listJobs({ status: 'running', now: T0 })).jobs.map((j) => j.id), [ids[1]]);
        assert.equal((await store.listJobs({ status: ['running', 'failed'], now: T0 })).jobs.length, 2);
        assert.equal((await store.listJobs({ status: 'queued', now: T0 })).jobs.length, 7);
        assert.deepEqual(await store.countByStatus(), { queued: 7, running: 1, done: 0, failed: 1, cancelled: 0 });
        // expired jobs are no longer listed (nor got)
        assert.equal((await store.listJobs({ now: T0 + TTL })).jobs.length, 8);
        assert.equal(await store.getJob(ids[2]!, T0 + TTL), null);

        await assert.rejects(store.listJobs({ cursor: 'garbage' }), InvalidCursorError);
        await assert.rejects(store.listJobs({ limit: 0 }), RangeError);
        await assert.rejects(store.listJobs({ status: 'bogus' as never }), RangeError);
      });
    });

    describe('per-image records', () => {
      test('upsert is idempotent; records come back in image order; done indices; paging', async (t) => {
        const { store, db } = await setup(t);
        const job = await store.createJob(modelJob({}, [img(0), img(1), img(2), img(3)]));
        await store.claimJob(job.id, 'w', 10_000, T0);
        await store.putImageRecord(job.id, 2, { coco: [1, 2], loss: 0.5 }, progress(1, 4));
        await store.putImageRecord(job.id, 2, { coco: [1, 2], loss: 0.75 }, progress(1, 4)); // a resumed job writes it again
        await store.putImageRecord(job.id, 0, { coco: [], loss: 0.1 });
        const bytes = new Uint8Array([0, 1, 2, 255]);
        await store.putImageRecord(job.id, 3, bytes, progress(3, 4));
        await store.putImageRecord(job.id, 1, null);
        assert.equal(num((await db.query('SELECT count(*) AS n FROM image_records'))[0]!.n), 4);
        const recs = await store.listImageRecords(job.id);
        assert.deepEqual(recs.map((r) => r.index), [0, 1, 2, 3]);
        assert.deepEqual(recs[0]!.record, { coco: [], loss: 0.1 });
        assert.equal(recs[1]!.record, null);
        assert.deepEqual(recs[2]!.record, { coco: [1, 2], loss: 0.75 });
        assert.ok(recs[3]!.record instanceof Uint8Array);
        assert.deepEqual([...(recs[3]!.record as Uint8Array)], [0, 1, 2, 255]);
        assert.deepEqual(await store.doneImageIndices(job.id), [0, 1, 2, 3]);
        assert.deepEqual((await store.getJob(job.id, T0))!.progress, progress(3, 4));
        assert.deepEqual((await store.listImageRecords(job.id, { after: 0, limit: 2 })).map((r) => r.index), [1, 2]);
        assert.deepEqual((await store.listImageRecords(job.id, { after: 3 })), []);
        const iterated: number[] = [];
        for await (const r of iterateImageRecords(store, job.id, 3)) iterated.push(r.index);
        assert.deepEqual(iterated, [0, 1, 2, 3]);
        // a record of an unknown job is refused (foreign key)
        await assert.rejects(store.putImageRecord(randomUUID(), 0, {}));
        assert.deepEqual(await store.doneImageIndices(randomUUID()), []);
      });

      test('100 concurrent record writes all land', async (t) => {
        const { store } = await setup(t);
        const job = await store.createJob(detectionsJob({ total: 100 }));
        await Promise.all(Array.from({ length: 100 }, (_, i) => store.putImageRecord(job.id, 99 - i, { i: 99 - i })));
        const recs = await store.listImageRecords(job.id);
        assert.deepEqual(recs.map((r) => r.index), Array.from({ length: 100 }, (_, i) => i));
        assert.deepEqual(recs.map((r) => (r.record as { i: number }).i), Array.from({ length: 100 }, (_, i) => i));
      });
    });

    describe('claims and leases', () => {
      test('20 concurrent claimNext over 4 connections on 5 jobs: each job claimed exactly once', async (t) => {
        const { store, open } = await setup(t);
        const stores = [store, await open(), await open(), await open()];
        const ids = new Set<string>();
        for (let i = 0; i < 5; i++) ids.add((await store.createJob(detectionsJob({ createdAt: T0 + i }))).id);
        const claims = await Promise.all(Array.from({ length: 20 }, (_, i) => stores[i % 4]!.claimNext(`worker-${i}`, 60_000, T0 + 100)));
        const won = claims.filter((c) => c !== null);
        assert.equal(won.length, 5);
        assert.deepEqual(new Set(won.map((c) => c.id)), ids);
        for (const c of won) {
          assert.equal(c.status, 'running');
          assert.equal(c.attempts, 1);
          assert.equal(c.startedAt, T0 + 100);
          assert.equal(c.leaseExpiresAt, T0 + 100 + 60_000);
          assert.match(c.leaseOwner!, /^worker-\d+$/);
        }
        assert.equal(await store.claimNext('late', 60_000, T0 + 200), null);
      });

      test('as many concurrent claimants as jobs: every claimant gets a job (a row held by another is skipped, not lost)', async (t) => {
        const { store, open } = await setup(t);
        const stores = [store, await open()];
        for (let round = 0; round < 3; round++) {
          const ids = new Set<string>();
          for (let i = 0; i < 10; i++) ids.add((await store.createJob(detectionsJob({ createdAt: T0 + round * 100 + i }))).id);
          const claims = await Promise.all(Array.from({ length: 10 }, (_, i) => stores[i % 2]!.claimNext(`w${i}`, 60_000, T0 + 1000)));
          assert.deepEqual(new Set(claims.map((c) => c?.id)), ids, `round ${round}`);
        }
      });

      test('claimNext takes the oldest first; claimJob claims one job', async (t) => {
        const { store } = await setup(t);
        const newer = await store.createJob(detectionsJob({ createdAt: T0 + 10 }));
        const older = await store.createJob(detectionsJob({ createdAt: T0 }));
        const third = await store.createJob(detectionsJob({ createdAt: T0 + 20 }));
        assert.equal((await store.claimJob(third.id, 'a', 1000, T0))?.id, third.id);
        assert.equal(await store.claimJob(third.id, 'b', 1000, T0), null, 'held');
        assert.equal((await store.claimNext('a', 1000, T0))?.id, older.id);
        assert.equal((await store.claimNext('a', 1000, T0))?.id, newer.id);
        assert.equal(await store.claimNext('a', 1000, T0), null);
        await assert.rejects(store.claimNext('a', 0, T0), RangeError);
      });

      test('a lapsed lease is taken over; the old holder is fenced off', async (t) => {
        const { store } = await setup(t);
        const job = await store.createJob(modelJob({}, [img(0), img(1)]));
        const a = await store.claimNext('A', 1000, T0);
        assert.equal(a?.id, job.id);
        assert.equal(await store.updateProgress(job.id, 'A', progress(1, 2)), true);
        assert.equal(await store.claimNext('B', 1000, T0 + 999), null, 'lease still valid');
        assert.equal(await store.renewLease(job.id, 'A', 1000, T0 + 900), true); // now valid until T0+1900
        assert.equal(await store.claimNext('B', 1000, T0 + 1899), null);
        const b = await store.claimNext('B', 1000, T0 + 1900);
        assert.equal(b?.id, job.id);
        assert.equal(b!.leaseOwner, 'B');
        assert.equal(b!.attempts, 2);
        assert.equal(b!.startedAt, T0, 'first start kept');
        assert.deepEqual(b!.progress, progress(1, 2), 'progress survives the takeover');
        // A wakes up: every lease-holder write is refused
        assert.equal(await store.renewLease(job.id, 'A', 1000, T0 + 2000), false);
        assert.equal(await store.updateProgress(job.id, 'A', progress(2, 2)), false);
        assert.equal(await store.finishJob(job.id, { status: 'done', result: { a: 1 }, leaseOwner: 'A', ttlMs: TTL, now: T0 + 2000 }), false);
        // B resumes where the records say, then finishes
        await store.putImageRecord(job.id, 0, { r: 0 });
        assert.deepEqual(await store.doneImageIndices(job.id), [0]);
        assert.ok((await store.getJobImage(job.id, 1))?.bytes, 'inputs are there for the new holder');
        assert.equal(await store.finishJob(job.id, { status: 'done', result: { b: 1 }, leaseOwner: 'B', ttlMs: TTL, now: T0 + 3000 }), true);
        const done = await store.getJob(job.id, T0 + 3000);
        assert.deepEqual(done!.result, { b: 1 });
        assert.equal(done!.leaseOwner, null);
        assert.equal(await store.claimNext('C', 1000, T0 + 10_000_000), null, 'finished jobs are never claimed');
      });

      test('claimJob also takes over a lapsed lease', async (t) => {
        const { store } = await setup(t);
        const job = await store.createJob(detectionsJob());
        await store.claimJob(job.id, 'A', 500, T0);
        assert.equal(await store.claimJob(job.id, 'B', 500, T0 + 499), null);
        assert.equal((await store.claimJob(job.id, 'B', 500, T0 + 500))?.leaseOwner, 'B');
      });
    });

    describe('cancel, finish, expiry', () => {
      test('cancel: a queued job at once, a running one by flag, a finished one untouched', async (t) => {
        const { store } = await setup(t);
        const queued = await store.createJob(modelJob({}, [img(0)]));
        const c1 = await store.requestCancel(queued.id, TTL, T0 + 5);
        assert.equal(c1?.status, 'cancelled');
        assert.equal(c1?.cancelRequested, true);
        assert.equal(c1?.finishedAt, T0 + 5);
        assert.equal(c1?.expiresAt, T0 + 5 + TTL);
        assert.equal(c1?.progress.phase, 'finished');
        assert.equal(await store.getJobImage(queued.id, 0), null, 'image bytes dropped');
        assert.equal(await store.claimNext('w', 1000, T0 + 6), null);

        const running = await store.createJob(detectionsJob());
        await store.claimNext('w', 1000, T0);
        const c2 = await store.requestCancel(running.id, TTL, T0 + 10);
        assert.equal(c2?.status, 'running');
        assert.equal(c2?.cancelRequested, true);
        assert.equal((await store.getJob(running.id, T0 + 10))?.cancelRequested, true);
        assert.equal(await store.finishJob(running.id, { status: 'cancelled', leaseOwner: 'w', ttlMs: TTL, now: T0 + 20 }), true);
        const c3 = await store.requestCancel(running.id, TTL, T0 + 30);
        assert.equal(c3?.status, 'cancelled');
        assert.equal(c3?.finishedAt, T0 + 20, 'unchanged');
        assert.equal(await store.requestCancel(randomUUID(), TTL), null);
      });

      test('finish: done keeps result and report, failed keeps the error; once only; image bytes dropped unless kept', async (t) => {
        const { store } = await setup(t);
        const a = await store.createJob(modelJob({}, [img(0)]));
        const b = await store.createJob(modelJob({}, [img(0)]));
        const c = await store.createJob(modelJob({}, [img(0)]));
        for (const j of [a, b, c]) await store.claimJob(j.id, 'w', 1000, T0);
        const result = { images: 1, coco: { bbox: { stats: [0.5, -1] } } };
        const report = { curves: {}, overlays: [{ fileName: 'x.png', dataUri: `data:image/png;base64,${randomBytes(3000).toString('base64')}` }] };
        assert.equal(await store.finishJob(a.id, { status: 'done', result, report, error: { ignored: true }, leaseOwner: 'w', ttlMs: TTL, now: T0 + 100 }), true);
        assert.equal(await store.finishJob(a.id, { status: 'failed', error: {}, leaseOwner: 'w', ttlMs: TTL, now: T0 + 200 }), false, 'finished once');
        const doneJob = await store.getJob(a.id, T0 + 100);
        assert.equal(doneJob?.status, 'done');
        assert.deepEqual(doneJob?.result, result);
        assert.equal(doneJob?.error, null);
        assert.equal(doneJob?.finishedAt, T0 + 100);
        assert.equal(doneJob?.expiresAt, T0 + 100 + TTL);
        assert.equal(doneJob?.progress.phase, 'finished');
        assert.deepEqual(await store.getReport(a.id, T0 + 100), report);
        assert.equal(await store.getJobImage(a.id, 0), null);
        assert.ok(await store.getJobInput(a.id), 'the JSON inputs stay until expiry');

        const err = { statusCode: 422, code: 'MRC_ERR_IMAGE', message: 'corrupt', field: 'image[0]' };
        assert.equal(await store.finishJob(b.id, { status: 'failed', error: err, result: { no: 1 }, leaseOwner: null, ttlMs: TTL, now: T0 + 100 }), true);
        const failed = await store.getJob(b.id, T0 + 100);
        assert.deepEqual(failed?.error, err);
        assert.equal(failed?.result, null);
        assert.equal(await store.getReport(b.id, T0 + 100), null);

        assert.equal(await store.finishJob(c.id, { status: 'done', result: {}, leaseOwner: 'w', ttlMs: TTL, now: T0, keepImages: true }), true);
        assert.ok(await store.getJobImage(c.id, 0));
        assert.equal(await store.finishJob(randomUUID(), { status: 'done', leaseOwner: null, ttlMs: TTL }), false);
      });

      test('deleteExpired removes expired jobs with their inputs and records (cascade), nothing else', async (t) => {
        const { store, db } = await setup(t);
        const old = await store.createJob(modelJob({}, [img(0), img(1)]));
        const live = await store.createJob(modelJob({}, [img(0)]));
        const queued = await store.createJob(detectionsJob());
        await store.claimJob(old.id, 'w', 1000, T0);
        await store.claimJob(live.id, 'w', 1000, T0);
        await store.putImageRecord(old.id, 0, { r: 1 });
        await store.putImageRecord(live.id, 0, { r: 2 });
        await store.finishJob(old.id, { status: 'done', result: {}, leaseOwner: 'w', ttlMs: 1000, now: T0, keepImages: true });
        assert.ok(await store.getJob(old.id, T0 + 999));
        assert.equal(await store.getJob(old.id, T0 + 1000), null, 'gone for readers once expired');
        assert.equal(await store.deleteExpired(T0 + 999), 0);
        assert.equal(await store.deleteExpired(T0 + 1000), 1);
        assert.equal(await store.deleteExpired(T0 + 1000), 0);
        for (const table of ['job_inputs', 'job_images', 'image_records']) {
          assert.equal(num((await db.query(`SELECT count(*) AS n FROM ${table} WHERE job_id = '${old.id}'`))[0]!.n), 0, table);
        }
        assert.ok(await store.getJob(live.id, T0 + 1000));
        assert.ok(await store.getJob(queued.id, T0 + 1000));
        assert.deepEqual(await store.doneImageIndices(live.id), [0]);
        assert.equal((await store.getJobInput(live.id))?.mode, 'model');
        assert.equal(await store.deleteJob(live.id), true);
        assert.equal(num((await db.query(`SELECT count(*) AS n FROM image_records WHERE job_id = '${live.id}'`))[0]!.n), 0);
        assert.equal(await store.deleteJob(live.id), false);
      });
    });

    describe('migrations', () => {
      test('opening twice, or four times at once, applies each migration once', async (t) => {
        const db = await engine.newDatabase();
        const stores = await Promise.all([db.open(), db.open(), db.open(), db.open()]);
        t.after(() => Promise.all(stores.map((s) => s.close())));
        const again = await db.open();
        t.after(() => again.close());
        const rows = await db.query('SELECT version, name FROM schema_migrations ORDER BY version');
        assert.deepEqual(rows.map((r) => [num(r.version), r.name]), db.migrations.map((m) => [m.version, m.name]));
      });

      test('a new migration is applied; a failing one is rolled back entirely', async () => {
        const db = await engine.newDatabase();
        const v2: Migration = { version: db.migrations.length + 1, name: 'test_extra', sql: 'CREATE TABLE extra_test (x integer);' };
        const s2 = await db.open({ migrations: [...db.migrations, v2] });
        await s2.close();
        const bad: Migration = { version: v2.version + 1, name: 'test_bad', sql: 'CREATE TABLE partial_test (x integer); INSERT INTO no_such_table VALUES (1);' };
        await assert.rejects(db.open({ migrations: [...db.migrations, v2, bad] }));
        const rows = await db.query('SELECT max(version) AS v FROM schema_migrations');
        assert.equal(num(rows[0]!.v), v2.version);
        await assert.rejects(db.query('SELECT * FROM partial_test'), 'the failed migration left no table');
        const s3 = await db.open({ migrations: [...db.migrations, v2] });
        await s3.close();
      });

      test('a database newer than the code → SchemaTooNewError naming both versions', async () => {
        const db = await engine.newDatabase();
        const s = await db.open();
        await s.close();
        const latest = db.migrations.length;
        await db.query(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (${latest + 41}, 'from_the_future', 0)`);
        const err = await db.open().then(() => null, (e: unknown) => e);
        assert.ok(err instanceof SchemaTooNewError, `got ${String(err)}`);
        assert.equal(err.databaseVersion, latest + 41);
        assert.equal(err.codeVersion, latest);
        assert.match(err.message, new RegExp(`${latest + 41}.*${latest}`));
      });
    });

    describe('blobs, readiness, close', () => {
      test('a 5 MB image and a 3 MB record round-trip byte for byte', async (t) => {
        const { store } = await setup(t);
        const big = randomBytes(5 * 1024 * 1024);
        const job = await store.createJob(modelJob({}, [{ index: 0, fileName: 'big.png', bytes: big }, img(1)]));
        const got = await store.getJobImage(job.id, 0);
        assert.equal(got?.size, big.length);
        assert.ok(Buffer.from(got!.bytes).equals(big));
        const rec = randomBytes(3 * 1024 * 1024);
        await store.putImageRecord(job.id, 0, rec);
        const [back] = await store.listImageRecords(job.id);
        assert.ok(Buffer.from(back!.record as Uint8Array).equals(rec));
      });

      test('ping answers; after close every call rejects with StoreUnavailableError (closed)', async () => {
        const db = await engine.newDatabase();
        const store = await db.open();
        await store.ping();
        const job = await store.createJob(detectionsJob());
        await store.close();
        await store.close(); // idempotent
        for (const call of [store.ping(), store.getJob(job.id), store.claimNext('w', 1000)]) {
          const err = await call.then(() => null, (e: unknown) => e);
          assert.ok(err instanceof StoreUnavailableError, `got ${String(err)}`);
          assert.equal(err.reason, 'closed');
          assert.ok(err.retryAfterSeconds >= 1);
        }
      });
    });

    describe('datasets and history', () => {
      const ANN = { images: [{ id: 1, file_name: 'im0.png' }, { id: 2, file_name: 'im1.png' }], annotations: [{ id: 1, image_id: 1, category_id: 1 }], categories: [{ id: 1, name: 'square' }] };
      const newDataset = (over: Partial<NewDataset> = {}, images: NewJobImage[] = [img(0), img(1)]): NewDataset => ({
        name: 'golden', annotations: ANN, annotationCount: 1, categories: [{ id: 1, name: 'square' }], images, createdAt: T0, ...over,
      });
      const RESULT = {
        counts: { images: 2 },
        losses: { mean: { loss_objectness: 0.01, loss_rpn_box_reg: 0.02, loss_classifier: 0.03, loss_box_reg: 0.04, loss_mask: Number.NaN, loss: 0.5 } },
        coco: {
          bbox: { stats: [0.5, 0.75, 0.25, -1], per_category: [{ category_id: 1, name: 'square', ap: 0.5 }, { category_id: 2, name: 'circle', ap: null }] },
          segm: { stats: [0.4, 0.6, null], per_category: [{ category_id: 1, name: 'square', ap: 0.4 }] },
        },
      };

      test('a dataset is created with its images in one transaction, read back, listed and counted; names are unique per owner; the cap holds', async (t) => {
        const { store } = await setup(t);
        const d = await store.createDataset(newDataset({ owner: 'alice', schedule: { cron: '0 3 * * *', model: 'shapes', version: null, auto: true, nextRunAt: T0 + 5 } }));
        assert.match(d.id, /^[0-9a-f-]{36}$/);
        assert.deepEqual({ name: d.name, owner: d.owner, images: d.images, annotations: d.annotations, evaluations: d.evaluations, createdAt: d.createdAt },
          { name: 'golden', owner: 'alice', images: 2, annotations: 1, evaluations: 0, createdAt: T0 });
        assert.equal(d.bytes, 128);
        assert.deepEqual(d.categories, [{ id: 1, name: 'square' }]);
        assert.deepEqual(d.schedule, { cron: '0 3 * * *', model: 'shapes', version: null, auto: true, nextRunAt: T0 + 5, lastRunAt: null, lastJobId: null, lastError: null });
        assert.equal((await store.getDataset(d.id, 'alice'))?.id, d.id);
        assert.equal(await store.getDataset(d.id, 'bob'), null, "another owner's dataset is not found");
        assert.equal((await store.getDataset(d.id))?.id, d.id, 'no owner given: any');
        assert.equal(await store.getDataset('nope'), null);
        await assert.rejects(store.createDataset(newDataset({ owner: 'alice' })), DatasetExistsError);
        const bobs = await store.createDataset(newDataset({ owner: 'bob', createdAt: T0 + 1 }));
        const anon = await store.createDataset(newDataset({ createdAt: T0 + 2 }));
        await assert.rejects(store.createDataset(newDataset({})), DatasetExistsError, 'no owner: one namespace');
        assert.equal(await store.countDatasets(), 3);
        await assert.rejects(store.createDataset(newDataset({ name: 'fourth', max: 3 })), DatasetLimitError);
        // a failing image leaves nothing
        await assert.rejects(store.createDataset(newDataset({ name: 'broken' }, [img(0), { index: 1, fileName: 'x.png' }])));
        assert.equal(await store.countDatasets(), 3);
        const all = await store.listDatasets({ limit: 2 });
        assert.deepEqual(all.datasets.map((x) => x.id), [anon.id, bobs.id]);
        const rest = await store.listDatasets({ limit: 2, cursor: all.nextCursor });
        assert.deepEqual(rest.datasets.map((x) => x.id), [d.id]);
        assert.equal(rest.nextCursor, null);
        assert.deepEqual((await store.listDatasets({ owner: 'bob' })).datasets.map((x) => x.id), [bobs.id]);
      });

      test('a dataset job reads its inputs from the dataset, is kept as history and counted apart from uploaded jobs', async (t) => {
        const { store } = await setup(t);
        const images = [img(0, 100), img(1, 200)];
        const d = await store.createDataset(newDataset({}, images));
        await assert.rejects(store.createJob({ options: {}, total: 0, datasetId: randomUUID(), input: { mode: 'dataset' } }), DatasetNotFoundError);
        const job = await store.createJob({ options: {}, total: 0, createdAt: T0, datasetId: d.id, modelName: 'shapes', modelVersion: '1', modelSha256: 'ab'.repeat(32), trigger: 'manual', input: { mode: 'dataset' } });
        assert.equal(job.mode, 'model');
        assert.equal(job.datasetId, d.id);
        assert.equal(job.progress.total, 2);
        const input = await store.getJobInput(job.id);
        assert.equal(input?.mode, 'model');
        assert.deepEqual(input?.mode === 'model' && input.annotations, ANN);
        assert.deepEqual(input?.mode === 'model' && input.images, [
          { index: 0, fileName: 'im0.png', field: 'image[0]', size: 100 }, { index: 1, fileName: 'im1.png', field: 'image[1]', size: 200 },
        ]);
        assert.ok(Buffer.from((await store.getJobImage(job.id, 1))!.bytes).equals(images[1]!.bytes));
        assert.equal(await store.getJobImage(job.id, 7), null);
        const uploaded = await store.createJob(detectionsJob());
        assert.equal((await store.countByStatus('history')).queued, 1);
        assert.equal((await store.countByStatus('upload')).queued, 1);
        assert.equal((await store.countByStatus()).queued, 2);
        assert.deepEqual((await store.listJobs({ kind: 'history', now: T0 })).jobs.map((j) => j.id), [job.id]);
        assert.deepEqual((await store.listJobs({ kind: 'upload', now: T0 })).jobs.map((j) => j.id), [uploaded.id]);
        const claimed = await store.claimJob(job.id, 'w', 60_000, T0);
        assert.ok(claimed);
        await store.putImageRecord(job.id, 0, new Uint8Array([9, 9]));
        assert.ok(await store.finishJob(job.id, { status: 'done', result: RESULT, now: T0 + 10, ttlMs: TTL, leaseOwner: 'w' }));
        assert.equal((await store.getJob(job.id, T0 + 10 * TTL))?.expiresAt, null, 'history never expires');
        assert.equal(await store.deleteExpired(T0 + 10 * TTL), 0);
        assert.equal((await store.listImageRecords(job.id)).length, 1, 'the records stay (comparisons need them)');
        assert.ok(await store.getJobImage(job.id, 0), 'the images are the dataset\'s: still readable');
        // a queued dataset job cancelled: history too
        const q = await store.createJob({ options: {}, total: 0, createdAt: T0 + 1, datasetId: d.id, input: { mode: 'dataset' } });
        assert.equal((await store.requestCancel(q.id, TTL, T0 + 2))?.expiresAt, null);
      });

      test('a dataset is not deleted while a job of it is queued or running; then it goes with its evaluations', async (t) => {
        const { store } = await setup(t);
        const d = await store.createDataset(newDataset({ owner: 'alice' }));
        const job = await store.createJob({ options: {}, total: 0, createdAt: T0, datasetId: d.id, owner: 'alice', input: { mode: 'dataset' } });
        assert.equal(await store.deleteDataset(d.id, 'bob'), 'missing');
        assert.equal(await store.deleteDataset(d.id, 'alice'), 'busy');
        assert.ok(await store.claimJob(job.id, 'w', 60_000, T0));
        assert.equal(await store.deleteDataset(d.id), 'busy');
        await store.putImageRecord(job.id, 0, { k: 1 });
        assert.ok(await store.finishJob(job.id, { status: 'done', result: RESULT, now: T0 + 1, ttlMs: TTL, leaseOwner: 'w' }));
        assert.equal((await store.getDataset(d.id))?.evaluations, 1);
        assert.equal(await store.deleteDataset(d.id, 'alice'), 'deleted');
        assert.equal(await store.getDataset(d.id), null);
        assert.equal(await store.getJob(job.id, T0), null);
        assert.deepEqual(await store.listImageRecords(job.id), []);
        assert.equal(await store.deleteDataset(d.id), 'missing');
      });

      test('the history lists summaries from the summary columns, filtered and paged', async (t) => {
        const { store } = await setup(t);
        const d = await store.createDataset(newDataset({ owner: 'alice' }));
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) {
          const j = await store.createJob({
            options: {}, total: 0, createdAt: T0 + i * 1000, datasetId: d.id, owner: i === 4 ? 'bob' : 'alice', modelName: i % 2 ? 'm1' : 'm2', modelVersion: String(i),
            modelSha256: 'cd'.repeat(32), trigger: i === 0 ? 'schedule' : 'manual', input: { mode: 'dataset' },
          });
          ids.push(j.id);
          if (i < 3) {
            await store.claimJob(j.id, 'w', 60_000, T0);
            await store.finishJob(j.id, { status: 'done', result: RESULT, now: T0 + i * 1000 + 500, ttlMs: TTL, leaseOwner: 'w' });
          }
        }
        const up = await store.createJob(detectionsJob({ createdAt: T0 + 10_000, owner: 'alice' }));
        const all = await store.listHistory({ now: T0 });
        assert.deepEqual(all.rows.map((r) => r.id), [up.id, ...[...ids].reverse()]);
        const alice = await store.listHistory({ owner: 'alice', datasetId: d.id, now: T0 });
        assert.deepEqual(alice.rows.map((r) => r.id), [ids[3], ids[2], ids[1], ids[0]]);
        const r0 = alice.rows[3]!;
        assert.deepEqual({ status: r0.status, model: r0.modelName, version: r0.modelVersion, sha: r0.modelSha256, ds: r0.datasetId, name: r0.datasetName, trigger: r0.trigger, total: r0.total, finishedAt: r0.finishedAt },
          { status: 'done', model: 'm2', version: '0', sha: 'cd'.repeat(32), ds: d.id, name: 'golden', trigger: 'schedule', total: 2, finishedAt: T0 + 500 });
        assert.deepEqual(r0.summary, {
          images: 2,
          losses: { loss_objectness: 0.01, loss_rpn_box_reg: 0.02, loss_classifier: 0.03, loss_box_reg: 0.04, loss_mask: null, loss: 0.5 },
          box: { ap: 0.5, ap50: 0.75, ap75: 0.25 }, mask: { ap: 0.4, ap50: 0.6, ap75: null }, classes: [],
        });
        const queued = alice.rows[0]!;
        assert.deepEqual(queued.summary, { images: null, losses: null, box: { ap: null, ap50: null, ap75: null }, mask: { ap: null, ap50: null, ap75: null }, classes: [] });
        const withClasses = await store.listHistory({ id: ids[0], classes: true, now: T0 });
        assert.deepEqual(withClasses.rows[0]!.summary.classes, [
          { category_id: 1, name: 'square', box_ap: 0.5, mask_ap: 0.4 }, { category_id: 2, name: 'circle', box_ap: null, mask_ap: null },
        ]);
        assert.deepEqual((await store.listHistory({ id: ids[0], owner: 'bob', now: T0 })).rows, []);
        assert.deepEqual((await store.listHistory({ id: 'not-a-uuid', now: T0 })).rows, []);
        assert.deepEqual((await store.listHistory({ modelName: 'm1', now: T0 })).rows.map((r) => r.id), [ids[3], ids[1]]);
        assert.deepEqual((await store.listHistory({ modelName: 'm2', modelVersion: '2', now: T0 })).rows.map((r) => r.id), [ids[2]]);
        assert.deepEqual((await store.listHistory({ status: 'done', datasetId: d.id, now: T0 })).rows.map((r) => r.id), [ids[2], ids[1], ids[0]]);
        assert.deepEqual((await store.listHistory({ since: T0 + 1000, until: T0 + 3000, now: T0 })).rows.map((r) => r.id), [ids[2], ids[1]]);
        const p1 = await store.listHistory({ datasetId: d.id, limit: 2, now: T0 });
        const p2 = await store.listHistory({ datasetId: d.id, limit: 2, cursor: p1.nextCursor, now: T0 });
        const p3 = await store.listHistory({ datasetId: d.id, limit: 2, cursor: p2.nextCursor, now: T0 });
        assert.deepEqual([...p1.rows, ...p2.rows, ...p3.rows].map((r) => r.id), [...ids].reverse());
        assert.equal(p3.nextCursor, null);
        await assert.rejects(store.listHistory({ cursor: 'garbage' }), InvalidCursorError);
        // an uploaded job's summary is written at finish too; it expires as before
        await store.claimJob(up.id, 'w', 60_000, T0);
        await store.finishJob(up.id, { status: 'done', result: RESULT, now: T0 + 20_000, ttlMs: TTL, leaseOwner: 'w' });
        assert.equal((await store.listHistory({ id: up.id, now: T0 + 20_000 })).rows[0]?.summary.box.ap, 0.5);
        assert.deepEqual((await store.listHistory({ id: up.id, now: T0 + 20_000 + TTL })).rows, []);
      });

      test('schedules: due datasets, one claim per firing across connections, run outcomes, automatic runs, baseline', async (t) => {
        const { store, open } = await setup(t);
        const other = await open();
        const d = await store.createDataset(newDataset({ owner: 'alice' }));
        const e = await store.createDataset(newDataset({ name: 'auto-any', schedule: { cron: null, model: null, version: null, auto: true, nextRunAt: null } }));
        assert.equal(await store.setDatasetSchedule(d.id, { cron: '0 * * * *', model: 'shapes', version: '1', auto: true, nextRunAt: T0 + 100 }, 'bob'), null);
        const set = await store.setDatasetSchedule(d.id, { cron: '0 * * * *', model: 'shapes', version: '1', auto: true, nextRunAt: T0 + 100 }, 'alice');
        assert.equal(set?.schedule.nextRunAt, T0 + 100);
        assert.deepEqual(await store.dueDatasets(T0 + 99), []);
        assert.deepEqual((await store.dueDatasets(T0 + 100)).map((x) => x.id), [d.id]);
        const wins = await Promise.all([store.claimScheduledRun(d.id, T0 + 100, T0 + 200, T0 + 150), other.claimScheduledRun(d.id, T0 + 100, T0 + 200, T0 + 150)]);
        assert.deepEqual(wins.sort(), [false, true]);
        assert.deepEqual(await store.dueDatasets(T0 + 150), []);
        await store.recordDatasetRun(d.id, { jobId: null, error: 'no slot' });
        const got = (await store.getDataset(d.id))!;
        assert.deepEqual([got.schedule.lastRunAt, got.schedule.lastError, got.schedule.nextRunAt], [T0 + 150, 'no slot', T0 + 200]);
        assert.deepEqual((await store.autoDatasets('shapes')).map((x) => x.id).sort(), [d.id, e.id].sort());
        assert.deepEqual((await store.autoDatasets('other')).map((x) => x.id), [e.id]);
        const claims = await Promise.all([store.claimAutoRun(e.id, 'shapes@1:model_loaded'), other.claimAutoRun(e.id, 'shapes@1:model_loaded')]);
        assert.deepEqual(claims.sort(), [false, true]);
        assert.equal(await store.claimAutoRun(e.id, 'shapes@2:model_loaded'), true);
        const job = randomUUID();
        assert.equal((await store.setDatasetBaseline(d.id, job, 'alice'))?.baselineJobId, job);
        assert.equal(await store.setDatasetBaseline(d.id, job, 'bob'), null);
        assert.equal((await store.setDatasetBaseline(d.id, null))?.baselineJobId, null);
      });
    });

    describe('records of distributed tasks', () => {
      test('done indices within a range; the count of records; a record written twice counts once', async (t) => {
        const { store } = await setup(t);
        const job = await store.createJob(modelJob({}, [img(0), img(1), img(2), img(3), img(4)]));
        assert.equal(await store.countImageRecords(job.id), 0);
        for (const k of [4, 1, 2, 1]) await store.putImageRecord(job.id, k, { k });
        assert.equal(await store.countImageRecords(job.id), 3);
        assert.deepEqual(await store.doneImageIndices(job.id, { from: 1, to: 3 }), [1, 2]);
        assert.deepEqual(await store.doneImageIndices(job.id, { from: 3 }), [4]);
        assert.deepEqual(await store.doneImageIndices(job.id, { to: 2 }), [1]);
        assert.deepEqual(await store.doneImageIndices(job.id, { from: 5, to: 9 }), []);
        assert.deepEqual(await store.doneImageIndices(job.id), [1, 2, 4]);
        assert.equal(await store.countImageRecords(randomUUID()), 0);
        assert.equal(await store.countImageRecords('not-a-uuid'), 0);
      });
    });

    describe('drift references', () => {
      const ref = (over: Partial<Parameters<Store['putDriftReference']>[0]> = {}): Parameters<Store['putDriftReference']>[0] => ({
        model: 'shapes-maskrcnn', version: '1.1.0', source: { kind: 'live', last: 3, window_seconds: null, from: 'a', to: 'b' },
        histograms: { class_mix: { bins: ['square', 'circle'], counts: [3, 1] }, score: { bins: ['0.6', '+Inf'], counts: [0, 4] } },
        images: 3, owner: 'alice', createdAt: T0, ...over,
      });

      test('put, get (JSON kept with its key order), list by model then version, replace, delete', async (t) => {
        const { store } = await setup(t);
        assert.equal(await store.getDriftReference('shapes-maskrcnn', '1.1.0'), null);
        assert.deepEqual(await store.listDriftReferences(), []);
        await store.putDriftReference(ref());
        const got = await store.getDriftReference('shapes-maskrcnn', '1.1.0');
        assert.deepEqual(got, ref());
        assert.deepEqual(Object.keys(got!.histograms as object), ['class_mix', 'score']);
        await store.putDriftReference(ref({ version: '1.0.0', owner: null }));
        await store.putDriftReference(ref({ model: 'a-model', version: '9' }));
        assert.deepEqual((await store.listDriftReferences()).map((r) => `${r.model}@${r.version}`), ['a-model@9', 'shapes-maskrcnn@1.0.0', 'shapes-maskrcnn@1.1.0']);
        assert.equal((await store.getDriftReference('shapes-maskrcnn', '1.0.0'))!.owner, null);
        // one reference per model version: a second put replaces the first
        const big = { class_mix: { bins: ['square'], counts: [Number.MAX_SAFE_INTEGER] } };
        await store.putDriftReference(ref({ images: 12, histograms: big, createdAt: T0 + 5, source: { kind: 'evaluation', evaluation_id: 'x' } }));
        const replaced = await store.getDriftReference('shapes-maskrcnn', '1.1.0');
        assert.deepEqual(replaced, ref({ images: 12, histograms: big, createdAt: T0 + 5, source: { kind: 'evaluation', evaluation_id: 'x' } }));
        assert.equal((await store.listDriftReferences()).length, 3);
        assert.equal(await store.deleteDriftReference('shapes-maskrcnn', '1.1.0'), true);
        assert.equal(await store.deleteDriftReference('shapes-maskrcnn', '1.1.0'), false);
        assert.equal(await store.getDriftReference('shapes-maskrcnn', '1.1.0'), null);
        assert.equal((await store.listDriftReferences()).length, 2);
      });

      test('kept across connections (another process reads what one wrote)', async (t) => {
        const { store, open } = await setup(t);
        await store.putDriftReference(ref());
        const other = await open();
        assert.deepEqual(await other.getDriftReference('shapes-maskrcnn', '1.1.0'), ref());
      });
    });
  });
}
