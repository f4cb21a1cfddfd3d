import { z } from 'zod';
import { paginationQueryShape, paginationSchema } from './models.schemas.js';

/** Schemas of `/admin/namespaces`. */

/** No dots: a model reference `ns.model` splits on the first dot. */
export const NAMESPACE_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export const namespaceNameSchema = z
  .string()
  .regex(NAMESPACE_NAME_PATTERN, 'Letters, digits, "_" and "-" only (1–64 characters, no dots)')
  .meta({ description: 'Namespace name: [A-Za-z0-9_-]{1,64}', example: 'team-a' });

const description = z.string().max(1_000).meta({ description: 'Free text (at most 1000 characters)' });

export const createNamespaceSchema = z
  .object({ name: namespaceNameSchema, description: description.default('') })
  .strict()
  .meta({ id: 'NamespaceCreate' });

export const updateNamespaceSchema = z
  .object({ description })
  .strict()
  .meta({ id: 'NamespaceUpdate', description: 'A namespace is referred to by name, so only its description can change' });

export const listNamespacesQuerySchema = z
  .object({
    q: z.string().min(1).max(64).optional().meta({ description: 'Case-insensitive substring of the name' }),
    ...paginationQueryShape,
  })
  .strict();

export const namespaceSchema = z
  .object({
    id: z.number().int(),
    name: z.string(),
    description: z.string(),
    builtin: z.boolean().meta({ description: 'True for `default`, which always exists and cannot be deleted' }),
    created_at: z.string().meta({ format: 'date-time' }),
    updated_at: z.string().meta({ format: 'date-time' }),
  })
  .meta({ id: 'Namespace' });

export const namespaceListSchema = z.object({ data: z.array(namespaceSchema), pagination: paginationSchema }).meta({ id: 'NamespaceList' });
