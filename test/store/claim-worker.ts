/**
 * @file Worker thread of test/store/sqlite.test.ts: opens its own connection to the shared SQLite
 * file and claims jobs until none is left, then posts the ids it won.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openSqliteStore } from '../../src/store/sqlite.js';

const { dataDir, name } = workerData as { dataDir: string; name: string };
const store = await openSqliteStore({ dataDir, busyTimeoutMs: 20_000 });
const won: string[] = [];
for (;;) {
  const job = await store.claimNext(name, 60_000);
  if (!job) break;
  won.push(job.id);
  await store.putImageRecord(job.id, 0, { by: name }); // a second write per claim: more lock traffic
}
await store.close();
parentPort!.postMessage(won);
