/**
 * Applies the Kysely migrations in migrations/ (up to the latest, or down to a target).
 * The folder is found from this file, so the CLI works from any working directory, both from
 * source (src/db -> migrations/*.ts) and compiled (dist/src/db -> dist/migrations/*.js).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { FileMigrationProvider, type MigrationResultSet, Migrator, NO_MIGRATIONS } from 'kysely';
import type { Db } from './database.js';

export const MIGRATIONS_FOLDER = path.join(import.meta.dirname, '..', '..', 'migrations');

function createMigrator(db: Db): Migrator {
  return new Migrator({
    db,
    provider: new FileMigrationProvider({ fs, path, migrationFolder: MIGRATIONS_FOLDER }),
  });
}

function unwrap({ error, results }: MigrationResultSet): string[] {
  if (error) {
    const failed = results?.find((result) => result.status === 'Error');
    throw new Error(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${(error as Error).message ?? error}`, {
      cause: error,
    });
  }
  return (results ?? []).map((result) => `${result.direction === 'Up' ? 'applied' : 'reverted'} ${result.migrationName}`);
}

/** Applies every pending migration; returns one line per migration applied. */
export async function migrateToLatest(db: Db): Promise<string[]> {
  return unwrap(await createMigrator(db).migrateToLatest());
}

/** Reverts every migration, leaving an empty schema. */
export async function migrateDownToZero(db: Db): Promise<string[]> {
  return unwrap(await createMigrator(db).migrateTo(NO_MIGRATIONS));
}

export async function migrateDownOne(db: Db): Promise<string[]> {
  return unwrap(await createMigrator(db).migrateDown());
}

export async function listMigrations(db: Db) {
  return createMigrator(db).getMigrations();
}
