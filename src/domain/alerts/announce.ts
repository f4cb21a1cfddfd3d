import type { Knex } from 'knex';
import { markAnnounced, pendingAnnouncements, type AlertRow } from '../../db/alerts.repository.js';
import type { WebhookDelivery, WebhookEvent } from '../webhook-delivery.js';
import { publishEvent } from '../webhook-events.js';
import { toAlertDto } from './dto.js';

/**
 * Announces alerts to `/admin/webhooks` subscribers (docs/alerts.md): `alert.created` for a new
 * alert, `alert.resolved` when one is resolved. Event ids are derived from the alert id
 * (`alert-<id>-created`), and the `webhooks` jobId from (webhook, event id), so publishing twice
 * delivers once. The api and the worker publish right after their commit; what they could not
 * publish (Redis down) or did not (alerts raised by the sync worker or a gateway) stays marked
 * pending in the row and the detector tick publishes it.
 */

export type AnnouncementKind = 'created' | 'resolved';

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

export function alertEvent(kind: AnnouncementKind, row: AlertRow): WebhookEvent {
  const at = kind === 'created' ? row.created_at : (row.resolved_at ?? row.updated_at);
  return { id: `alert-${row.id}-${kind}`, type: `alert.${kind}`, timestamp: at.toISOString(), data: { alert: toAlertDto(row) } };
}

/** Publishes one announcement and marks it done; returns the number of deliveries enqueued. */
export async function announceAlert(deps: AlertAnnouncerDeps, kind: AnnouncementKind, row: AlertRow): Promise<number> {
  const deliveries = await publishEvent({ knex: deps.knex, enqueue: deps.enqueue }, alertEvent(kind, row));
  await markAnnounced(deps.knex, kind, [row.id], deps.now());
  return deliveries;
}

/** Publishes what is still pending (oldest first, bounded); stops at the first failure. */
export async function announcePending(deps: AlertAnnouncerDeps): Promise<{ created: number; resolved: number }> {
  const done = { created: 0, resolved: 0 };
  const since = new Date(deps.now().getTime() - ANNOUNCE_MAX_AGE_MS);
  for (const kind of ['created', 'resolved'] as const) {
    const rows = await pendingAnnouncements(deps.knex, kind, { since, limit: ANNOUNCE_BATCH });
    for (const row of rows) {
      await announceAlert(deps, kind, row);
      done[kind]++;
    }
  }
  return done;
}
