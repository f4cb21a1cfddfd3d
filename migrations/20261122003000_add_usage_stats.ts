import type { Knex } from 'knex';

/**
 * What the dashboards need beyond the first usage_hourly (docs/control-plane.md "Stats"):
 *
 * - `usage_hourly.latency_buckets bigint[]`: counts per fixed latency bucket
 *   (src/domain/latency-histogram.ts, LATENCY_BOUNDS_MS), so p50/p95 can be read from aggregates;
 *   `latency_ms_max` caps the estimate of the last bucket; `provider_group_id` joins the bucket
 *   key so "by provider" survives a deleted upstream key. Existing rows get it from api_keys.
 * - `usage_minutely`: the same aggregates per UTC minute, for `group_by=minute` (at most 6 h per
 *   query; rows older than 7 days are purged by the `stats` job).
 * - `provider_groups` counters, the group-level sum of its api_keys' counters (the `stats` job).
 * - `stats_flushes`: one row per applied Redis counter batch, the idempotency key of the flush.
 * - `ez_bigint_array_add` / aggregate `ez_bigint_array_sum`: element-wise sums of histograms
 *   (NULL or shorter arrays count as zeros).
 */
const ADD_FUNCTION = `
create function ez_bigint_array_add(a bigint[], b bigint[]) returns bigint[]
language sql immutable parallel safe as $fn$
  select coalesce(array_agg(coalesce(x, 0) + coalesce(y, 0) order by i), '{}'::bigint[])
    from unnest(coalesce(a, '{}'::bigint[]), coalesce(b, '{}'::bigint[])) with ordinality as t(x, y, i)
$fn$`;

const OLD_KEY = 'hour, master_id, key_id, model, api_key_id, status_class';
const NEW_KEY = 'hour, master_id, key_id, model, api_key_id, provider_group_id, status_class';
const SUMS = [
  'request_count',
  'prompt_tokens',
  'completion_tokens',
  'cache_read_tokens',
  'cache_write_tokens',
  'cost_list',
  'cost_actual',
  'latency_ms_sum',
  'ttft_ms_sum',
  'ttft_count',
];

export async function up(knex: Knex): Promise<void> {
  await knex.raw(ADD_FUNCTION);
  await knex.raw('create aggregate ez_bigint_array_sum(bigint[]) (sfunc = ez_bigint_array_add, stype = bigint[], initcond = \'{}\')');

  await knex.schema.alterTable('usage_hourly', (t) => {
    t.bigInteger('provider_group_id');
    t.bigInteger('latency_ms_max').notNullable().defaultTo(0);
    t.specificType('latency_buckets', 'bigint[]').notNullable().defaultTo('{}');
  });
  await knex.raw('update usage_hourly u set provider_group_id = a.group_id from api_keys a where a.id = u.api_key_id');
  await knex.raw('alter table usage_hourly drop constraint usage_hourly_bucket_key');
  await knex.raw(`alter table usage_hourly add constraint usage_hourly_bucket_key unique nulls not distinct (${NEW_KEY})`);
  await knex.raw('create index usage_hourly_provider_group_id_hour_idx on usage_hourly (provider_group_id, hour)');
  await knex.raw('create index usage_hourly_hour_idx on usage_hourly (hour)');

  await knex.schema.createTable('usage_minutely', (t) => {
    t.bigIncrements('id');
    // Start of the UTC minute.
    t.timestamp('minute', { useTz: true }).notNullable();
    t.bigInteger('master_id');
    t.bigInteger('key_id');
    t.text('model');
    t.bigInteger('api_key_id');
    t.bigInteger('provider_group_id');
    t.text('status_class').notNullable();
    t.bigInteger('request_count').notNullable().defaultTo(0);
    t.bigInteger('prompt_tokens').notNullable().defaultTo(0);
    t.bigInteger('completion_tokens').notNullable().defaultTo(0);
    t.bigInteger('cache_read_tokens').notNullable().defaultTo(0);
    t.bigInteger('cache_write_tokens').notNullable().defaultTo(0);
    t.specificType('cost_list', 'numeric').notNullable().defaultTo(0);
    t.specificType('cost_actual', 'numeric').notNullable().defaultTo(0);
    t.bigInteger('latency_ms_sum').notNullable().defaultTo(0);
    t.bigInteger('latency_ms_max').notNullable().defaultTo(0);
    t.specificType('latency_buckets', 'bigint[]').notNullable().defaultTo('{}');
    t.bigInteger('ttft_ms_sum').notNullable().defaultTo(0);
    t.bigInteger('ttft_count').notNullable().defaultTo(0);
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['minute'], 'usage_minutely_minute_idx');
    t.index(['master_id', 'minute'], 'usage_minutely_master_id_minute_idx');
    t.check(`minute = date_trunc('minute', minute, 'UTC')`, {}, 'usage_minutely_minute_check');
  });
  await knex.raw(
    `alter table usage_minutely add constraint usage_minutely_bucket_key
       unique nulls not distinct (minute, master_id, key_id, model, api_key_id, provider_group_id, status_class)`,
  );

  await knex.schema.alterTable('provider_groups', (t) => {
    t.bigInteger('request_count').notNullable().defaultTo(0);
    t.bigInteger('success_count').notNullable().defaultTo(0);
    t.bigInteger('failure_count').notNullable().defaultTo(0);
    t.bigInteger('token_count').notNullable().defaultTo(0);
    t.timestamp('last_used_at', { useTz: true });
  });

  await knex.schema.createTable('stats_flushes', (t) => {
    // Random id chosen when the batch was drained from Redis.
    t.text('batch_id').primary();
    t.integer('api_keys').notNullable();
    t.bigInteger('requests').notNullable();
    t.bigInteger('tokens').notNullable();
    t.timestamp('applied_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['applied_at'], 'stats_flushes_applied_at_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('stats_flushes');
  await knex.schema.alterTable('provider_groups', (t) => {
    t.dropColumns('request_count', 'success_count', 'failure_count', 'token_count', 'last_used_at');
  });
  await knex.schema.dropTable('usage_minutely');
  await knex.raw('drop index usage_hourly_provider_group_id_hour_idx');
  await knex.raw('drop index usage_hourly_hour_idx');
  await knex.raw('alter table usage_hourly drop constraint usage_hourly_bucket_key');
  // Buckets that differ only by provider group merge back into one.
  await knex.raw(`
    with merged as (
      delete from usage_hourly returning ${OLD_KEY}, ${SUMS.join(', ')}
    )
    insert into usage_hourly (${OLD_KEY}, ${SUMS.join(', ')})
    select ${OLD_KEY}, ${SUMS.map((c) => `sum(${c})`).join(', ')} from merged group by ${OLD_KEY}`);
  await knex.schema.alterTable('usage_hourly', (t) => {
    t.dropColumns('provider_group_id', 'latency_ms_max', 'latency_buckets');
  });
  await knex.raw(`alter table usage_hourly add constraint usage_hourly_bucket_key unique nulls not distinct (${OLD_KEY})`);
  await knex.raw('drop aggregate ez_bigint_array_sum(bigint[])');
  await knex.raw('drop function ez_bigint_array_add(bigint[], bigint[])');
}
