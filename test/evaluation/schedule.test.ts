/**
 * Dataset schedules and automatic runs (src/evaluation/schedule.ts) on a real SQLite store with an
 * injected clock (nothing sleeps): a cron schedule fires once when due, not before, and once across
 * a restart (missed firings collapse into one); two processes on one database submit a firing once;
 * a failed submission is recorded and the schedule moves on; automatic runs on model events happen
 * once per (dataset, model@version, event) and only for the datasets that opted in.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DatasetScheduler, nextRunAt } from '../../src/evaluation/schedule.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store, StoredDataset } from '../../src/store/index.js';

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

const H = 3_600_000;
const T0 = Date.UTC(2026, 10, 30, 10, 20); // 10:20 UTC

async function setup(): Promise<{ dir: string; store: Store }> {
  const dir = mkdtempSync(join(tmpdir(), 'schedule-test-'));
  dirs.push(dir);
  return { dir, store: await openSqliteStore({ dataDir: dir }) };
}

async function dataset(store: Store, name: string, schedule: Partial<StoredDataset['schedule']> = {}): Promise<StoredDataset> {
  const cron = schedule.cron ?? null;
  return store.createDataset({
    name, annotations: { images: [{ id: 1, file_name: 'a.png' }], annotations: [], categories: [{ id: 1, name: 'square' }] }, annotationCount: 0,
    categories: [{ id: 1, name: 'square' }], images: [{ index: 0, fileName: 'a.png', bytes: new Uint8Array([1, 2, 3]) }], createdAt: T0,
    schedule: { cron, model: schedule.model ?? null, version: schedule.version ?? null, auto: schedule.auto ?? false, nextRunAt: cron ? nextRunAt(cron, T0) : null },
  });
}

function scheduler(store: Store, clock: { now: number }, calls: string[], fail = false): DatasetScheduler {
  return new DatasetScheduler({
    store, clock: () => clock.now,
    submit: async (d, trigger, model) => {
      calls.push(`${d.name}:${trigger}:${model.name ?? '-'}@${model.version ?? '-'}`);
      if (fail) throw new Error('every job slot is taken');
      return '3f2b8c1e-7d4a-4e8b-9a51-0c6f2d9e1b7a';
    },
  });
}

describe('dataset schedules', () => {
  test('nextRunAt steps cron expressions in UTC; an invalid one is a 400 naming the field', () => {
    assert.equal(nextRunAt('0 * * * *', T0), Date.UTC(2026, 10, 30, 11, 0));
    assert.equal(nextRunAt('30 3 * * *', T0), Date.UTC(2026, 11, 1, 3, 30));
    assert.throws(() => nextRunAt('not cron', T0, 'body.cron'), (e: Error & { field?: string; code?: string }) => e.field === 'body.cron' && e.code === 'MRC_ERR_VALIDATION');
  });

  test('a schedule fires once when due, never before, and once after a restart that missed several firings', async (t) => {
    const { dir, store } = await setup();
    t.after(() => store.close());
    const d = await dataset(store, 'hourly', { cron: '0 * * * *', model: 'shapes' });
    assert.equal(d.schedule.nextRunAt, Date.UTC(2026, 10, 30, 11, 0));
    const clock = { now: T0 + 30 * 60_000 }; // 10:50
    const calls: string[] = [];
    const s = scheduler(store, clock, calls);
    assert.deepEqual(await s.tick(), []);
    clock.now = Date.UTC(2026, 10, 30, 11, 0, 5);
    assert.deepEqual(await s.tick(), [d.id]);
    assert.deepEqual(await s.tick(), [], 'the same firing is not taken twice');
    assert.deepEqual(calls, ['hourly:schedule:shapes@-']);
    let now = (await store.getDataset(d.id))!;
    assert.equal(now.schedule.nextRunAt, Date.UTC(2026, 10, 30, 12, 0));
    assert.equal(now.schedule.lastRunAt, clock.now);
    assert.equal(now.schedule.lastJobId, '3f2b8c1e-7d4a-4e8b-9a51-0c6f2d9e1b7a');

    // "restart": a new process on the same file, five hours later: one firing for the missed ones
    await store.close();
    const reopened = await openSqliteStore({ dataDir: dir });
    t.after(() => reopened.close());
    clock.now = Date.UTC(2026, 10, 30, 17, 10);
    const calls2: string[] = [];
    const s2 = scheduler(reopened, clock, calls2);
    assert.deepEqual(await s2.tick(), [d.id]);
    assert.deepEqual(await s2.tick(), []);
    assert.equal(calls2.length, 1);
    now = (await reopened.getDataset(d.id))!;
    assert.equal(now.schedule.nextRunAt, Date.UTC(2026, 10, 30, 18, 0));
  });

  test('two processes on one database: a firing is submitted once', async (t) => {
    const { dir, store } = await setup();
    const other = await openSqliteStore({ dataDir: dir });
    t.after(async () => { await store.close(); await other.close(); });
    await dataset(store, 'a', { cron: '*/5 * * * *' });
    await dataset(store, 'b', { cron: '*/5 * * * *' });
    const clock = { now: T0 + 10 * 60_000 };
    const calls: string[] = [];
    const fired = await Promise.all([scheduler(store, clock, calls).tick(), scheduler(other, clock, calls).tick()]);
    assert.equal(fired.flat().length, 2);
    assert.deepEqual(calls.sort(), ['a:schedule:-@-', 'b:schedule:-@-']);
  });

  test('a submission that fails is recorded and the schedule moves on', async (t) => {
    const { store } = await setup();
    t.after(() => store.close());
    const d = await dataset(store, 'daily', { cron: '0 3 * * *' });
    const clock = { now: d.schedule.nextRunAt! + 1000 };
    await scheduler(store, clock, [], true).tick();
    const after1 = (await store.getDataset(d.id))!;
    assert.equal(after1.schedule.lastError, 'every job slot is taken');
    assert.equal(after1.schedule.lastJobId, null);
    assert.equal(after1.schedule.nextRunAt, d.schedule.nextRunAt! + 24 * H);
  });

  test('model events evaluate the datasets that opted in, once per version and event', async (t) => {
    const { store } = await setup();
    t.after(() => store.close());
    await dataset(store, 'any-model', { auto: true });
    await dataset(store, 'shapes-only', { auto: true, model: 'shapes' });
    await dataset(store, 'other-model', { auto: true, model: 'other' });
    await dataset(store, 'not-auto', {});
    const calls: string[] = [];
    const s = scheduler(store, { now: T0 }, calls);
    assert.equal((await s.modelEvent('model_loaded', ['shapes', 'shapes-maskrcnn'], '1.1.0')).length, 2);
    assert.equal((await s.modelEvent('model_loaded', ['shapes', 'shapes-maskrcnn'], '1.1.0')).length, 0, 'once per version and event');
    assert.equal((await s.modelEvent('default_changed', ['shapes'], '1.1.0')).length, 2);
    assert.equal((await s.modelEvent('model_loaded', ['shapes'], '1.2.0')).length, 2);
    assert.deepEqual(calls.sort(), [
      'any-model:default_changed:shapes@1.1.0', 'any-model:model_loaded:shapes@1.1.0', 'any-model:model_loaded:shapes@1.2.0',
      'shapes-only:default_changed:shapes@1.1.0', 'shapes-only:model_loaded:shapes@1.1.0', 'shapes-only:model_loaded:shapes@1.2.0',
    ]);
  });
});
