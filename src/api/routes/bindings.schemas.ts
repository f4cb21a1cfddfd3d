import { z } from 'zod';
import { MAX_SELECTOR_LENGTH } from '../../domain/sync/projections.js';
import { paginationQueryShape, paginationSchema } from './models.schemas.js';
import { namespaceNameSchema } from './namespaces.schemas.js';

/** Schemas of `/admin/bindings`. */

export const MAX_CANDIDATES = 50;

export const bindingStatusSchema = z.enum(['active', 'disabled']).meta({ id: 'BindingStatus' });
export const selectorTypeSchema = z.enum(['exact', 'regex', 'normalize_exact']).meta({
  id: 'SelectorType',
  description:
    '`exact`: trimmed equality; `regex`: a JavaScript regex matching a whole model name; `normalize_exact`: equality after lower-casing, trimming and dropping everything up to the last `/`. A usable selector hits exactly one of the group\'s models.',
});

/** Route groups are routing tiers (masters.group, provider_groups.route_group); never a `/`. */
const routeGroup = z
  .string()
  .regex(/^[^\s/]{1,64}$/, '1–64 characters, no whitespace or "/"')
  .meta({ description: 'Routing tier', example: 'default' });

const publicModel = z.string().trim().min(1).max(200).meta({ description: 'The model name clients ask for', example: 'gpt-4o' });

export const candidateInputSchema = z
  .object({
    group_id: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).meta({ description: 'Provider group id (must exist)' }),
    route_group: routeGroup.optional().meta({ description: "Defaults to the binding's route_group" }),
    weight: z.number().int().min(0).max(1_000).default(1).meta({ description: 'Relative weight (0–1000, default 1)' }),
    selector_type: selectorTypeSchema,
    selector_value: z
      .string()
      .min(1)
      .max(MAX_SELECTOR_LENGTH)
      .regex(/\S/, 'Must not be blank')
      .meta({ description: 'Model name or pattern selecting one of the group\'s models', example: 'gpt-4o-2024-08-06' }),
  })
  .strict()
  .meta({ id: 'BindingCandidateInput' });

const candidates = z.array(candidateInputSchema).min(1).max(MAX_CANDIDATES).meta({ description: `1–${MAX_CANDIDATES} candidates` });

export const createBindingSchema = z
  .object({
    namespace: namespaceNameSchema.meta({ description: 'An existing namespace, or `default`' }),
    public_model: publicModel,
    route_group: routeGroup.default('default'),
    status: bindingStatusSchema.default('active'),
    candidates,
  })
  .strict()
  .meta({ id: 'BindingCreate' });

export const updateBindingSchema = z
  .object({
    namespace: namespaceNameSchema.optional(),
    public_model: publicModel.optional(),
    route_group: routeGroup.optional(),
    status: bindingStatusSchema.optional(),
    candidates: candidates.optional().meta({ description: 'Replaces every candidate' }),
  })
  .strict()
  .refine((body) => Object.keys(body).length > 0, { message: 'Give at least one field to change' })
  .meta({ id: 'BindingUpdate', description: 'Only the given fields change; `candidates` replaces the whole list' });

export const listBindingsQuerySchema = z
  .object({
    namespace: namespaceNameSchema.optional(),
    public_model: z.string().min(1).max(200).optional().meta({ description: 'Exact public model name' }),
    status: bindingStatusSchema.optional(),
    ...paginationQueryShape,
  })
  .strict();

export const candidateResolutionSchema = z
  .object({
    status: z.enum(['active', 'config_error', 'no_provider']).meta({
      description: '`config_error`: the selector hits no model or several; `no_provider`: the group is gone, disabled or has no active upstream key',
    }),
    route_group: z.string().meta({ description: 'Effective routing tier' }),
    matched_models: z.array(z.string()).meta({ description: "The group's models the selector hits" }),
    upstream_model: z.string().nullable().meta({ description: 'The model sent upstream, when exactly one matched' }),
    upstreams: z.record(z.string(), z.string()).meta({ description: 'Upstream api key id → upstream model (active candidates)' }),
    message: z.string().nullable().meta({ description: 'Why the candidate is not active' }),
  })
  .meta({ id: 'CandidateResolution' });

export const bindingCandidateSchema = z
  .object({
    group_id: z.number().int(),
    route_group: z.string().nullable().meta({ description: "As saved; null = the binding's route_group" }),
    weight: z.number().int(),
    selector_type: selectorTypeSchema,
    selector_value: z.string(),
    resolution: candidateResolutionSchema,
  })
  .meta({ id: 'BindingCandidate' });

export const bindingSchema = z
  .object({
    id: z.number().int(),
    namespace: z.string(),
    public_model: z.string(),
    route_group: z.string(),
    status: bindingStatusSchema,
    candidates: z.array(bindingCandidateSchema),
    created_at: z.string().meta({ format: 'date-time' }),
    updated_at: z.string().meta({ format: 'date-time' }),
  })
  .meta({ id: 'Binding' });

export const bindingListSchema = z.object({ data: z.array(bindingSchema), pagination: paginationSchema }).meta({ id: 'BindingList' });
