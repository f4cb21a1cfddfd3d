import type { Knex } from 'knex';

/**
 * SQL for reading `request_logs` (GET /admin/logs, GET /v1/logs). Writes live in
 * request-logs.repository.ts. Every query is bound on created_at (the partition key) so
 * PostgreSQL prunes the day partitions outside the asked range.
 */

/** Every column but request_body, in table order. */
export const REQUEST_LOG_LIST_COLUMNS = [
  'request_id',
  'created_at',
  'master_id',
  'key_id',
  'namespace',
  'model',
  'upstream_model',
  'provider_group_id',
  'api_key_id',
  'format_in',
  'format_out',
  'stream',
  'status_code',
  'error_code',
  'error_message',
  'latency_ms',
  'ttft_ms',
  'prompt_tokens',
  'completion_tokens',
  'cache_read_tokens',
  'cache_write_tokens',
  'cost_list',
  'cost_actual',
  'usage_source',
  'client_ip',
  'attempts',
  'abort_reason',
] as const;

/** One row as read (bigint and numeric are parsed to numbers by src/db/knex.ts). */
export interface RequestLogRow {
  request_id: string;
  created_at: Date;
  master_id: number | null;
  key_id: number | null;
  namespace: string | null;
  model: string | null;
  upstream_model: string | null;
  provider_group_id: number | null;
  api_key_id: number | null;
  format_in: string | null;
  format_out: string | null;
  stream: boolean;
  status_code: number | null;
  error_code: string | null;
  error_message: string | null;
  latency_ms: number | null;
  ttft_ms: number | null;
  prompt_tokens: number;
  completion_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  cost_list: number;
  cost_actual: number;
  usage_source: string | null;
  client_ip: string | null;
  attempts: number;
  abort_reason: string | null;
  /** Only selected when asked for. */
  request_body?: string | null;
  /** created_at in UTC with microseconds (`2026-01-31T12:00:00.123456Z`): the exact keyset position. */
  position_at: string;
}

/** `status`: an exact code, or a class as in usage_hourly.status_class. */
export type StatusFilter = { code: number } | { class: '2xx' | '3xx' | '4xx' | '5xx' | 'error' };

export interface RequestLogFilters {
  /** Inclusive lower bound on created_at. */
  since: Date;
  /** Exclusive upper bound on created_at. */
  until: Date;
  master_id?: number;
  key_id?: number;
  model?: string;
  provider_group_id?: number;
  api_key_id?: number;
  status?: StatusFilter;
  request_id?: string;
}

/** Keyset position: rows strictly older than (at, request_id) in (created_at desc, request_id desc) order. */
export interface RequestLogPosition {
  /** ISO timestamp, microsecond precision allowed. */
  at: string;
  request_id: string;
}

const CLASS_RANGES = { '2xx': [200, 300], '3xx': [300, 400], '4xx': [400, 500], '5xx': [500, 600] } as const;

/** Newest first, keyset-paginated on (created_at, request_id). */
export async function listRequestLogs(
  knex: Knex,
  filters: RequestLogFilters,
  page: { limit: number; after?: RequestLogPosition; includeBody?: boolean },
): Promise<RequestLogRow[]> {
  const columns: string[] = [...REQUEST_LOG_LIST_COLUMNS];
  if (page.includeBody) columns.push('request_body');
  const query = knex('request_logs')
    .select(columns)
    .select(knex.raw(`to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as position_at`))
    // The partition key is always bound: only the partitions of [since, until) are scanned.
    .where('created_at', '>=', filters.since)
    .where('created_at', '<', filters.until)
    .orderBy([
      { column: 'created_at', order: 'desc' },
      { column: 'request_id', order: 'desc' },
    ])
    .limit(page.limit);
  if (filters.master_id !== undefined) query.where('master_id', filters.master_id);
  if (filters.key_id !== undefined) query.where('key_id', filters.key_id);
  if (filters.model !== undefined) query.where('model', filters.model);
  if (filters.provider_group_id !== undefined) query.where('provider_group_id', filters.provider_group_id);
  if (filters.api_key_id !== undefined) query.where('api_key_id', filters.api_key_id);
  if (filters.request_id !== undefined) query.where('request_id', filters.request_id);
  const status = filters.status;
  if (status) {
    if ('code' in status) query.where('status_code', status.code);
    else if (status.class === 'error') {
      // Same rule as statusClass() (usage_hourly.status_class): no usable final status.
      query.where((q) => q.whereNull('status_code').orWhere('status_code', '<', 200).orWhere('status_code', '>=', 600));
    } else {
      const [low, high] = CLASS_RANGES[status.class];
      query.where('status_code', '>=', low).where('status_code', '<', high);
    }
  }
  if (page.after) {
    // created_at <= at narrows the scan (and the partitions); the row comparison breaks ties.
    query.where('created_at', '<=', page.after.at);
    query.whereRaw('(created_at, request_id) < (?::timestamptz, ?)', [page.after.at, page.after.request_id]);
  }
  return query as Promise<RequestLogRow[]>;
}
