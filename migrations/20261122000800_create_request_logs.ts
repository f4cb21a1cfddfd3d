import type { Knex } from 'knex';

/**
 * One row per proxied request, range-partitioned by UTC day on created_at.
 *
 * - Daily partitions are named `request_logs_pYYYYMMDD` and cover [day 00:00 UTC, next day 00:00 UTC).
 * - `request_logs_default` catches rows for a day that has no partition yet, so no insert is ever
 *   lost; ez_ensure_request_log_partitions() moves such rows into the day's partition when it
 *   creates it, and the log-retention job keeps the default partition empty.
 * - The primary key is (request_id, created_at): uniqueness on a partitioned table must include the
 *   partition key. The gateway stamps created_at once per request, so a replayed batch conflicts and
 *   `INSERT … ON CONFLICT (request_id, created_at) DO NOTHING` drops the duplicate.
 * - No foreign keys: logs outlive deleted masters, keys and upstream keys.
 */
const ENSURE_FUNCTION = `
create or replace function ez_ensure_request_log_partitions(start_day date, days int) returns int
language plpgsql as $fn$
declare
  day date;
  part text;
  lower_bound timestamptz;
  upper_bound timestamptz;
  created int := 0;
  locked boolean := false;
begin
  if start_day is null or days is null or days < 0 then
    raise exception 'ez_ensure_request_log_partitions: start_day must be set and days >= 0 (got %, %)', start_day, days;
  end if;
  for i in 0 .. days - 1 loop
    day := start_day + i;
    part := 'request_logs_p' || to_char(day, 'YYYYMMDD');
    continue when to_regclass(quote_ident(part)) is not null;
    if not locked then
      -- Creating a partition locks the parent anyway; taking it first (a) serializes concurrent
      -- callers, who re-check below, and (b) stops inserts from landing in the default partition
      -- between moving its rows out and creating the partition.
      lock table only request_logs in access exclusive mode;
      locked := true;
      continue when to_regclass(quote_ident(part)) is not null;
    end if;
    lower_bound := (to_char(day, 'YYYY-MM-DD') || ' 00:00:00+00')::timestamptz;
    upper_bound := lower_bound + interval '1 day';
    if exists (select 1 from request_logs_default where created_at >= lower_bound and created_at < upper_bound) then
      -- PostgreSQL refuses to create a partition while the default partition holds rows for its
      -- range: park them, create the partition, and route them back through the parent.
      execute 'create temporary table ez_request_logs_moving (like request_logs) on commit drop';
      execute 'with moved as (delete from request_logs_default where created_at >= $1 and created_at < $2 returning *)
               insert into ez_request_logs_moving select * from moved'
        using lower_bound, upper_bound;
      execute format('create table %I partition of request_logs for values from (%L) to (%L)', part, lower_bound, upper_bound);
      execute 'insert into request_logs select * from ez_request_logs_moving';
      execute 'drop table ez_request_logs_moving';
    else
      execute format('create table %I partition of request_logs for values from (%L) to (%L)', part, lower_bound, upper_bound);
    end if;
    created := created + 1;
  end loop;
  return created;
end
$fn$`;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table request_logs (
      request_id text not null,
      created_at timestamptz not null,
      master_id bigint,
      key_id bigint,
      namespace text,
      model text,
      upstream_model text,
      provider_group_id bigint,
      api_key_id bigint,
      format_in text,
      format_out text,
      stream boolean not null default false,
      status_code integer,
      error_code text,
      error_message text,
      latency_ms integer,
      ttft_ms integer,
      prompt_tokens integer not null default 0,
      completion_tokens integer not null default 0,
      cache_read_tokens integer not null default 0,
      cache_write_tokens integer not null default 0,
      cost_list numeric not null default 0,
      cost_actual numeric not null default 0,
      usage_source text,
      client_ip text,
      attempts integer not null default 1,
      request_body text,
      abort_reason text,
      constraint request_logs_pkey primary key (request_id, created_at)
    ) partition by range (created_at)`);
  await knex.raw('create table request_logs_default partition of request_logs default');
  await knex.raw('create index request_logs_created_at_idx on request_logs (created_at desc)');
  await knex.raw('create index request_logs_master_id_created_at_idx on request_logs (master_id, created_at)');
  await knex.raw('create index request_logs_key_id_created_at_idx on request_logs (key_id, created_at)');
  await knex.raw('create index request_logs_model_created_at_idx on request_logs (model, created_at)');
  await knex.raw(ENSURE_FUNCTION);
  // Yesterday .. today + 7 (UTC); the log-retention job keeps the window rolling.
  await knex.raw(`select ez_ensure_request_log_partitions((now() at time zone 'utc')::date - 1, 9)`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop function if exists ez_ensure_request_log_partitions(date, int)');
  // Dropping the parent drops every partition, the default one included.
  await knex.raw('drop table request_logs');
}
