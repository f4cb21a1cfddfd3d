import type { Knex } from 'knex';

/**
 * Alert detector thresholds (`GET|PUT /admin/alerts/thresholds`): a single row (id = 1) holding a
 * JSON object. Keys absent from it take the detector's built-in defaults, so new thresholds need
 * no migration. No row = all defaults: the service upserts id 1 on PUT.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('alert_thresholds', (t) => {
    t.smallint('id').primary().defaultTo(1);
    t.jsonb('thresholds').notNullable().defaultTo(knex.raw(`'{}'::jsonb`));
    t.text('updated_by');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.check('id = 1', {}, 'alert_thresholds_singleton_check');
    t.check(`jsonb_typeof(thresholds) = 'object'`, {}, 'alert_thresholds_object_check');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('alert_thresholds');
}
