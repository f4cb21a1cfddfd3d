import { z } from 'zod';
import { queryInstant } from './common.schemas.js';
import { alertEvent } from '../../../jobs/provider-events/definition.js';
import { ALERT_SEVERITIES, ALERT_STATUSES } from '../../db/alerts.repository.js';
import { THRESHOLD_FIELDS, THRESHOLD_NAMES } from '../../domain/alerts/thresholds.js';

/** Schemas of `/admin/alerts` and `POST /internal/alerts/report` (docs/alerts.md). */

export const alertIdParamsSchema = z.object({ id: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER) }).strict();

const instant = queryInstant;

/** `?status=active,acknowledged` or `?status=active&status=acknowledged`. */
const enumList = <T extends readonly [string, ...string[]]>(values: T, description: string) =>
  z
    .preprocess((v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()) : v), z.array(z.enum(values)).min(1).max(values.length * 2))
    .optional()
    .meta({ description: `${description}: one or more of ${values.join(', ')}, comma-separated or repeated` });

const text = (max: number, description: string) => z.string().min(1).max(max).optional().meta({ description });

export const listAlertsQuerySchema = z
  .object({
    status: enumList(ALERT_STATUSES, 'Statuses'),
    severity: enumList(ALERT_SEVERITIES, 'Severities'),
    type: text(64, 'Exact alert type, e.g. `error_spike`'),
    related_type: text(64, 'What the alert is about, e.g. `master`, `key`, `api_key`, `model`'),
    related_id: text(64, 'Id of the related object'),
    fingerprint: text(200, 'Exact fingerprint'),
    since: instant('Alerts last seen at or after this time'),
    until: instant('Alerts last seen before this time'),
    limit: z.coerce.number().int().min(1).max(200).default(50).meta({ description: 'Page size (1–200, default 50)' }),
    cursor: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional().meta({ description: '`next_cursor` of the previous page' }),
  })
  .strict()
  .refine((q) => !q.since || !q.until || q.since < q.until, { message: 'Must be later than `since`', path: ['until'] });

export const alertStatsQuerySchema = z.object({ since: instant('Count only alerts last seen at or after this time') }).strict();

const metadataSchema = z
  .record(z.string().max(64), z.union([z.string().max(1_000), z.number(), z.boolean(), z.null()]))
  .refine((m) => Object.keys(m).length <= 50, { message: 'At most 50 entries' })
  .meta({ description: 'Flat key → scalar map (at most 50 entries)' });

const alertTypeSchema = z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'Lower-case letters, digits and _, starting with a letter (at most 64)');

export const createAlertSchema = z
  .object({
    type: alertTypeSchema.meta({ description: 'Alert type, e.g. `maintenance`', example: 'maintenance' }),
    severity: z.enum(ALERT_SEVERITIES).default('warning'),
    title: z.string().trim().min(1).max(200),
    message: z.string().max(4_000).default(''),
    fingerprint: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .meta({ description: 'With a fingerprint the alert is deduplicated like a detector report (an open alert with it absorbs this one); without, it is always new' }),
    related_type: z.string().min(1).max(64).optional(),
    related_id: z.string().min(1).max(64).optional(),
    metadata: metadataSchema.optional(),
  })
  .strict()
  .meta({ id: 'AlertCreate' });

/** The data plane's report: the provider-events `alert` event without its `type`; `at` optional. */
export const reportAlertSchema = alertEvent
  .omit({ type: true })
  .extend({ at: z.iso.datetime({ offset: true }).optional().meta({ description: 'When the data plane observed it (stored in metadata.observed_at)' }) })
  .strict()
  .meta({ id: 'AlertReport' });

const date = z.string().meta({ format: 'date-time' });

export const alertSchema = z
  .object({
    id: z.number().int(),
    type: z.string(),
    severity: z.enum(ALERT_SEVERITIES),
    status: z.enum(ALERT_STATUSES),
    title: z.string(),
    message: z.string(),
    fingerprint: z.string().nullable(),
    related_type: z.string().nullable(),
    related_id: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()),
    count: z.number().int().meta({ description: 'Reports folded into this alert' }),
    first_seen_at: date,
    last_seen_at: date,
    acknowledged_at: date.nullable(),
    acknowledged_by: z.string().nullable(),
    resolved_at: date.nullable(),
    resolved_by: z.string().nullable(),
    dismissed_at: date.nullable(),
    dismissed_by: z.string().nullable(),
    created_at: date,
    updated_at: date,
  })
  .meta({ id: 'Alert' });

export const alertListSchema = z
  .object({
    data: z.array(alertSchema),
    next_cursor: z.number().int().nullable().meta({ description: 'Pass as `cursor` for the next page; null on the last page' }),
  })
  .meta({ id: 'AlertList' });

export const reportResultSchema = z
  .object({
    outcome: z.enum(['created', 'deduplicated', 'suppressed']).meta({
      description: '`created`: a new alert; `deduplicated`: an open alert with the fingerprint absorbed it; `suppressed`: a closed one did (cooldown)',
    }),
    created: z.boolean(),
    alert: alertSchema,
  })
  .meta({ id: 'AlertReportResult' });

const countsOf = <T extends readonly [string, ...string[]]>(values: T) => z.object(Object.fromEntries(values.map((v) => [v, z.number().int()])) as Record<T[number], z.ZodNumber>);

export const alertStatsSchema = z
  .object({
    since: z.string().nullable().meta({ format: 'date-time' }),
    total: z.number().int(),
    open: z.number().int().meta({ description: 'Active + acknowledged' }),
    by_status: countsOf(ALERT_STATUSES),
    by_severity: countsOf(ALERT_SEVERITIES),
    open_by_severity: countsOf(ALERT_SEVERITIES),
    by_type: z.record(z.string(), z.number().int()),
  })
  .meta({ id: 'AlertStats' });

const thresholdValues = z.object(
  Object.fromEntries(THRESHOLD_NAMES.map((name) => [name, z.number().meta({ description: THRESHOLD_FIELDS[name].description })])) as Record<string, z.ZodNumber>,
);

export const thresholdsSchema = z
  .object({
    thresholds: thresholdValues.meta({ description: 'Every threshold in effect' }),
    defaults: thresholdValues.meta({ description: 'The built-in defaults' }),
    overrides: z.record(z.string(), z.number()).meta({ description: 'The thresholds an admin set; the others follow the defaults' }),
    updated_at: z.string().nullable().meta({ format: 'date-time' }),
    updated_by: z.string().nullable(),
  })
  .meta({ id: 'AlertThresholds' });

/** PUT body: any subset of the thresholds; `null` resets one to its default; unknown names → 400 naming each. */
export const updateThresholdsSchema = z
  .object(
    Object.fromEntries(
      THRESHOLD_NAMES.map((name) => [name, THRESHOLD_FIELDS[name].schema.nullable().optional().meta({ description: `${THRESHOLD_FIELDS[name].description} (default ${THRESHOLD_FIELDS[name].default}; null resets)` })]),
    ) as Record<string, z.ZodOptional<z.ZodNullable<z.ZodNumber>>>,
  )
  // Each unknown name is its own field error (`body.<name>`), reported with any bad value at once.
  .catchall(z.unknown().refine(() => false, { message: `Unknown threshold; known: ${THRESHOLD_NAMES.join(', ')}` }))
  .meta({ id: 'AlertThresholdsUpdate' });
