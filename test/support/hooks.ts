import type { Knex } from 'knex';
import { createKnex, migrateLatest } from '../../src/db/knex.js';
import { startTestServices, type TestServices } from './services.js';

/**
 * Mocha root hooks: real PostgreSQL and Redis for the whole run, migrated once. Tests reach them
 * through `testEnv()`; each test cleans what it wrote (resetDatabase / a unique Redis prefix).
 */
let services: TestServices | undefined;
let knex: Knex | undefined;

export interface TestEnv {
  pgUrl: string;
  redisUrl: string;
  knex: Knex;
}

export function testEnv(): TestEnv {
  if (!services || !knex) throw new Error('test services are not started (test/support/hooks.ts root hook)');
  return { pgUrl: services.pgUrl, redisUrl: services.redisUrl, knex };
}

/** Empties every application table (not the migration bookkeeping). */
export async function resetDatabase(db: Knex = testEnv().knex): Promise<void> {
  const { rows } = await db.raw<{ rows: Array<{ tablename: string }> }>(
    `select tablename from pg_tables where schemaname = 'public' and tablename not like 'knex_migrations%'
       and tablename not like 'request_logs_p%'`,
  );
  if (rows.length === 0) return;
  await db.raw(`truncate ${rows.map((r) => `"${r.tablename}"`).join(', ')} restart identity cascade`);
}

export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(180_000);
    services = await startTestServices();
    process.env.EZ_LOG_LEVEL ??= 'silent';
    knex = createKnex({ dsn: services.pgUrl, poolMax: 5, applicationName: 'ez-api-test' });
    await migrateLatest(knex);
  },
  async afterAll(this: Mocha.Context) {
    this.timeout(60_000);
    await knex?.destroy();
    await services?.stop();
  },
};
