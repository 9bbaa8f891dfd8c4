/**
 * @file Entry point of the durable store: {@link openStore} picks the engine — PostgreSQL when a
 * DATABASE_URL is given, else SQLite in `<DATA_DIR>/maskrcnn-serve.db` — and applies migrations.
 * See types.ts for the interface, docs/storage.md for the operations side.
 */
import { openPostgresStore, type PostgresStoreOptions } from './postgres.js';
import { openSqliteStore, type SqliteStoreOptions } from './sqlite.js';
import type { ImageRecord, Store } from './types.js';

export * from './errors.js';
export type * from './types.js';
export { JOB_STATUSES } from './types.js';

/** What openStore needs (from the service configuration). */
export interface StoreConfig {
  /** SQLite: directory of maskrcnn-serve.db (DATA_DIR, default ./data; created if missing). */
  dataDir: string;
  /** PostgreSQL URL (DATABASE_URL); when set, dataDir is not used. */
  databaseUrl?: string | undefined;
  /** Engine-specific options (tests, tuning). */
  sqlite?: Omit<SqliteStoreOptions, 'dataDir'>;
  postgres?: Omit<PostgresStoreOptions, 'url'>;
}

/**
 * Opens the configured store, migrated to the code's schema.
 * @throws StoreCorruptError (SQLite file unusable), SchemaTooNewError (database from a newer
 *   version), StoreUnavailableError (cannot reach / open the database)
 */
export async function openStore(config: StoreConfig): Promise<Store> {
  const url = config.databaseUrl?.trim();
  if (url) return openPostgresStore({ ...config.postgres, url });
  return openSqliteStore({ ...config.sqlite, dataDir: config.dataDir });
}

/** All records of a job in image order, `pageSize` rows per query (never the whole set at once). */
export async function* iterateImageRecords(store: Store, jobId: string, pageSize = 500): AsyncGenerator<ImageRecord> {
  let after = -1;
  for (;;) {
    const page = await store.listImageRecords(jobId, { after, limit: pageSize });
    yield* page;
    if (page.length < pageSize) return;
    after = page[page.length - 1]!.index;
  }
}
