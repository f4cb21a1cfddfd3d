import type { Knex } from 'knex';

/**
 * The transactional outbox of admin writes (DESIGN §6): written in the same transaction as the
 * rows, applied to Redis by the `sync` processor, which claims rows with FOR UPDATE SKIP LOCKED.
 * `version` comes from its own sequence, so a later change always carries a higher version and
 * Redis can refuse to overwrite newer state with older.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('create sequence sync_outbox_version_seq');
  await knex.schema.createTable('sync_outbox', (t) => {
    t.bigIncrements('id');
    // What changed: master, key, provider_group, api_key, binding, model, feature, snapshot, …
    t.text('resource').notNullable();
    t.text('resource_id');
    // upsert | delete | snapshot | …
    t.text('action').notNullable();
    t.jsonb('payload').notNullable().defaultTo(knex.raw(`'{}'::jsonb`));
    t.enu('status', ['pending', 'processing', 'done', 'failed']).notNullable().defaultTo('pending');
    t.integer('attempts').notNullable().defaultTo(0);
    t.text('last_error');
    t.timestamp('next_attempt_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // When a processor claimed the row (status processing); the sweeper re-enqueues stale claims.
    t.timestamp('claimed_at', { useTz: true });
    t.bigInteger('version').notNullable().defaultTo(knex.raw(`nextval('sync_outbox_version_seq')`));
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('processed_at', { useTz: true });
    t.index(['resource', 'resource_id'], 'sync_outbox_resource_idx');
    t.check('attempts >= 0', {}, 'sync_outbox_attempts_check');
  });
  await knex.raw('alter sequence sync_outbox_version_seq owned by sync_outbox.version');
  // The claim and sweep queries only ever look at unfinished rows.
  await knex.raw(
    `create index sync_outbox_unfinished_idx on sync_outbox (next_attempt_at, id)
       where status in ('pending', 'failed')`,
  );
  await knex.raw(`create index sync_outbox_processing_idx on sync_outbox (claimed_at) where status = 'processing'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('sync_outbox');
  await knex.raw('drop sequence if exists sync_outbox_version_seq');
}
