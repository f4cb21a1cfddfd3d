import type { AlertRow, AlertSeverity, AlertStatus } from '../../db/alerts.repository.js';

/** What the api and webhook events show of an alert (no internal bookkeeping columns). */
export interface AlertDto {
  id: number;
  type: string;
  severity: AlertSeverity;
  status: AlertStatus;
  title: string;
  message: string;
  fingerprint: string | null;
  related_type: string | null;
  related_id: string | null;
  metadata: Record<string, unknown>;
  /** Reports folded into this alert (1 = only the first). */
  count: number;
  first_seen_at: string;
  last_seen_at: string;
  acknowledged_at: string | null;
  acknowledged_by: string | null;
  resolved_at: string | null;
  resolved_by: string | null;
  dismissed_at: string | null;
  dismissed_by: string | null;
  created_at: string;
  updated_at: string;
}

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
