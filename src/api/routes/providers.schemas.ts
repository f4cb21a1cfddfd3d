import { z } from 'zod';
import { API_KEY_STATUSES } from '../../db/api-keys.repository.js';
import { checkBaseUrl, MAX_BASE_URL_LENGTH } from '../../domain/base-url.js';
import { PRESET_NAMES, PROVIDER_TYPES } from '../../domain/provider-presets.js';
import { idParamsSchema, paginationQueryShape, paginationSchema } from './models.schemas.js';

/**
 * Schemas of `/admin/provider-groups`, `/admin/api-keys` and `/admin/providers/{preset,custom}`
 * (DESIGN §7). Bodies are strict: an unknown field is a 400 naming it.
 */

export { idParamsSchema };

/** Trimmed and lower-cased before the enum check, so `" OpenAI "` is `openai`. */
const normalized = (v: unknown): unknown => (typeof v === 'string' ? v.trim().toLowerCase() : v);

export const providerTypeSchema = z
  .preprocess(normalized, z.enum(PROVIDER_TYPES))
  .meta({ id: 'ProviderType', description: 'Provider type (trimmed, lower-cased)' });

const groupName = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,64}$/, 'Must be 1–64 characters of A–Z, a–z, 0–9, ".", "_" or "-"')
  .meta({ description: 'Unique group name', example: 'openai-main' });

const routeGroup = z
  .string()
  .regex(/^[a-z0-9_-]{1,64}$/, 'Must be 1–64 characters of a–z, 0–9, "_" or "-"')
  .meta({ description: 'Routing tier (masters.group) whose masters use this group', example: 'default' });

/** An upstream base URL under the policy of src/domain/base-url.ts, normalised (no trailing slash). */
export const baseUrlSchema = z
  .string()
  .max(MAX_BASE_URL_LENGTH)
  .transform((value, ctx) => {
    const checked = checkBaseUrl(value);
    if (checked.ok) return checked.url;
    ctx.addIssue({ code: 'custom', message: checked.reason });
    return z.NEVER;
  })
  .meta({ description: 'http(s) URL; no credentials, query or fragment; cloud metadata hosts refused', example: 'https://api.openai.com/v1' });

const googleProject = z
  .string()
  .regex(/^[A-Za-z0-9.:_-]{1,128}$/, 'Must be a Google Cloud project id')
  .meta({ description: 'Google Cloud project (required for `vertex`)', example: 'my-project' });
const googleLocation = z
  .string()
  .regex(/^[a-z0-9-]{1,64}$/, 'Must be a Google Cloud location such as `global` or `us-central1`')
  .meta({ description: 'Google Cloud location (Vertex types default to `global`)', example: 'global' });

const modelsSchema = z
  .array(z.string().trim().min(1).max(200))
  .max(2_000)
  .transform((models) => [...new Set(models)])
  .meta({ description: 'Upstream model names this group serves (trimmed, duplicates dropped)', example: ['gpt-4o', 'gpt-4o-mini'] });

const groupStatus = z.enum(['active', 'disabled']);
const timeout = (what: string, maxMs: number) =>
  z.number().int().min(1).max(maxMs).nullable().meta({ description: `${what} in milliseconds (1–${maxMs}); null = the gateway default` });
const timeoutFields = {
  connect_timeout_ms: timeout('Connect timeout', 60_000).optional(),
  first_byte_timeout_ms: timeout('Time to the first response byte', 600_000).optional(),
  idle_timeout_ms: timeout('Longest pause between stream chunks', 600_000).optional(),
  request_timeout_ms: timeout('Overall request deadline', 3_600_000).optional(),
};

export const createProviderGroupSchema = z
  .object({
    name: groupName,
    type: providerTypeSchema,
    route_group: routeGroup.default('default'),
    base_url: baseUrlSchema.nullable().optional().meta({ description: 'Required for openai, compatible, anthropic and claude; null = the type default' }),
    google_project: googleProject.nullable().optional(),
    google_location: googleLocation.nullable().optional(),
    models: modelsSchema.default([]),
    status: groupStatus.default('active'),
    ...timeoutFields,
  })
  .strict()
  .meta({ id: 'ProviderGroupCreate' });

export const updateProviderGroupSchema = z
  .object({
    name: groupName.optional(),
    type: providerTypeSchema.optional(),
    route_group: routeGroup.optional(),
    base_url: baseUrlSchema.nullable().optional(),
    google_project: googleProject.nullable().optional(),
    google_location: googleLocation.nullable().optional(),
    models: modelsSchema.optional(),
    status: groupStatus.optional(),
    ...timeoutFields,
  })
  .strict()
  .refine((body) => Object.keys(body).length > 0, { message: 'Give at least one field to change' })
  .meta({ id: 'ProviderGroupUpdate', description: 'Only the given fields change; the type rules apply to the result' });

export const listProviderGroupsQuerySchema = z
  .object({
    status: groupStatus.optional(),
    type: providerTypeSchema.optional(),
    route_group: routeGroup.optional(),
    ...paginationQueryShape,
  })
  .strict();

export const providerGroupSchema = z
  .object({
    id: z.number().int(),
    name: z.string(),
    type: z.enum(PROVIDER_TYPES),
    route_group: z.string(),
    base_url: z.string().nullable(),
    google_project: z.string().nullable(),
    google_location: z.string().nullable(),
    models: z.array(z.string()),
    status: groupStatus,
    connect_timeout_ms: z.number().int().nullable(),
    first_byte_timeout_ms: z.number().int().nullable(),
    idle_timeout_ms: z.number().int().nullable(),
    request_timeout_ms: z.number().int().nullable(),
    api_key_count: z.number().int().meta({ description: 'Upstream keys in this group' }),
    created_at: z.iso.datetime(),
    updated_at: z.iso.datetime(),
  })
  .meta({ id: 'ProviderGroup' });

export const providerGroupListSchema = z
  .object({ data: z.array(providerGroupSchema), pagination: paginationSchema })
  .meta({ id: 'ProviderGroupList' });

// --- upstream api keys ------------------------------------------------------------------------

/** An upstream secret: trimmed, never echoed back (errors name the field, not the value). */
const secret = (what: string) => z.string().trim().min(1).max(16_384).meta({ description: what, format: 'password' });
const keyName = z.string().trim().max(128).meta({ description: 'Label for this key', example: 'team-a' });
const weight = z.number().int().min(0).max(1_000).meta({ description: 'Relative share of traffic (0–1000; 0 = standby)' });
/** docs/pricing.md: what this key's traffic really costs relative to the model's list price. */
export const rateMultiplierSchema = z
  .number()
  .min(0)
  .max(1_000)
  .meta({ description: 'Actual cost = list cost × this (0–1000; 1 = list price, 0.5 = a 50 % discount, 0 = free)', example: 1 });
const adminKeyStatus = z
  .enum(['active', 'disabled', 'manual_disabled'])
  .meta({ description: '`auto_disabled` is set by the gateway only; clear it with `ban_until: null` or `status: "active"`' });

/** OAuth key state an admin may set along with the tokens (OAuth types only). */
const oauthKeyFields = {
  access_token_expires_at: z.iso
    .datetime({ offset: true })
    .nullable()
    .optional()
    .meta({ description: 'When the given access token (`api_key`) expires; null = unknown (the token-refresh sweep renews it at once)' }),
  account_id: z.string().trim().min(1).max(200).nullable().optional().meta({ description: 'Upstream account id (Codex: the ChatGPT account id)' }),
};

export const createApiKeySchema = z
  .object({
    group_id: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
    name: keyName.default(''),
    api_key: secret('The upstream secret; required except for OAuth types given a refresh_token').optional(),
    refresh_token: secret('OAuth refresh token (codex, claude-code, gemini-cli, antigravity)').optional(),
    ...oauthKeyFields,
    weight: weight.default(1),
    rate_multiplier: rateMultiplierSchema.default(1),
    status: adminKeyStatus.default('active'),
    auto_ban: z.boolean().default(true),
  })
  .strict()
  .meta({ id: 'ApiKeyCreate' });

export const updateApiKeySchema = z
  .object({
    name: keyName.optional(),
    api_key: secret('Replaces the upstream secret (re-encrypted)').optional(),
    refresh_token: secret('Replaces the OAuth refresh token').optional(),
    ...oauthKeyFields,
    weight: weight.optional(),
    rate_multiplier: rateMultiplierSchema.optional(),
    status: adminKeyStatus.optional(),
    auto_ban: z.boolean().optional(),
    ban_until: z.null().optional().meta({ description: 'Only `null`: clears a ban (and lifts `auto_disabled` to `active`)' }),
  })
  .strict()
  .refine((body) => Object.keys(body).length > 0, { message: 'Give at least one field to change' })
  .meta({ id: 'ApiKeyUpdate' });

export const listApiKeysQuerySchema = z
  .object({
    group_id: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
    status: z.enum(API_KEY_STATUSES).optional(),
    ...paginationQueryShape,
  })
  .strict();

const timestamp = z.iso.datetime().nullable();

export const apiKeySchema = z
  .object({
    id: z.number().int(),
    group_id: z.number().int(),
    name: z.string(),
    api_key_masked: z.string().nullable().meta({ description: 'First 4 and last 4 characters (`sk-a…wxyz`); `****` for short secrets', example: 'sk-a…wxyz' }),
    secret_state: z.enum(['ok', 'missing', 'undecryptable']).meta({ description: '`missing`: an OAuth key not refreshed yet; `undecryptable`: EZ_SECRET changed' }),
    has_refresh_token: z.boolean(),
    weight: z.number().int(),
    rate_multiplier: z.number(),
    status: z.enum(API_KEY_STATUSES),
    auto_ban: z.boolean(),
    ban_reason: z.string().nullable(),
    ban_until: timestamp,
    request_count: z.number().int(),
    success_count: z.number().int(),
    failure_count: z.number().int(),
    token_count: z.number().int(),
    last_used_at: timestamp,
    access_token_expires_at: timestamp,
    account_id: z.string().nullable(),
    last_refresh_at: timestamp,
    refresh_error: z.string().nullable(),
    refresh_failure_count: z.number().int(),
    created_at: z.iso.datetime(),
    updated_at: z.iso.datetime(),
  })
  .meta({ id: 'ApiKey', description: 'An upstream credential; the secret is only ever shown masked' });

export const apiKeyListSchema = z.object({ data: z.array(apiKeySchema), pagination: paginationSchema }).meta({ id: 'ApiKeyList' });

export const revealedApiKeySchema = z
  .object({ id: z.number().int(), group_id: z.number().int(), api_key: z.string().meta({ description: 'The plaintext upstream secret' }) })
  .meta({ id: 'RevealedApiKey' });

// --- preset and custom providers ---------------------------------------------------------------

export const presetProviderSchema = z
  .object({
    preset: z.preprocess(normalized, z.enum(PRESET_NAMES)).meta({ description: 'Official endpoint to use' }),
    name: groupName.optional().meta({ description: 'Group name; defaults to the preset name' }),
    api_key: secret('The upstream secret'),
    route_group: routeGroup.default('default'),
    models: modelsSchema.optional().meta({ description: 'Replaces the starter model list' }),
    rate_multiplier: rateMultiplierSchema.default(1),
  })
  .strict()
  .meta({ id: 'ProviderPresetCreate' });

export const customProviderSchema = z
  .object({
    name: groupName,
    base_url: baseUrlSchema.meta({ description: 'Any OpenAI-compatible http(s) endpoint, e.g. `http://vllm:8000/v1`' }),
    api_key: secret('The upstream secret'),
    models: modelsSchema.pipe(z.array(z.string()).min(1, 'Give at least one model')),
    route_group: routeGroup.default('default'),
    rate_multiplier: rateMultiplierSchema.default(1),
  })
  .strict()
  .meta({ id: 'ProviderCustomCreate' });

export const providerCreatedSchema = z
  .object({ group: providerGroupSchema, api_key: apiKeySchema })
  .meta({ id: 'ProviderCreated', description: 'The new group and its first key (masked)' });
