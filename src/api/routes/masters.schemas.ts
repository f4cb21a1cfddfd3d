import { z } from 'zod';
import { MASTER_DEFAULTS } from '../../domain/masters.service.js';
import { budgetsSchema } from '../../lib/budgets.js';

/** Request and response schemas of `/admin/masters` (and the shared pieces keys/tokens reuse). */

/** `/…/:id`: a positive integer id. */
export const idParamsSchema = z.object({ id: z.coerce.number().int().positive() }).strict();

/** `?limit=` (1–200, default 50) and `?offset=` (default 0), per docs/control-plane.md. */
export const paginationQueryShape = {
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).default(0),
};

export const paginationSchema = z
  .object({ limit: z.number().int(), offset: z.number().int(), total: z.number().int() })
  .meta({ id: 'Pagination' });

/** A display name: 1–128 characters, not blank, no surrounding whitespace, no control characters. */
export const displayNameSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[^\s\p{Cc}](?:[^\p{Cc}]*[^\s\p{Cc}])?$/u, 'Must not be blank, start or end with whitespace, or contain control characters');

/** A routing group name (`provider_groups.route_group`, `masters.group`). */
export const groupNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'Letters, digits, `.`, `_` and `-`, starting with a letter or digit');

/** A namespace name: model references split `ns.model` on the first dot, so no dots. */
export const namespaceNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[^.\s\p{Cc}]+$/u, 'Must not contain dots, whitespace or control characters');

export const namespaceListSchema = z.array(namespaceNameSchema).min(1).max(100);

export const masterStatusSchema = z.enum(['active', 'suspended']);

/** A lifetime quota in µ$ (micro-USD) of actual cost; -1 = unlimited. */
export const quotaLimitSchema = z.number().int().min(-1).max(Number.MAX_SAFE_INTEGER).meta({ description: 'µ$ of actual cost; -1 = unlimited' });

/** Periodic budgets (src/lib/budgets.ts): `{minute|hour|day|month: {requests?, tokens?, cost_usd?}}`; `{}` = none. */
export const budgetsFieldSchema = budgetsSchema.meta({
  description: 'Per UTC calendar minute/hour/day/month: requests, tokens, cost_usd (USD of actual cost); {} = none',
  example: { day: { cost_usd: 5, requests: 10_000 }, minute: { tokens: 100_000 } },
});

const maxChildKeysSchema = z.number().int().min(0).max(100_000);
const globalQpsSchema = z.number().int().min(0).max(1_000_000);

export const createMasterSchema = z
  .object({
    name: displayNameSchema.meta({ description: 'Unique', example: 'acme' }),
    group: groupNameSchema.optional().meta({ description: `Routing group; default \`${MASTER_DEFAULTS.group}\`` }),
    namespaces: namespaceListSchema.optional().meta({ description: 'Existing namespaces (`default` always exists); default `["default"]`' }),
    default_namespace: namespaceNameSchema.optional().meta({ description: 'One of `namespaces`; default `default` when listed, else the first' }),
    max_child_keys: maxChildKeysSchema.optional().meta({ description: `Active + disabled child keys allowed; default ${MASTER_DEFAULTS.max_child_keys}` }),
    global_qps: globalQpsSchema.optional().meta({ description: `Requests per second over all child keys, 0 = unlimited; default ${MASTER_DEFAULTS.global_qps}` }),
    status: masterStatusSchema.optional().meta({ description: 'Default `active`' }),
    quota_limit: quotaLimitSchema.optional().meta({ description: 'Lifetime quota over all child keys, µ$ of actual cost; -1 = unlimited (default)' }),
    budgets: budgetsFieldSchema.optional().meta({ description: 'Periodic budgets over all child keys; default {} (none)' }),
  })
  .strict()
  .meta({ id: 'CreateMaster' });

export const updateMasterSchema = z
  .object({
    name: displayNameSchema,
    group: groupNameSchema,
    max_child_keys: maxChildKeysSchema,
    global_qps: globalQpsSchema,
    status: masterStatusSchema,
    quota_limit: quotaLimitSchema,
    budgets: budgetsFieldSchema,
  })
  .partial()
  .strict()
  .refine((body) => Object.keys(body).length > 0, 'At least one field is required')
  .meta({ id: 'UpdateMaster', description: 'Namespaces are changed through PUT /admin/masters/{id}/access' });

export const listMastersQuerySchema = z
  .object({
    ...paginationQueryShape,
    status: masterStatusSchema.optional(),
    group: groupNameSchema.optional(),
    q: z.string().min(1).max(128).optional().meta({ description: 'Case-insensitive substring of the name' }),
  })
  .strict();

export const masterSchema = z
  .object({
    id: z.number().int(),
    name: z.string(),
    group: z.string(),
    namespaces: z.array(z.string()),
    default_namespace: z.string(),
    max_child_keys: z.number().int(),
    global_qps: z.number().int().meta({ description: '0 = unlimited' }),
    status: masterStatusSchema,
    epoch: z.number().int().meta({ description: 'Child keys issued at an older epoch are refused' }),
    quota_limit: z.number().int().meta({ description: 'Lifetime quota, µ$; -1 = unlimited' }),
    quota_used: z.number().int().meta({ description: 'µ$ spent as persisted (read-only; the gateway counts live, flushed every minute)' }),
    budgets: budgetsFieldSchema,
    key_prefix: z.string(),
    key_last4: z.string(),
    display: z.string().meta({ example: 'ezm_AbCd…wxyz' }),
    created_at: z.iso.datetime(),
    updated_at: z.iso.datetime(),
  })
  .meta({ id: 'Master' });

export const masterWithKeySchema = masterSchema
  .extend({ key: z.string().meta({ description: 'The master key (`ezm_…`). Shown once, never again.' }) })
  .meta({ id: 'MasterWithKey' });

export const masterListSchema = z.object({ data: z.array(masterSchema), pagination: paginationSchema }).meta({ id: 'MasterList' });

export const masterAccessSchema = z
  .object({ default_namespace: z.string(), namespaces: z.array(z.string()) })
  .meta({ id: 'MasterAccess' });

export const putMasterAccessSchema = z
  .object({
    default_namespace: namespaceNameSchema,
    namespaces: namespaceListSchema,
    propagate: z.boolean().optional().meta({ description: "Narrow the master's keys to the new set (default false)" }),
  })
  .strict()
  .meta({ id: 'PutMasterAccess' });

export const masterAccessUpdatedSchema = masterAccessSchema
  .extend({ updated_key_ids: z.array(z.number().int()).meta({ description: 'Keys narrowed by `propagate`' }) })
  .meta({ id: 'MasterAccessUpdated' });
