import type { Knex } from 'knex';

/**
 * Hourly aggregates of request_logs, upserted by the logs worker in the same transaction as the
 * log rows; dashboards and `/v1/usage` read these.
 *
 * The bucket key (hour, master_id, key_id, model, api_key_id, status_class) is unique with
 * NULLS NOT DISTINCT (PostgreSQL 15+): a request with no master/key/model/upstream key (refused
 * before auth, failed before an upstream was picked) still aggregates into one row per hour, and
 * `INSERT … ON CONFLICT (hour, master_id, key_id, model, api_key_id, status_class) DO UPDATE`
 * works with NULLs in the key.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('usage_hourly', (t) => {
    t.bigIncrements('id');
    // Start of the UTC hour.
    t.timestamp('hour', { useTz: true }).notNullable();
    t.bigInteger('master_id');
    t.bigInteger('key_id');
    t.text('model');
    t.bigInteger('api_key_id');
    // '2xx', '3xx', '4xx', '5xx', or 'error' when no upstream status was received.
    t.text('status_class').notNullable();
    t.bigInteger('request_count').notNullable().defaultTo(0);
    t.bigInteger('prompt_tokens').notNullable().defaultTo(0);
    t.bigInteger('completion_tokens').notNullable().defaultTo(0);
    t.bigInteger('cache_read_tokens').notNullable().defaultTo(0);
    t.bigInteger('cache_write_tokens').notNullable().defaultTo(0);
    t.specificType('cost_list', 'numeric').notNullable().defaultTo(0);
    t.specificType('cost_actual', 'numeric').notNullable().defaultTo(0);
    // Sums, so averages stay exact across merges: avg = latency_ms_sum / request_count.
    t.bigInteger('latency_ms_sum').notNullable().defaultTo(0);
    t.bigInteger('ttft_ms_sum').notNullable().defaultTo(0);
    // Requests that reported a time to first token (the denominator for ttft_ms_sum).
    t.bigInteger('ttft_count').notNullable().defaultTo(0);
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['master_id', 'hour'], 'usage_hourly_master_id_hour_idx');
    t.index(['key_id', 'hour'], 'usage_hourly_key_id_hour_idx');
    t.index(['api_key_id', 'hour'], 'usage_hourly_api_key_id_hour_idx');
    t.check(`hour = date_trunc('hour', hour, 'UTC')`, {}, 'usage_hourly_hour_check');
  });
  await knex.raw(
    `alter table usage_hourly add constraint usage_hourly_bucket_key
       unique nulls not distinct (hour, master_id, key_id, model, api_key_id, status_class)`,
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('usage_hourly');
}
