import { z } from 'zod';
import { queryInstant } from './common.schemas.js';

/** Schemas of `GET /v1/usage` and the admin usage views (docs/usage.md). */

const id = (description: string) => z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).meta({ description });
const instant = queryInstant;

const GROUP_DESCRIPTION =
  'Also return `groups`: per child key (with its name and lifetime quota), per public model, or per UTC hour (at most 31 days), day or month';

const rangeFields = {
  since: instant('Start, floored to the UTC hour; default 30 days before `until`. At most 400 days before `until`'),
  until: instant('End (exclusive), ceiled to the UTC hour; default now'),
  model: z.string().min(1).max(512).optional().meta({ description: 'Only this public model, as requested (e.g. `gpt-4o`)' }),
};

/** `GET /v1/usage` and `GET /admin/masters/:id/usage`: one master's usage. */
export const masterUsageQuerySchema = z
  .object({
    ...rangeFields,
    group_by: z.enum(['key', 'model', 'hour', 'day', 'month']).optional().meta({ description: GROUP_DESCRIPTION }),
    key_id: id('Only this child key of the master (404 for any other id)').optional(),
  })
  .strict();

/** `GET /admin/keys/:id/usage`: one child key's usage. */
export const keyUsageQuerySchema = z
  .object({
    ...rangeFields,
    group_by: z.enum(['model', 'hour', 'day', 'month']).optional().meta({ description: GROUP_DESCRIPTION }),
  })
  .strict();

/** `GET /admin/usage`: everything, or filtered. */
export const adminUsageQuerySchema = z
  .object({
    ...rangeFields,
    group_by: z.enum(['master', 'key', 'model', 'hour', 'day', 'month']).optional().meta({ description: `${GROUP_DESCRIPTION}; or per master` }),
    master_id: id('Only this master (404 when it neither exists nor has usage)').optional(),
    key_id: id('Only this child key (404 when it neither exists nor has usage, or belongs to another `master_id`)').optional(),
  })
  .strict();

export const usageIdParamsSchema = z.object({ id: id('Id') }).strict();

const sums = {
  requests: z.number(),
  prompt_tokens: z.number().meta({ description: 'Whole input, cached parts included' }),
  completion_tokens: z.number(),
  total_tokens: z.number().meta({ description: 'prompt + completion' }),
  cache_read_tokens: z.number(),
  cache_write_tokens: z.number(),
  cost_list_usd: z.string().meta({ description: 'List-price cost, USD as exact decimal text', example: '12.0345' }),
  cost_actual_usd: z.string().meta({ description: 'Actual cost (list × upstream rate multiplier), USD as exact decimal text' }),
};

export const usageSumsSchema = z.object(sums).meta({ id: 'UsageSums' });

export const lifetimeQuotaSchema = z
  .object({
    unit: z.literal('micro_usd'),
    limit: z.number().meta({ description: 'µ$ of actual cost; -1 = unlimited' }),
    used: z.number().meta({ description: 'µ$ spent, as last flushed to PostgreSQL' }),
    remaining: z.number().nullable().meta({ description: 'max(0, limit − used); null when unlimited' }),
    unlimited: z.boolean(),
  })
  .meta({ id: 'LifetimeQuota' });

export const usageReportSchema = z
  .object({
    since: z.string().meta({ format: 'date-time', description: 'Start of the range summed (a whole UTC hour)' }),
    until: z.string().meta({ format: 'date-time', description: 'End of the range summed, exclusive (a whole UTC hour)' }),
    group_by: z.string().nullable(),
    totals: usageSumsSchema,
    groups: z
      .array(
        z.object({
          ...sums,
          key_id: z.number().nullable().optional(),
          master_id: z.number().nullable().optional(),
          model: z.string().nullable().optional(),
          period: z.string().meta({ format: 'date-time', description: 'Start of the UTC hour, day or month' }).optional(),
          name: z.string().nullable().optional().meta({ description: 'Key or master name; null once deleted' }),
          quota: lifetimeQuotaSchema.nullable().optional().meta({ description: "The key's or master's lifetime quota; null once deleted" }),
        }),
      )
      .optional(),
    quota: lifetimeQuotaSchema.nullable().meta({ description: "The master's lifetime quota; null for a report across masters" }),
    key_quota: lifetimeQuotaSchema.nullable().optional().meta({ description: "With a key filter: the key's lifetime quota" }),
  })
  .meta({ id: 'UsageReport' });
