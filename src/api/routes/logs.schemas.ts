import { z } from 'zod';
import { queryInstant } from './common.schemas.js';
import { MAX_LOG_BATCH, requestLogRecordSchema } from '../../../jobs/logs/definition.js';
import { MAX_LOG_RANGE_DAYS, parseStatusFilter, resolveLogRange } from '../../domain/request-log-queries.service.js';

/** Schemas of `GET /admin/logs`, `GET /v1/logs` and `POST /logs`. */

const id = (description: string) => z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional().meta({ description });
const instant = queryInstant;

const listFields = {
  since: instant('Rows at or after this time; default 24 h before `until`'),
  until: instant(`Rows before this time; default now. The range may span at most ${MAX_LOG_RANGE_DAYS} days`),
  key_id: id('Child key id'),
  model: z.string().min(1).max(512).optional().meta({ description: 'Public model name as requested, e.g. `gpt-4o`' }),
  provider_group_id: id('Provider group id'),
  api_key_id: id('Upstream api key id'),
  status: z
    .string()
    .regex(/^(?:\d{1,3}|[2-5]xx|error)$/, 'Expected a status code (e.g. 429), a class 2xx|3xx|4xx|5xx, or error')
    .transform(parseStatusFilter)
    .optional()
    .meta({ description: 'Exact status code, a class `2xx|3xx|4xx|5xx`, or `error` (no usable status: 0, 1xx, ≥ 600)' }),
  request_id: z.string().min(1).max(256).optional().meta({ description: 'Exact request id (X-Request-ID)' }),
  limit: z.coerce.number().int().min(1).max(200).default(50).meta({ description: 'Page size (1–200)' }),
  cursor: z
    .string()
    .min(1)
    .max(2048)
    .regex(/^[A-Za-z0-9_-]+$/, 'Expected the opaque `next_cursor` of the previous page')
    .optional()
    .meta({ description: '`next_cursor` of the previous page, as is' }),
};

/** Named on the field the caller gave; the same rule the service applies (resolveLogRange). */
function checkRange(q: { since?: Date | undefined; until?: Date | undefined }, ctx: z.RefinementCtx): void {
  // zod runs object checks even when a field failed; a bad since/until is reported on its own.
  const isInstant = (v: unknown) => v === undefined || (v instanceof Date && !Number.isNaN(v.getTime()));
  if (!isInstant(q.since) || !isInstant(q.until)) return;
  const range = resolveLogRange(q.since, q.until);
  if (!range.ok) ctx.addIssue({ code: 'custom', message: range.message, path: [range.field] });
}

export const adminLogsQuerySchema = z
  .object({
    ...listFields,
    master_id: id('Master id'),
    include_body: z
      .enum(['true', 'false'])
      .default('false')
      .transform((v) => v === 'true')
      .meta({ description: 'Also return `request_body` (recorded only while `log_request_body_enabled` is on)' }),
  })
  .strict()
  .superRefine(checkRange);

/** The master's own view: no master_id (it is always the caller) and never request bodies. */
export const masterLogsQuerySchema = z.object(listFields).strict().superRefine(checkRange);

export const requestLogSchema = z
  .object({
    request_id: z.string(),
    created_at: z.string().meta({ format: 'date-time' }),
    master_id: z.number().int().nullable(),
    key_id: z.number().int().nullable(),
    namespace: z.string().nullable(),
    model: z.string().nullable(),
    upstream_model: z.string().nullable(),
    provider_group_id: z.number().int().nullable(),
    api_key_id: z.number().int().nullable(),
    format_in: z.string().nullable(),
    format_out: z.string().nullable(),
    stream: z.boolean(),
    status_code: z.number().int().nullable().meta({ description: 'Status answered to the client; 0 when none was sent' }),
    error_code: z.string().nullable(),
    error_message: z.string().nullable().meta({ description: 'Redacted' }),
    latency_ms: z.number().int().nullable(),
    ttft_ms: z.number().int().nullable(),
    prompt_tokens: z.number().int(),
    completion_tokens: z.number().int(),
    cache_read_tokens: z.number().int(),
    cache_write_tokens: z.number().int(),
    cost_list: z.number(),
    cost_actual: z.number(),
    usage_source: z.string().nullable(),
    client_ip: z.string().nullable(),
    attempts: z.number().int(),
    abort_reason: z.string().nullable(),
    request_body: z.string().nullable().optional().meta({ description: 'Only with `include_body=true` (admins)' }),
  })
  .meta({ id: 'RequestLog' });

export const requestLogListSchema = z
  .object({
    data: z.array(requestLogSchema),
    next_cursor: z.string().nullable().meta({ description: 'Pass as `cursor` for the next page; null on the last page' }),
  })
  .meta({ id: 'RequestLogList' });

export const logBatchSchema = z
  .object({
    records: z.array(requestLogRecordSchema.meta({ id: 'RequestLogRecord' })).min(1).max(MAX_LOG_BATCH),
  })
  .strict()
  .meta({ id: 'LogBatch', description: `1–${MAX_LOG_BATCH} request log records, as the gateway records them` });

export const logBatchAcceptedSchema = z
  .object({ accepted: z.number().int().meta({ description: 'Records queued for persistence' }) })
  .meta({ id: 'LogBatchAccepted' });
