import type { Knex } from 'knex';

/** One row per delivery attempt of one event to one webhook. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('webhook_deliveries', (t) => {
    t.bigIncrements('id');
    t.bigInteger('webhook_id').notNullable().references('id').inTable('webhooks').onDelete('CASCADE');
    // The Standard Webhooks `webhook-id`: the same for every attempt of one event.
    t.text('event_id').notNullable();
    t.text('event_type').notNullable();
    t.integer('attempt').notNullable().defaultTo(1);
    // NULL when no HTTP response arrived (connect error, timeout).
    t.integer('status_code');
    t.text('error');
    t.integer('duration_ms');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['webhook_id', 'created_at'], 'webhook_deliveries_webhook_id_created_at_idx');
    t.index(['event_id'], 'webhook_deliveries_event_id_idx');
    t.check('attempt >= 1', {}, 'webhook_deliveries_attempt_check');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('webhook_deliveries');
}
