import knexFactory, { type Knex } from 'knex';
import { Model } from 'objection';
import pg from 'pg';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// int8 (bigint) columns hold counters and ids well below 2^53: read them as numbers.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));
// numeric columns (prices, costs) as numbers; precision is kept in the database.
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (v) => Number(v));

const here = path.dirname(fileURLToPath(import.meta.url));
/** Running from TypeScript sources (tsx) or from the `tsc` build in dist/. */
const compiled = !import.meta.url.endsWith('.ts');

export const MIGRATIONS_DIR = path.resolve(here, '..', '..', 'migrations');

export function migrationConfig(): Knex.MigratorConfig {
  return {
    directory: MIGRATIONS_DIR,
    tableName: 'knex_migrations',
    loadExtensions: compiled ? ['.js'] : ['.ts'],
    extension: 'ts',
  };
}

export interface DatabaseSettings {
  dsn: string;
  poolMax?: number;
  /** Application name shown in pg_stat_activity. */
  applicationName?: string;
}

/** A knex instance bound to objection's Model. One per process. */
export function createKnex(settings: DatabaseSettings): Knex {
  const knex = knexFactory({
    client: 'pg',
    connection: { connectionString: settings.dsn, application_name: settings.applicationName ?? 'ez-api', connectionTimeoutMillis: 5_000 },
    pool: { min: 0, max: settings.poolMax ?? 10, acquireTimeoutMillis: 10_000 },
    acquireConnectionTimeout: 10_000,
    migrations: migrationConfig(),
  });
  Model.knex(knex);
  return knex;
}

/** Runs every pending migration; returns the names applied. */
export async function migrateLatest(knex: Knex): Promise<string[]> {
  const [, applied] = (await knex.migrate.latest(migrationConfig())) as [number, string[]];
  return applied;
}

/** Rolls every migration back (tests, and `ez-api migrate down --all`). */
export async function rollbackAll(knex: Knex): Promise<string[]> {
  const [, rolledBack] = (await knex.migrate.rollback(migrationConfig(), true)) as [number, string[]];
  return rolledBack;
}

/** True when PostgreSQL answers a trivial query within timeoutMs. */
export async function pingDatabase(knex: Knex, timeoutMs = 2_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      knex.raw('select 1'),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), timeoutMs);
      }),
    ]);
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
