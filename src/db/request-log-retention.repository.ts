import type { Knex } from 'knex';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The SQL behind log retention (src/domain/log-retention.service.ts) on the partitioned
 * `request_logs` table (migrations/20261122000800_create_request_logs.ts).
 *
 * Two rules keep inserts flowing while it runs:
 * - Row deletes address one partition table directly, at most `limit` rows per statement, each
 *   statement its own short transaction: they take ROW EXCLUSIVE on that partition only, which
 *   never conflicts with inserts into the newer partitions (nor with inserts into the same one).
 * - DDL on the parent (dropping or creating a partition needs ACCESS EXCLUSIVE on request_logs)
 *   runs under a short `lock_timeout`: while such a lock request waits behind a long reader, every
 *   insert queues behind it, so it gives up quickly and retries instead of waiting its turn.
 */

const PARTITION_NAME = /^request_logs_p(\d{4})(\d{2})(\d{2})$/;
export const DEFAULT_PARTITION = 'request_logs_default';

/** PostgreSQL lock_not_available: the statement gave up waiting for a lock (lock_timeout). */
const LOCK_NOT_AVAILABLE = '55P03';

/** PostgreSQL undefined_table: the partition was dropped meanwhile (by an overlapping run). */
const UNDEFINED_TABLE = '42P01';

const sqlState = (err: unknown): unknown => (typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined);

function isLockTimeout(err: unknown): boolean {
  return sqlState(err) === LOCK_NOT_AVAILABLE;
}

/** A statement on a partition that is gone affects no rows. */
async function zeroIfGone(statement: () => Promise<number>): Promise<number> {
  try {
    return await statement();
  } catch (err) {
    if (sqlState(err) === UNDEFINED_TABLE) return 0;
    throw err;
  }
}

/** How DDL waits for the parent's lock. */
export interface LockPolicy {
  /** lock_timeout of each attempt (ms). */
  lockTimeoutMs: number;
  /** Attempts before giving up. */
  attempts: number;
  /** Pause between attempts (ms), multiplied by the attempt number. */
  retryDelayMs: number;
}

export const DEFAULT_LOCK_POLICY: LockPolicy = { lockTimeoutMs: 300, attempts: 5, retryDelayMs: 200 };

/**
 * Runs `fn` in a transaction whose lock waits end after `lockTimeoutMs`, retrying a lock timeout
 * up to `attempts` times. Resolves `{ ok: false }` when every attempt timed out; other errors throw.
 */
async function withLockTimeout<T>(knex: Knex, policy: LockPolicy, fn: (trx: Knex.Transaction) => Promise<T>): Promise<{ ok: true; value: T } | { ok: false }> {
  for (let attempt = 1; attempt <= policy.attempts; attempt++) {
    try {
      const value = await knex.transaction(async (trx) => {
        await trx.raw(`select set_config('lock_timeout', ?, true)`, [`${Math.max(1, Math.floor(policy.lockTimeoutMs))}ms`]);
        return fn(trx);
      });
      return { ok: true, value };
    } catch (err) {
      if (!isLockTimeout(err)) throw err;
      if (attempt < policy.attempts) await sleep(policy.retryDelayMs * attempt);
    }
  }
  return { ok: false };
}

/**
 * `ez_ensure_request_log_partitions` under the lock policy (it takes ACCESS EXCLUSIVE on the
 * parent only when a partition is missing). Throws when the lock never came: the job retries
 * with backoff, and rows for a missing day wait safely in the default partition meanwhile.
 */
export async function ensurePartitionsPolitely(knex: Knex, window: { from: Date; days: number }, policy: LockPolicy = DEFAULT_LOCK_POLICY): Promise<number> {
  if (!Number.isInteger(window.days) || window.days < 0) throw new RangeError(`days must be a non-negative integer, got ${window.days}`);
  const result = await withLockTimeout(knex, policy, async (trx) => {
    const { rows } = await trx.raw<{ rows: Array<{ created: number }> }>('select ez_ensure_request_log_partitions(?::date, ?::int) as created', [
      window.from.toISOString().slice(0, 10),
      window.days,
    ]);
    return rows[0]?.created ?? 0;
  });
  if (!result.ok) throw new Error(`could not lock request_logs to create partitions within ${policy.attempts} × ${policy.lockTimeoutMs} ms`);
  return result.value;
}

/**
 * Drops one daily partition under the lock policy. `dropped` also when it was already gone;
 * `busy` when the lock never came (the next run retries). Never drops the default partition.
 */
export async function dropPartitionPolitely(knex: Knex, name: string, policy: LockPolicy = DEFAULT_LOCK_POLICY): Promise<'dropped' | 'busy'> {
  if (!PARTITION_NAME.test(name)) throw new RangeError(`not a daily request_logs partition: ${name}`);
  const result = await withLockTimeout(knex, policy, async (trx) => {
    await trx.raw('drop table if exists ??', [name]);
  });
  return result.ok ? 'dropped' : 'busy';
}

/** A partition of request_logs with the catalog's idea of its size. */
export interface PartitionStats {
  name: string;
  /** YYYY-MM-DD for a daily partition; null for the default partition or a foreign name. */
  day: string | null;
  isDefault: boolean;
  /**
   * Estimated rows: pg_class.reltuples as of the last ANALYZE/VACUUM (cheap, lags a growing
   * partition), or pg_stat n_live_tup for a partition never analyzed (reltuples = -1).
   */
  estimatedRows: number;
}

/** Every partition of request_logs with its estimated size, daily ones oldest first. */
export async function partitionStats(knex: Knex): Promise<PartitionStats[]> {
  const { rows } = await knex.raw<{ rows: Array<{ name: string; is_default: boolean; reltuples: number; live: string | number | null }> }>(
    `select c.relname as name,
            pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT' as is_default,
            c.reltuples::float8 as reltuples,
            s.n_live_tup as live
       from pg_inherits i
       join pg_class c on c.oid = i.inhrelid
       left join pg_stat_user_tables s on s.relid = c.oid
      where i.inhparent = 'request_logs'::regclass
      order by c.relname`,
  );
  return rows.map((row) => {
    const match = PARTITION_NAME.exec(row.name);
    const reltuples = Number(row.reltuples);
    const estimatedRows = reltuples >= 0 ? Math.round(reltuples) : Math.max(0, Number(row.live ?? 0));
    return {
      name: row.name,
      day: !row.is_default && match ? `${match[1]}-${match[2]}-${match[3]}` : null,
      isDefault: row.is_default,
      estimatedRows,
    };
  });
}

function assertPartition(name: string): void {
  if (name !== DEFAULT_PARTITION && !PARTITION_NAME.test(name)) throw new RangeError(`not a request_logs partition: ${name}`);
}

function assertLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer, got ${limit}`);
}

/** Exact row count of one partition (0 when it no longer exists). */
export async function countPartitionRows(knex: Knex, name: string): Promise<number> {
  assertPartition(name);
  return zeroIfGone(async () => {
    const { rows } = await knex.raw<{ rows: Array<{ n: string }> }>('select count(*) as n from ??', [name]);
    return Number(rows[0]?.n ?? 0);
  });
}

/**
 * Deletes the oldest `limit` rows (by created_at) of one partition in one statement: the row
 * addresses are picked through the partition's created_at index, then deleted by ctid (a TID
 * scan). Returns how many rows went.
 */
export async function deleteOldestRows(knex: Knex, name: string, limit: number): Promise<number> {
  assertPartition(name);
  assertLimit(limit);
  return zeroIfGone(async () => {
    const result = await knex.raw<{ rowCount: number }>(
      `delete from ?? where ctid = any(array(select ctid from ?? order by created_at, request_id limit ?))`,
      [name, name, limit],
    );
    return result.rowCount;
  });
}

/** Deletes at most `limit` rows created before `cutoff` from one partition; returns how many went. */
export async function deleteRowsBefore(knex: Knex, name: string, cutoff: Date, limit: number): Promise<number> {
  assertPartition(name);
  assertLimit(limit);
  return zeroIfGone(async () => {
    const result = await knex.raw<{ rowCount: number }>(
      `delete from ?? where ctid = any(array(select ctid from ?? where created_at < ? limit ?))`,
      [name, name, cutoff, limit],
    );
    return result.rowCount;
  });
}
