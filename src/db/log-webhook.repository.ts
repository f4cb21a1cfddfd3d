import type { Knex } from 'knex';

/**
 * SQL of the log webhook detector: bounded reads of `request_logs` over one window. Every query
 * is a range on `created_at` (the partition key: only the window's day partitions are touched,
 * through `request_logs_created_at_idx`), and every result is capped.
 */

export interface OffendingFilter {
  since: Date;
  until: Date;
  /** `status_code >= this`. */
  statusCodeThreshold: number;
  /** Case-insensitive substring of error_message (already lower-cased), if any. */
  substring?: string | undefined;
}

/** One request log as the webhook shows it: no request body, no client ip, no tokens. */
export interface OffendingLogRow {
  request_id: string;
  created_at: Date;
  status_code: number;
  error_code: string | null;
  error_message: string | null;
  model: string | null;
  master_id: number | null;
  key_id: number | null;
}

/** Longest error message copied into a sample or scanned by a regex (characters). */
export const SAMPLE_MESSAGE_CHARS = 1_000;

function offending(db: Knex | Knex.Transaction, filter: OffendingFilter): Knex.QueryBuilder {
  const query = db('request_logs')
    .where('created_at', '>', filter.since)
    .andWhere('created_at', '<=', filter.until)
    .andWhere('status_code', '>=', filter.statusCodeThreshold)
    .andWhere('status_code', '>', 0);
  if (filter.substring !== undefined) query.andWhereRaw('strpos(lower(error_message), ?) > 0', [filter.substring]);
  return query;
}

/** Offending rows in the window, counted up to `cap` (the count stops there). */
export async function countOffendingLogs(db: Knex | Knex.Transaction, filter: OffendingFilter, cap: number): Promise<number> {
  const inner = offending(db, filter).select(db.raw('1')).limit(cap).as('offending');
  const row = (await db.from(inner).count<Array<{ count: number | string }>>({ count: '*' }).first()) as { count: number | string } | undefined;
  return Number(row?.count ?? 0);
}

/**
 * The newest offending rows, newest first, at most `limit`; error messages cut at
 * SAMPLE_MESSAGE_CHARS. `substring` filters in SQL; a regex is applied by the caller.
 */
export async function newestOffendingLogs(db: Knex | Knex.Transaction, filter: OffendingFilter, limit: number): Promise<OffendingLogRow[]> {
  return (await offending(db, filter)
    .select(
      'request_id',
      'created_at',
      'status_code',
      'error_code',
      db.raw('left(error_message, ?) as error_message', [SAMPLE_MESSAGE_CHARS]),
      'model',
      'master_id',
      'key_id',
    )
    .orderBy('created_at', 'desc')
    .limit(limit)) as OffendingLogRow[];
}
