/**
 * @file Versioned schema migrations, one list per dialect (sqlite/, postgres/). Each migration is a
 * TypeScript module exporting its SQL as a string (`NNN_name.ts`), so `tsc` ships it in dist/ with
 * the rest of src/ (no .sql files to copy next to the build). The engines apply the pending ones at
 * open, all in one transaction, and record each in `schema_migrations(version, name, applied_at)`.
 * Rules: never edit a released migration, add a new one with the next version; versions start at 1
 * and increase by 1.
 */
import { SchemaTooNewError } from '../errors.js';

/** One schema change. */
export interface Migration {
  /** 1, 2, 3, … (the NNN of the file name). */
  readonly version: number;
  /** The file name's `name` part, recorded with the version. */
  readonly name: string;
  /** Statements, separated by `;` (run as one script inside the migration transaction). */
  readonly sql: string;
}

/** Checks that versions are 1..n in order (a programming error otherwise). @returns the latest version */
export function latestVersion(migrations: readonly Migration[]): number {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${m.name}: version ${m.version} where ${i + 1} was expected`);
  });
  return migrations.length;
}

/**
 * The migrations still to apply on a database whose latest recorded version is `current`.
 * @throws SchemaTooNewError when the database is ahead of the code
 */
export function pendingMigrations(migrations: readonly Migration[], current: number, where: string): Migration[] {
  const latest = latestVersion(migrations);
  if (current > latest) throw new SchemaTooNewError(current, latest, where);
  return migrations.filter((m) => m.version > current);
}
