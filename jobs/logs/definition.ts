import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { RequestLogRecord } from '../../src/gateway/types.js';
import { DEFAULT_JOB_OPTIONS, defineQueue } from '../define.js';

/**
 * `logs` persists request log batches (DESIGN §6 "Logs", §9 invariant 4): one job per gateway
 * flush (or per `POST /logs` call). The processor inserts the batch with
 * `ON CONFLICT (request_id, created_at) DO NOTHING` and upserts `usage_hourly` for the rows it
 * actually inserted, in one transaction, so a retried or replayed batch never duplicates a row
 * nor double-counts usage.
 */

/** Most records one job may carry (one INSERT statement; job data stays a few MB). */
export const MAX_LOG_BATCH = 5_000;

const id = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const shortText = z.string().max(512);
const wireFormat = z.enum(['openai', 'anthropic', 'gemini']);
const count = z.number().int().nonnegative().max(2_147_483_647);
const millis = z.number().int().nonnegative().max(2_147_483_647);
const money = z.number().finite().nonnegative();

/** One `request_logs` row as the gateway records it; mirrors RequestLogRecord field for field. */
export const requestLogRecordSchema = z
  .object({
    request_id: z.string().min(1).max(256),
    created_at: z.iso.datetime({ offset: true }),
    master_id: id.nullable(),
    key_id: id.nullable(),
    namespace: shortText.nullable(),
    model: shortText.nullable(),
    upstream_model: shortText.nullable(),
    provider_group_id: id.nullable(),
    api_key_id: id.nullable(),
    format_in: wireFormat.nullable(),
    format_out: wireFormat.nullable(),
    stream: z.boolean(),
    /** HTTP status answered to the client; 0 when none was sent (e.g. the client went away first). */
    status_code: z.number().int().min(0).max(999),
    error_code: shortText.nullable(),
    error_message: z.string().max(16_384).nullable(),
    latency_ms: millis,
    ttft_ms: millis.nullable(),
    prompt_tokens: count,
    completion_tokens: count,
    cache_read_tokens: count,
    cache_write_tokens: count,
    cost_list: money,
    cost_actual: money,
    usage_source: z.enum(['upstream', 'estimated']).nullable(),
    client_ip: z.string().max(64).nullable(),
    attempts: z.number().int().min(0).max(1_000),
    /** Only when `log_request_body_enabled` is on; at most the gateway's body limit (20 MiB). */
    request_body: z.string().max(20_971_520).nullable(),
    abort_reason: shortText.nullable(),
  })
  .strict();

// The schema and the gateway's type must not drift apart: each must be assignable to the other.
type SchemaRecord = z.output<typeof requestLogRecordSchema>;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const recordShapeMatches: Same<SchemaRecord, RequestLogRecord> = true;
void recordShapeMatches;

export const logsPayload = z
  .object({
    records: z.array(requestLogRecordSchema).min(1).max(MAX_LOG_BATCH),
  })
  .strict();

export type LogsPayload = z.input<typeof logsPayload>;

export const logsQueue = defineQueue({
  name: 'logs',
  payload: logsPayload,
  defaultJobOptions: {
    ...DEFAULT_JOB_OPTIONS,
    // Logs must survive a PostgreSQL restart, failover or maintenance window: 14 attempts with
    // backoff doubling from 1 s keep retrying for about 2.3 h (1 + 2 + … + 4,096 s) before a
    // batch is parked as failed (still in Redis for 7 days, retryable from Bull Board).
    attempts: 14,
    backoff: { type: 'exponential', delay: 1_000 },
    // Completed jobs carry whole batches: keep few of them in Redis.
    removeOnComplete: { age: 3_600, count: 200 },
    removeOnFail: { age: 7 * 24 * 3_600, count: 1_000 },
  },
  schedulers: [],
});

/**
 * Deterministic jobId of a batch: the same records (same request ids and timestamps, same order)
 * always give the same id, so a producer that retries an enqueue whose outcome it did not learn
 * (a timeout) cannot add the batch twice while the first job is still known to Redis. Hashes
 * every record, not only the first: clients choose X-Request-ID and may reuse one.
 * BullMQ refuses `:` in custom ids, hence the dashes.
 */
export function logBatchJobId(records: ReadonlyArray<Pick<RequestLogRecord, 'request_id' | 'created_at'>>): string {
  const hash = createHash('sha256');
  for (const record of records) hash.update(record.request_id).update('\u0000').update(record.created_at).update('\u0001');
  return `logs-${records.length}-${hash.digest('base64url').slice(0, 32)}`;
}
