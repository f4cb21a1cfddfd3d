import { z } from 'zod';
import { queryInstant } from './common.schemas.js';

/** Schemas of `GET /admin/audit` (keyset-paginated, newest first). */

const text = (description: string) => z.string().min(1).max(200).optional().meta({ description });
const instant = queryInstant;

export const listAuditQuerySchema = z
  .object({
    actor_type: z.enum(['admin', 'master', 'system', 'internal']).optional(),
    actor_id: text('Actor id, e.g. `bootstrap` or a master id'),
    action: text('Exact action, e.g. `binding.create`'),
    object_type: text('Object type, e.g. `binding`'),
    object_id: text('Object id'),
    since: instant('Events at or after this time'),
    until: instant('Events before this time'),
    limit: z.coerce.number().int().min(1).max(200).default(50).meta({ description: 'Page size (1–200)' }),
    before: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional().meta({ description: '`next_before` of the previous page' }),
  })
  .strict()
  .refine((q) => !q.since || !q.until || q.since < q.until, { message: 'Must be later than `since`', path: ['until'] });

export const auditEventSchema = z
  .object({
    id: z.number().int(),
    actor_type: z.string(),
    actor_id: z.string().nullable(),
    action: z.string(),
    object_type: z.string().nullable(),
    object_id: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()),
    request_id: z.string().nullable(),
    ip: z.string().nullable(),
    created_at: z.string().meta({ format: 'date-time' }),
  })
  .meta({ id: 'AuditEvent' });

export const auditListSchema = z
  .object({
    data: z.array(auditEventSchema),
    next_before: z.number().int().nullable().meta({ description: 'Pass as `before` for the next page; null on the last page' }),
  })
  .meta({ id: 'AuditList' });
