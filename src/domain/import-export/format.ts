import { z } from 'zod';
import { budgetsSchema } from '../../lib/budgets.js';

/**
 * The exporter file format 1.0.0 (PROVIDERS.md "Import file"), read by `ez-api import` and written
 * by `ez-api export`. Extension fields this project adds are marked; they are optional, so files
 * from the original exporter parse unchanged.
 */

const status = z.enum(['active', 'disabled']);
const isoDate = z.union([z.iso.datetime({ offset: true }), z.iso.date()]);
/** µ$ of actual cost; -1 = unlimited (as the API's quota_limit). */
const quotaLimit = z.number().int().min(-1).max(Number.MAX_SAFE_INTEGER);
const quotaUsed = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
/** Periodic budgets, validated by the API's own schema; `{}` = none (the column default). */
const budgets = budgetsSchema.optional().default({});

export const importProviderSchema = z
  .object({
    original_id: z.union([z.string(), z.number()]).transform(String),
    name: z.string().trim().min(1).max(64),
    type: z.string().trim().toLowerCase(),
    base_url: z.string().trim().optional().nullable(),
    api_key: z.string().optional().nullable(),
    models: z.array(z.string().trim().min(1)).optional().default([]),
    primary_group: z.string().trim().optional().default(''),
    all_groups: z.array(z.string().trim()).optional().default([]),
    weight: z.number().int().min(0).max(1_000).optional().default(1),
    priority: z.number().int().optional(),
    status: status.optional().default('active'),
    auto_ban: z.boolean().optional().default(true),
    is_multi_key: z.boolean().optional(),
    multi_key_index: z.number().int().optional(),
    original_name: z.string().optional(),
    /** Extension: Google project/location of Vertex providers. */
    google_project: z.string().optional().nullable(),
    google_location: z.string().optional().nullable(),
    /** Extension: actual cost = list cost × this (0–1000, as the API); column default 1. */
    rate_multiplier: z.number().min(0).max(1_000).optional().default(1),
    /** Extension: OAuth key state (not secrets; the refresh token is never in a file). Absent = left alone. */
    access_token_expires_at: z.iso.datetime({ offset: true }).optional().nullable(),
    account_id: z.string().trim().min(1).max(200).optional().nullable(),
  })
  .passthrough();

export const importMasterSchema = z
  .object({
    name: z.string().trim().min(1).max(128),
    group: z.string().trim().optional().default('default'),
    namespaces: z.array(z.string().trim().min(1)).optional(),
    default_namespace: z.string().trim().optional(),
    max_child_keys: z.number().int().min(0).optional().default(10),
    global_qps: z.number().int().min(0).optional().default(3),
    status: z.enum(['active', 'suspended']).optional().default('active'),
    /** Extension: lifetime quota over all the master's traffic (µ$) and usage so far; periodic budgets. */
    quota_limit: quotaLimit.optional().default(-1),
    quota_used: quotaUsed.optional().default(0),
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
    status: z.enum(['active', 'disabled', 'expired', 'exhausted']).optional().default('active'),
    scopes: z.array(z.string()).optional(),
    namespaces: z.array(z.string().trim().min(1)).optional(),
    default_namespace: z.string().trim().optional().nullable(),
    model_limits_enabled: z.boolean().optional().default(false),
    model_limits: z.array(z.string()).optional().default([]),
    expires_at: isoDate.optional().nullable(),
    allow_ips: z.array(z.string()).optional().default([]),
    quota_limit: quotaLimit.optional().default(-1),
    quota_used: quotaUsed.optional().default(0),
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
    route_group: z.string().trim().optional().default('default'),
    model: z.string().trim().min(1),
    status: status.optional().default('active'),
  })
  .passthrough();

export const importFileSchema = z.object({
  version: z.literal('1.0.0'),
  source: z.object({ type: z.string(), version: z.string().optional(), exported_at: z.string().optional() }).passthrough(),
  data: z.object({
    providers: z.array(importProviderSchema).default([]),
    masters: z.array(importMasterSchema).default([]),
    keys: z.array(importKeySchema).default([]),
    bindings: z.array(importBindingSchema).default([]),
  }),
  warnings: z.array(z.string()).default([]),
});

export type ImportFile = z.output<typeof importFileSchema>;
export type ImportProvider = z.output<typeof importProviderSchema>;
export type ImportMaster = z.output<typeof importMasterSchema>;
export type ImportKey = z.output<typeof importKeySchema>;
export type ImportBinding = z.output<typeof importBindingSchema>;

/** Default scopes of an imported key without any (PROVIDERS.md). */
export const DEFAULT_IMPORTED_SCOPES = ['chat:*', 'completions:*'];
