import type { Knex } from 'knex';
import { ALERT_SEVERITIES, markAnnounced, pendingAnnouncements, type AlertRow, type AlertSeverity, type AnnouncementKind } from '../../db/alerts.repository.js';
import type { WebhookDelivery, WebhookEvent } from '../webhook-delivery.js';
import { publishEvent } from '../webhook-events.js';
import { toAlertDto } from './dto.js';

/**
 * Announces alerts to `/admin/webhooks` subscribers (docs/alerts.md): `alert.created` for a new
 * alert, `alert.escalated` when an open alert becomes more severe than subscribers last heard,
 * `alert.resolved` when one is resolved. Event ids are derived from the alert id (and, for an
 * escalation, the new severity: `alert-<id>-escalated-critical`), and the `webhooks` jobId from
 * (webhook, event id), so publishing twice delivers once. The api and the worker publish right
 * after their commit; what they could not publish (Redis down) or did not (alerts raised by the
 * sync worker or a gateway) stays marked pending in the row and the detector tick publishes it.
 */

export type { AnnouncementKind } from '../../db/alerts.repository.js';

export interface AlertAnnouncerDeps {
  knex: Knex;
  /** Enqueues one delivery on the `webhooks` queue (jobId = webhookJobId(delivery)). */
  enqueue(delivery: WebhookDelivery): Promise<void>;
  now(): Date;
}

/** Pending announcements older than this are dropped (never published), so a backlog stays bounded. */
export const ANNOUNCE_MAX_AGE_MS = 24 * 3_600_000;
/** Announcements per kind per detector tick. */
export const ANNOUNCE_BATCH = 100;

const OPEN = new Set(['active', 'acknowledged']);
/** info < warning < critical (the order of ALERT_SEVERITIES, as the repository's SQL ranks them). */
const severityRank = (severity: AlertSeverity): number => ALERT_SEVERITIES.indexOf(severity);

/**
 * Whether `row` has an escalation to announce: open, its creation announced, and more severe than
 * the severity subscribers last heard. (Before `alert.created` went out there is nothing to
 * escalate: the creation announcement carries the current severity.) Pure.
 */
export function escalationPending(row: Pick<AlertRow, 'status' | 'severity' | 'announced_at' | 'announced_severity'>): boolean {
  return OPEN.has(row.status) && row.announced_at !== null && row.announced_severity !== null && severityRank(row.severity) > severityRank(row.announced_severity);
}

export function alertEvent(kind: AnnouncementKind, row: AlertRow): WebhookEvent {
  switch (kind) {
    case 'created':
      return { id: `alert-${row.id}-created`, type: 'alert.created', timestamp: row.created_at.toISOString(), data: { alert: toAlertDto(row) } };
    case 'resolved':
      return { id: `alert-${row.id}-resolved`, type: 'alert.resolved', timestamp: (row.resolved_at ?? row.updated_at).toISOString(), data: { alert: toAlertDto(row) } };
    case 'escalated': {
      const previous: AlertSeverity | null = row.announced_severity;
      return {
        id: `alert-${row.id}-escalated-${row.severity}`,
        type: 'alert.escalated',
        timestamp: row.updated_at.toISOString(),
        data: { alert: toAlertDto(row), previous_severity: previous },
      };
    }
  }
}

/** Publishes one announcement and marks it done; returns the number of deliveries enqueued. */
export async function announceAlert(deps: AlertAnnouncerDeps, kind: AnnouncementKind, row: AlertRow): Promise<number> {
  const deliveries = await publishEvent({ knex: deps.knex, enqueue: deps.enqueue }, alertEvent(kind, row));
  await markAnnounced(deps.knex, kind, [row.id], deps.now(), kind === 'resolved' ? undefined : row.severity);
  return deliveries;
}

/** Publishes what is still pending (oldest first, bounded); stops at the first failure. */
export async function announcePending(deps: AlertAnnouncerDeps): Promise<Record<AnnouncementKind, number>> {
  const done: Record<AnnouncementKind, number> = { created: 0, escalated: 0, resolved: 0 };
  const since = new Date(deps.now().getTime() - ANNOUNCE_MAX_AGE_MS);
  for (const kind of ['created', 'escalated', 'resolved'] as const) {
    const rows = await pendingAnnouncements(deps.knex, kind, { since, limit: ANNOUNCE_BATCH });
    for (const row of rows) {
      await announceAlert(deps, kind, row);
      done[kind]++;
    }
  }
  return done;
}
