import { z } from 'zod';
import { budgetsSchema } from '../../lib/budgets.js';

/**
 * The exporter file format (PROVIDERS.md "Import file"), read by `ez-api import` and written by
 * `ez-api export`. 1.0.0 is the original exporter's; 1.1.0 (what `ez-api export` writes) adds
 * `data.models`, the model registry. Extension fields this project adds are marked; they are
 * optional, so files from the original exporter and our older exports parse unchanged.
 *
 * No field of an entity has a schema default: absent stays absent, so `--conflict overwrite`
 * can leave the stored value alone. The defaults of a created row live in plan.ts.
 */

/** Versions `ez-api import` reads. */
export const FORMAT_VERSIONS = ['1.0.0', '1.1.0'] as const;
/** The version `ez-api export` writes. */
export const EXPORT_FORMAT_VERSION = '1.1.0';

const status = z.enum(['active', 'disabled']);
const isoDate = z.union([z.iso.datetime({ offset: true }), z.iso.date()]);
/** µ$ of actual cost; -1 = unlimited (as the API's quota_limit). */
const quotaLimit = z.number().int().min(-1).max(Number.MAX_SAFE_INTEGER);
const quotaUsed = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
/** Periodic budgets, validated by the API's own schema; `{}` = none (the column default). */
const budgets = budgetsSchema.optional();

export const importProviderSchema = z
  .object({
    original_id: z.union([z.string(), z.number()]).transform(String),
    name: z.string().trim().min(1).max(64),
    type: z.string().trim().toLowerCase(),
    base_url: z.string().trim().optional().nullable(),
    api_key: z.string().optional().nullable(),
    models: z.array(z.string().trim().min(1)).optional(),
    primary_group: z.string().trim().optional(),
    all_groups: z.array(z.string().trim()).optional(),
    weight: z.number().int().min(0).max(1_000).optional(),
    priority: z.number().int().optional(),
    status: status.optional(),
    auto_ban: z.boolean().optional(),
    is_multi_key: z.boolean().optional(),
    multi_key_index: z.number().int().optional(),
    original_name: z.string().optional(),
    /** Extension: Google project/location of Vertex providers. */
    google_project: z.string().optional().nullable(),
    google_location: z.string().optional().nullable(),
    /** Extension: actual cost = list cost × this (0–1000, as the API); column default 1. */
    rate_multiplier: z.number().min(0).max(1_000).optional(),
    /** Extension: OAuth key state (not secrets; the refresh token is never in a file). Absent = left alone. */
    access_token_expires_at: z.iso.datetime({ offset: true }).optional().nullable(),
    account_id: z.string().trim().min(1).max(200).optional().nullable(),
  })
  .passthrough();

export const importMasterSchema = z
  .object({
    name: z.string().trim().min(1).max(128),
    group: z.string().trim().optional(),
    namespaces: z.array(z.string().trim().min(1)).optional(),
    default_namespace: z.string().trim().optional(),
    max_child_keys: z.number().int().min(0).optional(),
    global_qps: z.number().int().min(0).optional(),
    status: z.enum(['active', 'suspended']).optional(),
    /** Extension: lifetime quota over all the master's traffic (µ$) and usage so far; periodic budgets. */
    quota_limit: quotaLimit.optional(),
    quota_used: quotaUsed.optional(),
    budgets,
  })
  .passthrough();

export const importKeySchema = z
  .object({
    master_ref: z.string().trim().min(1),
    /** The plaintext key: digested on import, never stored. Empty in our exports (see key_digest). */
    original_token: z.string().optional().nullable(),
    /** Extension: the digest under the exporting deployment's EZ_SECRET (our exports). */
    key_digest: z.string().regex(/^[0-9a-f]{64}$/).optional(),
    /** Extension: display prefix and last 4 from our exports. */
    key_prefix: z.string().optional(),
    key_last4: z.string().optional(),
    name: z.string().optional(),
    group: z.string().trim().optional().nullable(),
    status: z.enum(['active', 'disabled', 'expired', 'exhausted']).optional(),
    scopes: z.array(z.string()).optional(),
    namespaces: z.array(z.string().trim().min(1)).optional(),
    default_namespace: z.string().trim().optional().nullable(),
    model_limits_enabled: z.boolean().optional(),
    model_limits: z.array(z.string()).optional(),
    expires_at: isoDate.optional().nullable(),
    allow_ips: z.array(z.string()).optional(),
    quota_limit: quotaLimit.optional(),
    quota_used: quotaUsed.optional(),
    unlimited_quota: z.boolean().optional(),
    rpm_limit: z.number().int().min(0).optional(),
    tpm_limit: z.number().int().min(0).optional(),
    /** Extension: periodic budgets. */
    budgets,
  })
  .passthrough();

export const importBindingSchema = z
  .object({
    namespace: z.string().trim().min(1),
    route_group: z.string().trim().optional(),
    model: z.string().trim().min(1),
    status: status.optional(),
  })
  .passthrough();

const tokenLimit = z.number().int().positive().max(2_147_483_647).nullable();
/** USD per 1M tokens (or per request), as `/admin/models` takes them. */
const price = z.number().nonnegative();

/** Extension (format 1.1.0): one model of the registry (`/admin/models`), matched by name. */
export const importModelSchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    kind: z.enum(['chat', 'embedding', 'rerank', 'other']).optional(),
    context_window: tokenLimit.optional(),
    max_output_tokens: tokenLimit.optional(),
    supports_stream: z.boolean().optional(),
    supports_vision: z.boolean().optional(),
    supports_functions: z.boolean().optional(),
    supports_tool_choice: z.boolean().optional(),
    supports_fim: z.boolean().optional(),
    price_input: price.optional(),
    price_output: price.optional(),
    price_cache_read: price.optional(),
    price_cache_write: price.optional(),
    price_per_request: price.optional(),
    /** `admin` or `default:<table version>` (docs/pricing.md); kept as the file says. */
    price_source: z
      .string()
      .regex(/^(admin|default:[A-Za-z0-9._-]{1,64})$/, 'Must be "admin" or "default:<version>" (1–64 of A–Z a–z 0–9 . _ -)')
      .optional(),
  })
  .passthrough();

export const importFileSchema = z.object({
  version: z.enum(FORMAT_VERSIONS),
  source: z.object({ type: z.string(), version: z.string().optional(), exported_at: z.string().optional() }).passthrough(),
  data: z.object({
    providers: z.array(importProviderSchema).default([]),
    masters: z.array(importMasterSchema).default([]),
    keys: z.array(importKeySchema).default([]),
    bindings: z.array(importBindingSchema).default([]),
    /** Extension (1.1.0); files without it leave the registry alone. */
    models: z.array(importModelSchema).default([]),
  }),
  warnings: z.array(z.string()).default([]),
});

export type ImportFile = z.output<typeof importFileSchema>;
export type ImportProvider = z.output<typeof importProviderSchema>;
export type ImportMaster = z.output<typeof importMasterSchema>;
export type ImportKey = z.output<typeof importKeySchema>;
export type ImportBinding = z.output<typeof importBindingSchema>;
export type ImportModel = z.output<typeof importModelSchema>;

/** Default scopes of an imported key without any (PROVIDERS.md). */
export const DEFAULT_IMPORTED_SCOPES = ['chat:*', 'completions:*'];
