import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { createKnex, migrateLatest, rollbackAll } from '../../src/db/knex.js';
import { testEnv } from '../support/hooks.js';

/** Every table of DESIGN §4 (request_logs' partitions aside). */
const DATA_MODEL_TABLES = [
  'admins',
  'alert_thresholds',
  'alerts',
  'api_keys',
  'audit_events',
  'bindings',
  'keys',
  'masters',
  'models',
  'namespaces',
  'provider_groups',
  'request_logs',
  'request_logs_default',
  'settings',
  'sync_outbox',
  'usage_hourly',
  'webhook_deliveries',
  'webhooks',
];

async function applicationTables(db: Knex): Promise<string[]> {
  const { rows } = await db.raw<{ rows: Array<{ tablename: string }> }>(
    `select tablename from pg_tables where schemaname = 'public' and tablename not like 'knex_migrations%' order by tablename`,
  );
  return rows.map((r) => r.tablename);
}

async function applicationObjects(db: Knex): Promise<string[]> {
  const { rows } = await db.raw<{ rows: Array<{ name: string }> }>(
    `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relname not like 'knex_migrations%'
     union all
     select p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'public'`,
  );
  return rows.map((r) => r.name);
}

function utcDayName(offsetDays: number): string {
  const day = new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);
  return `request_logs_p${day.replaceAll('-', '')}`;
}

describe('database migrations', () => {
  const database = `ez_migrations_${randomBytes(6).toString('hex')}`;
  let db: Knex;

  before(async () => {
    await testEnv().knex.raw('create database ??', [database]);
    const url = new URL(testEnv().pgUrl);
    url.pathname = `/${database}`;
    db = createKnex({ dsn: url.toString(), poolMax: 2, applicationName: 'ez-api-migrations-test' });
  });

  after(async () => {
    await db?.destroy();
    await testEnv().knex.raw('drop database if exists ?? with (force)', [database]);
  });

  it('creates every table of the data model on an empty database', async () => {
    const applied = await migrateLatest(db);
    expect(applied.length).to.be.above(0);
    expect(await applicationTables(db)).to.include.members(DATA_MODEL_TABLES);
  });

  it('partitions request_logs by day, with partitions from yesterday to a week ahead and a default one', async () => {
    const { rows } = await db.raw<{ rows: Array<{ relkind: string }> }>(
      `select relkind from pg_class where relname = 'request_logs'`,
    );
    expect(rows[0]?.relkind).to.equal('p');
    const partitions = await db.raw<{ rows: Array<{ name: string; bound: string }> }>(
      `select c.relname as name, pg_get_expr(c.relpartbound, c.oid) as bound
         from pg_inherits i join pg_class c on c.oid = i.inhrelid
        where i.inhparent = 'request_logs'::regclass`,
    );
    const names = partitions.rows.map((p) => p.name);
    expect(names).to.include.members([utcDayName(-1), utcDayName(0), utcDayName(7), 'request_logs_default']);
    expect(partitions.rows.find((p) => p.name === 'request_logs_default')?.bound).to.equal('DEFAULT');
  });

  it('rolls everything back, leaving no application table, sequence or function behind', async () => {
    await rollbackAll(db);
    expect(await applicationObjects(db)).to.deep.equal([]);
  });

  it('migrates again cleanly after a full rollback', async () => {
    const applied = await migrateLatest(db);
    expect(applied.length).to.be.above(0);
    expect(await applicationTables(db)).to.include.members(DATA_MODEL_TABLES);
    const { rows } = await db.raw<{ rows: Array<{ created: number }> }>(
      `select ez_ensure_request_log_partitions((now() at time zone 'utc')::date, 1) as created`,
    );
    expect(rows[0]?.created).to.equal(0);
  });
});
