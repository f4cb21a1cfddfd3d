import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Knex } from 'knex';
import { logBatchJobId, MAX_LOG_BATCH } from '../../jobs/logs/definition.js';
import { enqueue, type QueueSet } from '../../jobs/queues.js';
import {
  listRequestLogs,
  type RequestLogFilters,
  type RequestLogPosition,
  type RequestLogRow,
  type StatusFilter,
} from '../db/request-log-queries.repository.js';
import type { RequestLogRecord } from '../gateway/types.js';
import { ServiceUnavailableError, ValidationError } from '../lib/errors.js';
import { deriveSubkey } from '../lib/secrets.js';

/**
 * Reading request logs (GET /admin/logs, GET /v1/logs) and accepting batches from other data
 * planes (POST /logs). Decisions:
 * - A query always covers a bounded range of created_at: [since, until), default the last 24 h,
 *   at most MAX_LOG_RANGE_DAYS long, so PostgreSQL prunes the day partitions outside it.
 * - Newest first, keyset-paginated on (created_at, request_id). The cursor is opaque: base64url
 *   of a MAC and the last row's exact position. It carries no filter: every filter, the tenant
 *   included, is applied again on each page, so even a forged cursor could not widen a view; the
 *   MAC makes any edited cursor a 400 rather than a silently different page.
 * - request_body is left out unless asked for (admins only).
 */

export const MAX_LOG_RANGE_DAYS = 31;
const DAY_MS = 86_400_000;
const DEFAULT_RANGE_MS = DAY_MS;

export type LogRange = { ok: true; since: Date; until: Date } | { ok: false; field: 'since' | 'until'; message: string };

/**
 * The effective [since, until): `until` defaults to now, `since` to 24 h before `until`. Refused:
 * `until` not after `since`, or a range longer than MAX_LOG_RANGE_DAYS (named on the field the
 * caller gave, so a lone `since` too far back names `since`).
 */
export function resolveLogRange(since: Date | undefined, until: Date | undefined, now: Date = new Date()): LogRange {
  const end = until ?? now;
  const start = since ?? new Date(end.getTime() - DEFAULT_RANGE_MS);
  if (start.getTime() >= end.getTime()) {
    return until
      ? { ok: false, field: 'until', message: 'Must be later than `since`' }
      : { ok: false, field: 'since', message: 'Must be in the past when `until` is not given' };
  }
  if (end.getTime() - start.getTime() > MAX_LOG_RANGE_DAYS * DAY_MS) {
    return { ok: false, field: since ? 'since' : 'until', message: `The range may span at most ${MAX_LOG_RANGE_DAYS} days` };
  }
  return { ok: true, since: start, until: end };
}

// ---------------------------------------------------------------------------------------------
// Cursor
// ---------------------------------------------------------------------------------------------

const MAC_BYTES = 16;
const POSITION_AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const cursorKeys = new Map<string, Buffer>();

/** A key of its own for cursors, derived from the key-digest subkey of EZ_SECRET (cached per secret). */
function cursorKey(masterSecret: string): Buffer {
  let key = cursorKeys.get(masterSecret);
  if (!key) {
    key = createHmac('sha256', deriveSubkey(masterSecret, 'key-digest')).update('ez-api:log-cursor:v1').digest();
    cursorKeys.set(masterSecret, key);
  }
  return key;
}

const macOf = (masterSecret: string, payload: Buffer) => createHmac('sha256', cursorKey(masterSecret)).update(payload).digest().subarray(0, MAC_BYTES);

export function encodeLogCursor(masterSecret: string, position: RequestLogPosition): string {
  const payload = Buffer.from(JSON.stringify({ t: position.at, r: position.request_id }), 'utf8');
  return Buffer.concat([macOf(masterSecret, payload), payload]).toString('base64url');
}

/** The position of a cursor this server issued, or undefined for anything else. */
export function decodeLogCursor(masterSecret: string, cursor: string): RequestLogPosition | undefined {
  if (!/^[A-Za-z0-9_-]{1,2048}$/.test(cursor)) return undefined;
  const raw = Buffer.from(cursor, 'base64url');
  if (raw.length <= MAC_BYTES || raw.toString('base64url') !== cursor) return undefined;
  const mac = raw.subarray(0, MAC_BYTES);
  const payload = raw.subarray(MAC_BYTES);
  if (!timingSafeEqual(mac, macOf(masterSecret, payload))) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object') return undefined;
  const { t, r } = parsed as { t?: unknown; r?: unknown };
  if (typeof t !== 'string' || !POSITION_AT.test(t) || Number.isNaN(Date.parse(t))) return undefined;
  if (typeof r !== 'string' || r.length === 0 || r.length > 256) return undefined;
  return { at: t, request_id: r };
}

// ---------------------------------------------------------------------------------------------
// Listing
// ---------------------------------------------------------------------------------------------

/** The `status` query value: `2xx`…`5xx`, `error` (no usable final status, as usage_hourly), or a code. */
export function parseStatusFilter(value: string): StatusFilter {
  if (value === '2xx' || value === '3xx' || value === '4xx' || value === '5xx' || value === 'error') return { class: value };
  return { code: Number(value) };
}

/** A row as the API shows it: the same columns, times as ISO strings, no keyset internals. */
export type RequestLogDto = Omit<RequestLogRow, 'created_at' | 'position_at'> & { created_at: string };

export function toRequestLogDto(row: RequestLogRow): RequestLogDto {
  const { position_at: _position, request_body, created_at, ...rest } = row;
  void _position;
  return { ...rest, created_at: created_at.toISOString(), ...(request_body !== undefined ? { request_body } : {}) };
}

export interface LogListInput {
  since?: Date | undefined;
  until?: Date | undefined;
  master_id?: number | undefined;
  key_id?: number | undefined;
  model?: string | undefined;
  provider_group_id?: number | undefined;
  api_key_id?: number | undefined;
  status?: StatusFilter | undefined;
  request_id?: string | undefined;
  limit: number;
  cursor?: string | undefined;
  include_body?: boolean | undefined;
}

export interface LogPage {
  data: RequestLogDto[];
  next_cursor: string | null;
}

/**
 * One page of logs, newest first. `scope.masterId` (the /v1 routes) overrides any master filter:
 * a master only ever sees its own rows.
 */
export async function listLogs(
  deps: { knex: Knex; masterSecret: string },
  scope: { masterId?: number },
  input: LogListInput,
  now: Date = new Date(),
): Promise<LogPage> {
  const range = resolveLogRange(input.since, input.until, now);
  if (!range.ok) throw new ValidationError('Request validation failed', [{ field: `query.${range.field}`, message: range.message }]);
  let after: RequestLogPosition | undefined;
  if (input.cursor !== undefined) {
    after = decodeLogCursor(deps.masterSecret, input.cursor);
    if (!after) throw new ValidationError('Request validation failed', [{ field: 'query.cursor', message: 'Not a cursor issued by this server (pass `next_cursor` as is)' }]);
  }
  const filters: RequestLogFilters = { since: range.since, until: range.until };
  const masterId = scope.masterId ?? input.master_id;
  if (masterId !== undefined) filters.master_id = masterId;
  if (input.key_id !== undefined) filters.key_id = input.key_id;
  if (input.model !== undefined) filters.model = input.model;
  if (input.provider_group_id !== undefined) filters.provider_group_id = input.provider_group_id;
  if (input.api_key_id !== undefined) filters.api_key_id = input.api_key_id;
  if (input.status !== undefined) filters.status = input.status;
  if (input.request_id !== undefined) filters.request_id = input.request_id;
  // One row more than asked tells whether another page exists.
  const rows = await listRequestLogs(deps.knex, filters, {
    limit: input.limit + 1,
    ...(after ? { after } : {}),
    includeBody: input.include_body === true && scope.masterId === undefined,
  });
  const page = rows.slice(0, input.limit);
  const last = page[page.length - 1];
  return {
    data: page.map(toRequestLogDto),
    next_cursor: rows.length > input.limit && last ? encodeLogCursor(deps.masterSecret, { at: last.position_at, request_id: last.request_id }) : null,
  };
}

// ---------------------------------------------------------------------------------------------
// Accepting batches (POST /logs)
// ---------------------------------------------------------------------------------------------

/** How long one enqueue may take before the caller is told to retry (503). */
export const LOG_ENQUEUE_TIMEOUT_MS = 5_000;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ServiceUnavailableError('The log queue did not answer in time; retry the batch')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Puts validated records on the `logs` queue: one job per chunk of at most MAX_LOG_BATCH, each
 * with its deterministic jobId, so a caller that retries after a 503 or a timeout cannot add a
 * chunk twice while the first job is known to Redis (and the processor's ON CONFLICT DO NOTHING
 * drops duplicates after that). Redis errors propagate (503 at the api).
 */
export async function acceptLogBatch(
  queues: QueueSet,
  records: readonly RequestLogRecord[],
  options: { timeoutMs?: number } = {},
): Promise<{ accepted: number; jobs: string[] }> {
  const jobs: string[] = [];
  for (let start = 0; start < records.length; start += MAX_LOG_BATCH) {
    const chunk = records.slice(start, start + MAX_LOG_BATCH);
    const jobId = logBatchJobId(chunk);
    await withTimeout(enqueue(queues, 'logs', { records: chunk }, { jobId }), options.timeoutMs ?? LOG_ENQUEUE_TIMEOUT_MS);
    jobs.push(jobId);
  }
  return { accepted: records.length, jobs };
}
