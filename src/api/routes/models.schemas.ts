import { z } from 'zod';

/**
 * Schemas of `/admin/models`, and the id/pagination pieces the registry resources (models,
 * namespaces, bindings) share (docs/control-plane.md "HTTP conventions").
 */

export const idParamsSchema = z.object({
  id: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).meta({ description: 'Resource id', example: 1 }),
});

/** `?limit=` (1–200, default 50) and `?offset=` (default 0). */
export const paginationQueryShape = {
  limit: z.coerce.number().int().min(1).max(200).default(50).meta({ description: 'Page size (1–200)' }),
  offset: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0).meta({ description: 'Rows to skip' }),
};

export const paginationSchema = z
  .object({ limit: z.number().int(), offset: z.number().int(), total: z.number().int() })
  .meta({ id: 'Pagination' });

export const modelKindSchema = z.enum(['chat', 'embedding', 'rerank', 'other']).meta({ id: 'ModelKind' });

const modelName = z.string().trim().min(1).max(200).meta({ description: 'Unique model name (trimmed)', example: 'gpt-4o' });
const tokenLimit = z.number().int().positive().max(2_147_483_647).nullable();
const price = (what: string) => z.number().nonnegative().meta({ description: `${what} (≥ 0)` });

export const createModelSchema = z
  .object({
    name: modelName,
    kind: modelKindSchema.default('chat'),
    context_window: tokenLimit.optional().meta({ description: 'Context window in tokens; null = unknown' }),
    max_output_tokens: tokenLimit.optional().meta({ description: 'Output limit in tokens; null = unknown' }),
    supports_stream: z.boolean().default(true),
    supports_vision: z.boolean().default(false),
    supports_functions: z.boolean().default(false),
    supports_tool_choice: z.boolean().default(false),
    supports_fim: z.boolean().default(false),
    price_input: price('Input price per 1M tokens').default(0),
    price_output: price('Output price per 1M tokens').default(0),
    price_cache_read: price('Cache-read price per 1M tokens').default(0),
    price_cache_write: price('Cache-write price per 1M tokens').default(0),
    price_per_request: price('Price per request').default(0),
  })
  .strict()
  .meta({ id: 'ModelCreate' });

export const updateModelSchema = z
  .object({
    name: modelName.optional(),
    kind: modelKindSchema.optional(),
    context_window: tokenLimit.optional(),
    max_output_tokens: tokenLimit.optional(),
    supports_stream: z.boolean().optional(),
    supports_vision: z.boolean().optional(),
    supports_functions: z.boolean().optional(),
    supports_tool_choice: z.boolean().optional(),
    supports_fim: z.boolean().optional(),
    price_input: price('Input price per 1M tokens').optional(),
    price_output: price('Output price per 1M tokens').optional(),
    price_cache_read: price('Cache-read price per 1M tokens').optional(),
    price_cache_write: price('Cache-write price per 1M tokens').optional(),
    price_per_request: price('Price per request').optional(),
  })
  .strict()
  .refine((body) => Object.keys(body).length > 0, { message: 'Give at least one field to change' })
  .meta({ id: 'ModelUpdate', description: 'Only the given fields change' });

export const listModelsQuerySchema = z
  .object({
    kind: modelKindSchema.optional(),
    q: z.string().min(1).max(200).optional().meta({ description: 'Case-insensitive substring of the name' }),
    ...paginationQueryShape,
  })
  .strict();

export const modelSchema = z
  .object({
    id: z.number().int(),
    name: z.string(),
    kind: modelKindSchema,
    context_window: z.number().int().nullable(),
    max_output_tokens: z.number().int().nullable(),
    supports_stream: z.boolean(),
    supports_vision: z.boolean(),
    supports_functions: z.boolean(),
    supports_tool_choice: z.boolean(),
    supports_fim: z.boolean(),
    price_input: z.number(),
    price_output: z.number(),
    price_cache_read: z.number(),
    price_cache_write: z.number(),
    price_per_request: z.number(),
    price_source: z
      .string()
      .meta({ description: '`default:<table version>` (the price loader keeps these prices current) or `admin` (set by an admin; kept)', example: 'default:2026-12-01' }),
    created_at: z.string().meta({ format: 'date-time' }),
    updated_at: z.string().meta({ format: 'date-time' }),
  })
  .meta({ id: 'Model' });

export const modelListSchema = z.object({ data: z.array(modelSchema), pagination: paginationSchema }).meta({ id: 'ModelList' });

export const loadPricesBodySchema = z
  .object({
    overwrite: z.boolean().default(false).meta({ description: 'Also replace prices an admin set (price_source `admin`)' }),
    dry_run: z.boolean().default(false).meta({ description: 'Count what would change; write nothing' }),
  })
  .strict()
  .default({ overwrite: false, dry_run: false })
  .meta({ id: 'ModelPricesLoad' });

const modelNames = z.array(z.string());

export const priceLoadResultSchema = z
  .object({
    version: z.string().meta({ description: 'Version of the loaded table', example: '2026-12-01' }),
    dry_run: z.boolean(),
    overwrite: z.boolean(),
    created: z.number().int().meta({ description: 'Models added to the registry' }),
    updated: z.number().int().meta({ description: 'Models whose prices were replaced' }),
    unchanged: z.number().int().meta({ description: 'Models already at this version and these prices' }),
    skipped: z.number().int().meta({ description: 'Models with admin-set prices, left alone (see `overwrite`)' }),
    models: z.object({ created: modelNames, updated: modelNames, unchanged: modelNames, skipped: modelNames }),
  })
  .meta({ id: 'ModelPricesLoadResult' });
