import { z } from 'zod';
import { cidrProblem, DEFAULT_SCOPES } from '../../domain/keys.service.js';
import {
  budgetsFieldSchema,
  displayNameSchema,
  groupNameSchema,
  namespaceListSchema,
  namespaceNameSchema,
  paginationQueryShape,
  paginationSchema,
  quotaLimitSchema,
} from './masters.schemas.js';

/** Request and response schemas of child keys (`/admin/masters/{id}/keys`, `/admin/keys`, `/v1/tokens`). */

export const keyStatusSchema = z.enum(['active', 'disabled', 'expired', 'exhausted']);

/** `<family>:<action>` (`chat:*`, `embeddings:create`) or `*`. */
const scopeSchema = z
  .string()
  .max(64)
  .regex(/^(\*|[a-z][a-z0-9_-]*:(\*|[a-z0-9][a-z0-9_.-]*))$/, 'A scope is `*` or `<family>:<action>`, e.g. `chat:*`');

/** An allowed client network: an address or a CIDR block without host bits. */
const cidrSchema = z
  .string()
  .max(64)
  .superRefine((value, ctx) => {
    const problem = cidrProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({ example: '10.0.0.0/8' });

const fields = {
  name: displayNameSchema,
  scopes: z.array(scopeSchema).min(1).max(64),
  model_limits_enabled: z.boolean(),
  model_limits: z.array(z.string().min(1).max(256)).max(1_000),
  allow_ips: z.array(cidrSchema).max(256),
  quota_limit: quotaLimitSchema,
  budgets: budgetsFieldSchema,
  rpm_limit: z.number().int().min(0).max(2_147_483_647).meta({ description: 'Requests per minute, 0 = unlimited' }),
  tpm_limit: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).meta({ description: 'Tokens per minute, 0 = unlimited' }),
};

const futureInstant = z.iso.datetime({ offset: true }).meta({ description: 'Must be in the future' });

export const createKeySchema = z
  .object({
    name: fields.name,
    scopes: fields.scopes.optional().meta({ description: `Default ${JSON.stringify(DEFAULT_SCOPES)}` }),
    namespaces: namespaceListSchema.optional().meta({ description: "Within the master's namespaces; default the master's" }),
    default_namespace: namespaceNameSchema
      .optional()
      .meta({ description: "One of the key's namespaces; default the master's default when allowed, else the first" }),
    group: groupNameSchema.optional().meta({ description: "Must equal the master's group; omitted = follows the master" }),
    model_limits_enabled: fields.model_limits_enabled.optional().meta({ description: 'Default false' }),
    model_limits: fields.model_limits.optional().meta({ description: 'Models the key may use when model_limits_enabled' }),
    allow_ips: fields.allow_ips.optional().meta({ description: 'Empty (default) = any client address' }),
    expires_at: futureInstant.optional(),
    quota_limit: fields.quota_limit.optional().meta({ description: 'Lifetime quota in µ$ (micro-USD) of actual cost; -1 = unlimited (default)' }),
    rpm_limit: fields.rpm_limit.optional(),
    tpm_limit: fields.tpm_limit.optional(),
    budgets: fields.budgets.optional().meta({ description: 'Periodic budgets; default {} (none)' }),
  })
  .strict()
  .meta({ id: 'CreateKey' });

export const updateKeySchema = z
  .object({
    ...fields,
    status: z.enum(['active', 'disabled']),
    expires_at: futureInstant.nullable().meta({ description: 'null removes the expiry' }),
  })
  .partial()
  .strict()
  .refine((body) => Object.keys(body).length > 0, 'At least one field is required')
  .meta({
    id: 'UpdateKey',
    description:
      'Namespaces are changed through PUT /admin/keys/{id}/access. Raising quota_limit above quota_used (or to -1) makes an exhausted key active again; `budgets` replaces the whole object.',
  });

/** What a master may change on its own child keys (PATCH /v1/tokens/{id}). */
export const updateOwnKeySchema = z
  .object({
    name: fields.name,
    status: z.enum(['active', 'disabled']),
    quota_limit: fields.quota_limit,
    budgets: fields.budgets,
  })
  .partial()
  .strict()
  .refine((body) => Object.keys(body).length > 0, 'At least one field is required')
  .meta({ id: 'UpdateOwnKey', description: 'Raising quota_limit above quota_used (or to -1) makes an exhausted key active again' });

export const listKeysQuerySchema = z.object({ ...paginationQueryShape, status: keyStatusSchema.optional() }).strict();

export const keySchema = z
  .object({
    id: z.number().int(),
    master_id: z.number().int(),
    name: z.string(),
    key_prefix: z.string(),
    key_last4: z.string(),
    display: z.string().meta({ example: 'ezk_AbCd…wxyz' }),
    issued_by: z.enum(['master', 'admin']),
    issuer_id: z.string().nullable(),
    issued_at_epoch: z.number().int(),
    status: keyStatusSchema,
    scopes: z.array(z.string()),
    namespaces: z.array(z.string()).meta({ description: "Empty = the master's" }),
    default_namespace: z.string().nullable().meta({ description: "null = the master's" }),
    group: z.string().nullable().meta({ description: "null = the master's" }),
    model_limits_enabled: z.boolean(),
    model_limits: z.array(z.string()),
    allow_ips: z.array(z.string()),
    expires_at: z.iso.datetime().nullable(),
    quota_limit: z.number().int().meta({ description: 'Lifetime quota, µ$; -1 = unlimited' }),
    quota_used: z.number().int().meta({ description: 'µ$ spent as persisted (the gateway counts live; flushed every minute)' }),
    rpm_limit: z.number().int(),
    tpm_limit: z.number().int(),
    budgets: budgetsFieldSchema,
    last_used_at: z.iso.datetime().nullable(),
    created_at: z.iso.datetime(),
    updated_at: z.iso.datetime(),
  })
  .meta({ id: 'Key' });

export const keyWithSecretSchema = keySchema
  .extend({ key: z.string().meta({ description: 'The child key (`ezk_…`). Shown once, never again.' }) })
  .meta({ id: 'KeyWithSecret' });

export const keyListSchema = z.object({ data: z.array(keySchema), pagination: paginationSchema }).meta({ id: 'KeyList' });

export const keyAccessSchema = z
  .object({
    default_namespace: z.string().nullable().meta({ description: "null = the master's default" }),
    namespaces: z.array(z.string()).meta({ description: "Empty = the master's namespaces" }),
  })
  .meta({ id: 'KeyAccess' });

export const putKeyAccessSchema = z
  .object({ default_namespace: namespaceNameSchema, namespaces: namespaceListSchema })
  .strict()
  .meta({ id: 'PutKeyAccess' });
