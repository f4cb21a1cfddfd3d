import type { AlertRow } from '../../db/alerts.repository.js';

/** Bookkeeping columns the api and webhook events never show. */
type InternalColumns = 'announced_at' | 'resolved_announced_at' | 'announced_severity';
type Instants = 'first_seen_at' | 'last_seen_at' | 'created_at' | 'updated_at';
type OptionalInstants = 'acknowledged_at' | 'resolved_at' | 'dismissed_at';

/** What the api and webhook events show of an alert: the row without bookkeeping, times as ISO strings. */
export type AlertDto = Omit<AlertRow, InternalColumns | Instants | OptionalInstants> & Record<Instants, string> & Record<OptionalInstants, string | null>;

const iso = (d: Date | null) => (d === null ? null : d.toISOString());

export function toAlertDto(row: AlertRow): AlertDto {
  return {
    id: row.id,
    type: row.type,
    severity: row.severity,
    status: row.status,
    title: row.title,
    message: row.message,
    fingerprint: row.fingerprint,
    related_type: row.related_type,
    related_id: row.related_id,
    metadata: row.metadata,
    count: row.count,
    first_seen_at: row.first_seen_at.toISOString(),
    last_seen_at: row.last_seen_at.toISOString(),
    acknowledged_at: iso(row.acknowledged_at),
    acknowledged_by: row.acknowledged_by,
    resolved_at: iso(row.resolved_at),
    resolved_by: row.resolved_by,
    dismissed_at: iso(row.dismissed_at),
    dismissed_by: row.dismissed_by,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}
