import type { Knex } from 'knex';

/**
 * Daily partitions of request_logs (migrations/20261122000800_create_request_logs.ts): one table
 * `request_logs_pYYYYMMDD` per UTC day plus `request_logs_default`, which this module never touches.
 */

const PARTITION_NAME = /^request_logs_p(\d{4})(\d{2})(\d{2})$/;

/** The UTC calendar day of an instant, as YYYY-MM-DD. */
function utcDay(at: Date): string {
  if (Number.isNaN(at.getTime())) throw new RangeError('invalid date');
  return at.toISOString().slice(0, 10);
}

/**
 * Creates the missing daily partitions for `days` UTC days starting with the UTC day of `from`;
 * rows already parked in the default partition for those days move into their new partition.
 * Idempotent and safe to run concurrently. Returns how many partitions it created.
 */
export async function ensureRequestLogPartitions(knex: Knex, options: { from: Date; days: number }): Promise<number> {
  if (!Number.isInteger(options.days) || options.days < 0) throw new RangeError(`days must be a non-negative integer, got ${options.days}`);
  const { rows } = await knex.raw<{ rows: Array<{ created: number }> }>(
    'select ez_ensure_request_log_partitions(?::date, ?::int) as created',
    [utcDay(options.from), options.days],
  );
  return rows[0]?.created ?? 0;
}

/** Every daily partition of request_logs, oldest first (the default partition is not listed). */
export async function listRequestLogPartitions(knex: Knex): Promise<Array<{ name: string; day: string }>> {
  const { rows } = await knex.raw<{ rows: Array<{ name: string }> }>(
    `select c.relname as name
       from pg_inherits i
       join pg_class c on c.oid = i.inhrelid
      where i.inhparent = 'request_logs'::regclass
        and pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
      order by c.relname`,
  );
  const partitions: Array<{ name: string; day: string }> = [];
  for (const { name } of rows) {
    const match = PARTITION_NAME.exec(name);
    if (match) partitions.push({ name, day: `${match[1]}-${match[2]}-${match[3]}` });
  }
  return partitions;
}

/**
 * Drops the daily partitions whose whole day lies before the UTC day of `cutoff` (a partition for
 * the cutoff's own day survives). Returns the dropped partition names, oldest first. Rows that sit
 * in the default partition are the caller's to delete.
 */
export async function dropRequestLogPartitionsBefore(knex: Knex, cutoff: Date): Promise<string[]> {
  const cutoffDay = utcDay(cutoff);
  const expired = (await listRequestLogPartitions(knex)).filter((p) => p.day < cutoffDay);
  const dropped: string[] = [];
  for (const { name } of expired) {
    // One partition per statement: each drop holds the parent's lock only briefly.
    await knex.raw('drop table if exists ??', [name]);
    dropped.push(name);
  }
  return dropped;
}
