import type { Knex } from 'knex';
import type { WebhookDelivery, WebhookEvent } from './webhook-delivery.js';

/**
 * Fan-out of one event to every `/admin/webhooks` row subscribed to it (issue #7): one `webhooks`
 * job per matching active webhook, jobId derived from (webhook, event id), so publishing the same
 * event twice delivers once. A webhook subscribes with `events`: empty = every event, else exact
 * types (`alert.created`) or a family wildcard (`alert.*`).
 */

export interface EventPublisherDeps {
  knex: Knex;
  /** Enqueues one delivery on the `webhooks` queue (jobId = webhookJobId(delivery)). */
  enqueue(delivery: WebhookDelivery): Promise<void>;
}

export function subscribes(events: readonly string[], type: string): boolean {
  if (events.length === 0) return true;
  return events.some((e) => e === type || e === '*' || (e.endsWith('.*') && type.startsWith(e.slice(0, -1))));
}

/** Enqueues the event for each subscribed active webhook; returns how many deliveries were enqueued. */
export async function publishEvent(deps: EventPublisherDeps, event: WebhookEvent): Promise<number> {
  const rows = (await deps.knex('webhooks').select('id', 'events').where('status', 'active').orderBy('id')) as Array<{ id: string | number; events: string[] }>;
  let enqueued = 0;
  for (const row of rows) {
    if (!subscribes(row.events ?? [], event.type)) continue;
    await deps.enqueue({ target: { kind: 'webhook', id: Number(row.id) }, event });
    enqueued++;
  }
  return enqueued;
}
