import type { Knex } from 'knex';

/**
 * Usage accounting (issue #6, docs/budgets.md):
 * - masters get the same lifetime quota as child keys (`quota_limit` -1 = unlimited, `quota_used`),
 *   both in micro-USD of actual cost;
 * - keys and masters get periodic `budgets` (JSON: `{minute|hour|day|month: {requests?, tokens?,
 *   cost_usd?}}`, `{}` = none);
 * - upstream keys carry a `rate_multiplier` (actual cost = list cost × multiplier);
 * - models remember where their prices came from (`price_source`: `default:<table version>` or
 *   `admin`), so loading a newer default table never overwrites an admin's override.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('masters', (t) => {
    t.bigInteger('quota_limit').notNullable().defaultTo(-1);
    t.bigInteger('quota_used').notNullable().defaultTo(0);
    t.jsonb('budgets').notNullable().defaultTo(knex.raw(`'{}'::jsonb`));
  });
  await knex.raw('alter table masters add constraint masters_quota_limit_check check (quota_limit >= -1)');
  await knex.raw('alter table masters add constraint masters_quota_used_check check (quota_used >= 0)');
  await knex.raw(`alter table masters add constraint masters_budgets_object_check check (jsonb_typeof(budgets) = 'object')`);
  await knex.schema.alterTable('keys', (t) => {
    t.jsonb('budgets').notNullable().defaultTo(knex.raw(`'{}'::jsonb`));
  });
  await knex.raw(`alter table keys add constraint keys_budgets_object_check check (jsonb_typeof(budgets) = 'object')`);
  await knex.schema.alterTable('api_keys', (t) => {
    t.specificType('rate_multiplier', 'numeric').notNullable().defaultTo(1);
  });
  await knex.raw('alter table api_keys add constraint api_keys_rate_multiplier_check check (rate_multiplier >= 0 and rate_multiplier <= 1000)');
  await knex.schema.alterTable('models', (t) => {
    t.text('price_source').notNullable().defaultTo('admin');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('models', (t) => t.dropColumn('price_source'));
  await knex.schema.alterTable('api_keys', (t) => t.dropColumn('rate_multiplier'));
  await knex.schema.alterTable('keys', (t) => t.dropColumn('budgets'));
  await knex.schema.alterTable('masters', (t) => {
    t.dropColumn('budgets');
    t.dropColumn('quota_used');
    t.dropColumn('quota_limit');
  });
}
