import { listAuditEvents, type AuditEventRow } from '../../db/audit.repository.js';
import { defineRoute, type ApiRoute } from '../route.js';
import { auditListSchema, listAuditQuerySchema } from './audit.schemas.js';

function toAuditDto(row: AuditEventRow) {
  return {
    id: row.id,
    actor_type: row.actor_type,
    actor_id: row.actor_id,
    action: row.action,
    object_type: row.object_type,
    object_id: row.object_id,
    metadata: row.metadata,
    request_id: row.request_id,
    ip: row.ip,
    created_at: row.created_at.toISOString(),
  };
}

export const auditRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/admin/audit',
    summary: 'Audit events, newest first',
    description: 'Keyset-paginated: pass the `next_before` of one page as `before` to get the next.',
    tags: ['audit'],
    auth: 'admin',
    request: { query: listAuditQuerySchema },
    responses: { 200: { description: 'A page of audit events', schema: auditListSchema } },
    handler: async (_ctx, { query }, { deps }) => {
      const { limit, before, ...filters } = query;
      // One row more than asked tells whether another page exists.
      const rows = await listAuditEvents(deps.knex, filters, { limit: limit + 1, ...(before !== undefined ? { before } : {}) });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return { data: page.map(toAuditDto), next_before: rows.length > limit && last ? last.id : null };
    },
  }),
];
