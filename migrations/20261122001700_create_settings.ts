import type { Knex } from 'knex';

/**
 * Small control-plane documents keyed by name, the durable copy of state Redis serves:
 * `features` (the `meta:features` flags, so a snapshot rebuild restores them) and `log_webhook`
 * (the `GET|PUT /admin/log-webhook` config). Secrets inside a value are stored encrypted.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('settings', (t) => {
    t.text('key').primary();
    t.jsonb('value').notNullable();
    t.text('updated_by');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('settings');
}
