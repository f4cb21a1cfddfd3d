import type { Knex } from 'knex';

/**
 * SQL for `request_logs` writes (migrations/20261122000800_create_request_logs.ts). The row shape
 * is the gateway's RequestLogRecord; this module only knows the columns.
 */

/** Column → PostgreSQL type, in table order. The batch travels as one JSON parameter. */
const LOG_COLUMNS = [
  ['request_id', 'text'],
  ['created_at', 'timestamptz'],
  ['master_id', 'bigint'],
  ['key_id', 'bigint'],
  ['namespace', 'text'],
  ['model', 'text'],
  ['upstream_model', 'text'],
  ['provider_group_id', 'bigint'],
  ['api_key_id', 'bigint'],
  ['format_in', 'text'],
  ['format_out', 'text'],
  ['stream', 'boolean'],
  ['status_code', 'integer'],
  ['error_code', 'text'],
  ['error_message', 'text'],
  ['latency_ms', 'integer'],
  ['ttft_ms', 'integer'],
  ['prompt_tokens', 'integer'],
  ['completion_tokens', 'integer'],
  ['cache_read_tokens', 'integer'],
  ['cache_write_tokens', 'integer'],
  ['cost_list', 'numeric'],
  ['cost_actual', 'numeric'],
  ['usage_source', 'text'],
  ['client_ip', 'text'],
  ['attempts', 'integer'],
  ['request_body', 'text'],
  ['abort_reason', 'text'],
] as const;

export type RequestLogColumn = (typeof LOG_COLUMNS)[number][0];

/** A row to insert: every column (the caller validated them). */
export type RequestLogInsert = Record<RequestLogColumn, string | number | boolean | null>;

/** What an inserted row contributes to usage_hourly. Costs as exact decimal text. */
export interface InsertedLogRow {
  request_id: string;
  created_at: Date;
  master_id: number | null;
  key_id: number | null;
  model: string | null;
  api_key_id: number | null;
  provider_group_id: number | null;
  status_code: number | null;
  prompt_tokens: number;
  completion_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  cost_list: string;
  cost_actual: string;
  latency_ms: number | null;
  ttft_ms: number | null;
}

const COLUMN_LIST = LOG_COLUMNS.map(([name]) => name).join(', ');
const RECORD_TYPE = LOG_COLUMNS.map(([name, type]) => `${name} ${type}`).join(', ');

/**
 * Inserts a batch in ONE statement: the rows go as a single JSON parameter expanded by
 * json_to_recordset (a 5,000-row batch would exceed PostgreSQL's 65,535 bind parameters as a
 * VALUES list). Rows whose (request_id, created_at) already exists — from an earlier attempt of
 * the same batch, another batch, or earlier in this one — are skipped. Returns only the rows this
 * statement inserted.
 */
export async function insertRequestLogs(trx: Knex.Transaction, rows: readonly RequestLogInsert[]): Promise<InsertedLogRow[]> {
  if (rows.length === 0) return [];
  const { rows: inserted } = await trx.raw<{ rows: InsertedLogRow[] }>(
    `insert into request_logs (${COLUMN_LIST})
     select ${COLUMN_LIST} from json_to_recordset(?::json) as r(${RECORD_TYPE})
     on conflict (request_id, created_at) do nothing
     returning request_id, created_at, master_id, key_id, model, api_key_id, provider_group_id, status_code,
               prompt_tokens, completion_tokens, cache_read_tokens, cache_write_tokens,
               cost_list::text as cost_list, cost_actual::text as cost_actual, latency_ms, ttft_ms`,
    [JSON.stringify(rows)],
  );
  return inserted;
}
