import type { Knex } from 'knex';
import { insertRequestLogs, type InsertedLogRow, type RequestLogInsert } from '../db/request-logs.repository.js';
import { addUsage, addUsageMinutely, type UsageContribution } from '../db/usage.repository.js';
import type { RequestLogRecord } from '../gateway/types.js';
import { latencyBucket } from './latency-histogram.js';

/**
 * Persists request log batches (DESIGN §6 "Logs", §9 invariant 4) and keeps `usage_hourly` in
 * step with them. The bucketing is pure and table-tested; the I/O is two statements in one
 * transaction.
 */

/** HTTP status classes of `usage_hourly.status_class`; `error` when no usable status was sent. */
export type StatusClass = '2xx' | '3xx' | '4xx' | '5xx' | 'error';

/**
 * 200–599 → `2xx` … `5xx`. Anything else — 0 (no response reached the client), null, 1xx as a
 * final status, out-of-range or non-integer values — is `error`.
 */
export function statusClass(statusCode: number | null | undefined): StatusClass {
  if (typeof statusCode !== 'number' || !Number.isInteger(statusCode)) return 'error';
  if (statusCode >= 200 && statusCode < 300) return '2xx';
  if (statusCode >= 300 && statusCode < 400) return '3xx';
  if (statusCode >= 400 && statusCode < 500) return '4xx';
  if (statusCode >= 500 && statusCode < 600) return '5xx';
  return 'error';
}

const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;

/** Start of the UTC minute containing `at`, as ISO. */
export function minuteStart(at: string | Date): string {
  const ms = typeof at === 'string' ? Date.parse(at) : at.getTime();
  if (Number.isNaN(ms)) throw new RangeError(`not a valid instant: ${String(at)}`);
  return new Date(Math.floor(ms / MINUTE_MS) * MINUTE_MS).toISOString();
}

/** Start of the UTC hour containing `at` (an ISO string with any offset, or a Date), as ISO. */
export function hourStart(at: string | Date): string {
  const ms = typeof at === 'string' ? Date.parse(at) : at.getTime();
  if (Number.isNaN(ms)) throw new RangeError(`not a valid instant: ${String(at)}`);
  return new Date(Math.floor(ms / HOUR_MS) * HOUR_MS).toISOString();
}

/** The `usage_hourly` bucket a request falls in. */
export interface UsageBucket {
  hour: string;
  master_id: number | null;
  key_id: number | null;
  model: string | null;
  api_key_id: number | null;
  status_class: StatusClass;
}

export interface BucketInput {
  created_at: string | Date;
  master_id: number | null;
  key_id: number | null;
  model: string | null;
  api_key_id: number | null;
  status_code: number | null;
}

export function usageBucket(row: BucketInput): UsageBucket {
  return {
    hour: hourStart(row.created_at),
    master_id: row.master_id,
    key_id: row.key_id,
    model: row.model,
    api_key_id: row.api_key_id,
    status_class: statusClass(row.status_code),
  };
}

/** A stable string for a bucket (NULL and a value never collide: JSON keeps `null` apart from `"null"`). */
export function bucketKey(bucket: UsageBucket): string {
  return JSON.stringify([bucket.hour, bucket.master_id, bucket.key_id, bucket.model, bucket.api_key_id, bucket.status_class]);
}

/** What one inserted row adds to its hourly and minutely buckets. */
export function usageContribution(row: InsertedLogRow): UsageContribution {
  return {
    ...usageBucket(row),
    minute: minuteStart(row.created_at),
    provider_group_id: row.provider_group_id,
    prompt_tokens: row.prompt_tokens,
    completion_tokens: row.completion_tokens,
    cache_read_tokens: row.cache_read_tokens,
    cache_write_tokens: row.cache_write_tokens,
    cost_list: row.cost_list,
    cost_actual: row.cost_actual,
    latency_ms: row.latency_ms,
    latency_bucket: row.latency_ms === null ? null : latencyBucket(row.latency_ms),
    ttft_ms: row.ttft_ms,
  };
}

export interface PersistResult {
  /** Rows this call inserted. */
  inserted: number;
  /** Records skipped because their (request_id, created_at) was already stored. */
  duplicates: number;
  /** usage_hourly buckets created or updated. */
  buckets: number;
}

/**
 * Inserts a batch and adds the rows it actually inserted to usage_hourly and usage_minutely, in one transaction; it
 * resolves only after commit. A retried batch — the worker died after commit, before BullMQ
 * heard — inserts nothing and therefore adds nothing: usage is never counted twice.
 */
export async function persistRequestLogs(knex: Knex, records: readonly RequestLogRecord[]): Promise<PersistResult> {
  if (records.length === 0) return { inserted: 0, duplicates: 0, buckets: 0 };
  // Checked by the compiler: a RequestLogRecord carries exactly the table's columns.
  const rows: readonly RequestLogInsert[] = records;
  return knex.transaction(async (trx) => {
    const inserted = await insertRequestLogs(trx, rows);
    const contributions = inserted.map(usageContribution);
    const buckets = await addUsage(trx, contributions);
    await addUsageMinutely(trx, contributions);
    return { inserted: inserted.length, duplicates: records.length - inserted.length, buckets };
  });
}
