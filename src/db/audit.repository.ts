import type { Knex } from 'knex';

/** SQL for `audit_events`: who did what to which object (DESIGN §4). */

export interface AuditEventInput {
  actor_type: 'admin' | 'master' | 'system' | 'internal';
  actor_id: string | null;
  action: string;
  object_type: string | null;
  object_id: string | null;
  metadata: Record<string, unknown>;
  request_id: string | null;
  ip: string | null;
}

export interface AuditEventRow extends AuditEventInput {
  id: number;
  created_at: Date;
}

export async function insertAuditEvent(trx: Knex | Knex.Transaction, event: AuditEventInput): Promise<void> {
  await trx('audit_events').insert({ ...event, metadata: JSON.stringify(event.metadata) });
}

export interface AuditFilters {
  actor_type?: string;
  actor_id?: string;
  action?: string;
  object_type?: string;
  object_id?: string;
  since?: Date;
  until?: Date;
}

/** Newest first, keyset-paginated on id (`before` = the last id of the previous page). */
export async function listAuditEvents(knex: Knex, filters: AuditFilters, page: { limit: number; before?: number }): Promise<AuditEventRow[]> {
  const query = knex<AuditEventRow>('audit_events').select('*').orderBy('id', 'desc').limit(page.limit);
  if (filters.actor_type) query.where('actor_type', filters.actor_type);
  if (filters.actor_id) query.where('actor_id', filters.actor_id);
  if (filters.action) query.where('action', filters.action);
  if (filters.object_type) query.where('object_type', filters.object_type);
  if (filters.object_id) query.where('object_id', filters.object_id);
  if (filters.since) query.where('created_at', '>=', filters.since);
  if (filters.until) query.where('created_at', '<', filters.until);
  if (page.before !== undefined) query.where('id', '<', page.before);
  return query;
}
