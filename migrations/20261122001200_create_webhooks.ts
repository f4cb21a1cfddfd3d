import type { Knex } from 'knex';

/**
 * Outgoing webhooks (Standard Webhooks signing). The signing secret is encrypted like upstream
 * secrets (AES-256-GCM, tag appended, AAD bound to the row id, `key_version`). Empty events = all.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('webhooks', (t) => {
    t.bigIncrements('id');
    t.text('url').notNullable();
    t.text('description').notNullable().defaultTo('');
    t.binary('secret_ciphertext').notNullable();
    t.binary('secret_nonce').notNullable();
    t.integer('key_version').notNullable().defaultTo(1);
    t.specificType('events', 'text[]').notNullable().defaultTo('{}');
    t.enu('status', ['active', 'disabled']).notNullable().defaultTo('active');
    // Why it was disabled, e.g. the receiver answered 410 Gone.
    t.text('disabled_reason');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['status'], 'webhooks_status_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('webhooks');
}
