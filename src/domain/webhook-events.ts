import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { listActiveSubscriptions } from '../db/webhooks.repository.js';
import type { WebhookDelivery, WebhookEvent } from './webhook-delivery.js';

/**
 * Fan-out of one event to every `/admin/webhooks` row subscribed to it (issue #7): one `webhooks`
 * job per matching active webhook, jobId derived from (webhook, event id), so publishing the same
 * event twice delivers once. A webhook subscribes with `events`: empty = every event, else exact
 * types (`alert.created`) or a family wildcard (`alert.*`). Disabled webhooks get nothing.
 *
 * BullMQ-free: the caller injects `enqueue`. Ready-made deps: `eventPublisher(knex, queues)` in
 * jobs/webhooks/publish.ts (api: `deps.queues`; worker: `workerWebhookQueues(ctx)`).
 */

export interface EventPublisherDeps {
  /** The database, or the caller's transaction (the subscriber list is then read inside it). */
  knex: Knex;
  /** Enqueues one delivery on the `webhooks` queue (jobId = webhookJobId(delivery)). */
  enqueue(delivery: WebhookDelivery): Promise<void>;
}

/** The ping sent by `POST /admin/webhooks/:id/test`. */
export const TEST_EVENT_TYPE = 'webhook.test';

/**
 * Every event type the system publishes (docs/webhooks.md "Event types"). Subscriptions are
 * validated by shape (`EVENT_TYPE_PATTERN` or `family.*`), not against this list, so a receiver
 * may subscribe ahead to a type a later version adds; the list documents what exists today.
 */
export const WEBHOOK_EVENT_TYPES = [
  'alert.created',
  'alert.escalated',
  'alert.resolved',
  'key.exhausted',
  'master.exhausted',
  'api_key.disabled',
  TEST_EVENT_TYPE,
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export function subscribes(events: readonly string[], type: string): boolean {
  if (events.length === 0) return true;
  return events.some((e) => e === type || e === '*' || (e.endsWith('.*') && type.startsWith(e.slice(0, -1))));
}

/** A fresh event id (`msg_` + 24 random base64url characters): the `webhook-id` of every attempt. */
export function newEventId(): string {
  return `msg_${randomBytes(18).toString('base64url')}`;
}

/**
 * An event to publish. Pass a deterministic `id` when the same happening may be published twice
 * (e.g. `alert_<id>_created`): the jobId then dedupes it. `at` defaults to now.
 */
export function webhookEvent(type: string, data: Record<string, unknown>, options: { id?: string; at?: Date } = {}): WebhookEvent {
  return { id: options.id ?? newEventId(), type, timestamp: (options.at ?? new Date()).toISOString(), data };
}

/** Enqueues the event for each subscribed active webhook; returns how many deliveries were enqueued. */
export async function publishEvent(deps: EventPublisherDeps, event: WebhookEvent): Promise<number> {
  let enqueued = 0;
  for (const row of await listActiveSubscriptions(deps.knex)) {
    if (!subscribes(row.events, event.type)) continue;
    await deps.enqueue({ target: { kind: 'webhook', id: row.id }, event });
    enqueued++;
  }
  return enqueued;
}
