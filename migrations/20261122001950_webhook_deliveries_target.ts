import type { Knex } from 'knex';

/**
 * The `webhooks` queue delivers to `/admin/webhooks` rows and to the log webhook (a `settings`
 * document, no row): `target` names which, and `webhook_id` is set exactly for `webhook`.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('webhook_deliveries', (t) => {
    t.text('target').notNullable().defaultTo('webhook');
  });
  await knex.raw('alter table webhook_deliveries alter column webhook_id drop not null');
  await knex.raw(`alter table webhook_deliveries add constraint webhook_deliveries_target_check
    check ((target = 'webhook' and webhook_id is not null) or (target = 'log_webhook' and webhook_id is null))`);
  await knex.raw('create index webhook_deliveries_target_created_at_idx on webhook_deliveries (target, created_at)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists webhook_deliveries_target_created_at_idx');
  await knex.raw('alter table webhook_deliveries drop constraint if exists webhook_deliveries_target_check');
  await knex('webhook_deliveries').where('target', 'log_webhook').delete();
  await knex.raw('alter table webhook_deliveries alter column webhook_id set not null');
  await knex.schema.alterTable('webhook_deliveries', (t) => {
    t.dropColumn('target');
  });
}
