import type { Knex } from 'knex';

/**
 * Who did what to which object, including every secret reveal. Append-only. actor_type is open
 * text: admin (bootstrap token or named admin), master, system (workers), internal (data planes).
 * metadata never holds a secret.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('audit_events', (t) => {
    t.bigIncrements('id');
    t.text('actor_type').notNullable();
    t.text('actor_id');
    // e.g. master.create, key.revoke, api_key.reveal
    t.text('action').notNullable();
    t.text('object_type');
    t.text('object_id');
    t.jsonb('metadata').notNullable().defaultTo(knex.raw(`'{}'::jsonb`));
    t.text('request_id');
    t.text('ip');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['created_at'], 'audit_events_created_at_idx');
    t.index(['object_type', 'object_id', 'created_at'], 'audit_events_object_idx');
    t.index(['actor_type', 'actor_id', 'created_at'], 'audit_events_actor_idx');
    t.index(['action', 'created_at'], 'audit_events_action_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('audit_events');
}
