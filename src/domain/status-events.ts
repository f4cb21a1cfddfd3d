import type { Knex } from 'knex';
import type { WebhookDelivery, WebhookEvent } from './webhook-delivery.js';
import { publishEvent } from './webhook-events.js';

/**
 * Webhook events for status changes the control plane makes on its own (docs/webhooks.md "Event
 * types"): a child key or a master running out of its lifetime quota (`key.exhausted`,
 * `master.exhausted`), an upstream api key auto-banned or disabled after a refused OAuth refresh
 * (`api_key.disabled`). Producers publish only when the status actually changed.
 *
 * Event ids are derived from (subject, instant of the change), so a job that is retried publishes
 * the same id (one delivery per webhook) while a later, separate change is a new event. Producers
 * publish inside their write transaction, as its last step: a failed enqueue rolls the change
 * back and the job retries it, so a change is never committed without its event queued.
 */

/** What a producer needs to publish; left out, nothing is published (e.g. tests of the write alone). */
export interface StatusEventPublisher {
  /** Enqueues one delivery on the `webhooks` queue (jobId = webhookJobId(delivery)). */
  enqueue(delivery: WebhookDelivery): Promise<void>;
}

const MICROS_PER_USD = 1_000_000;
/** µ$ → USD; a negative limit (-1 = unlimited) is null. */
const usd = (micros: number): number | null => (micros < 0 ? null : micros / MICROS_PER_USD);
const instant = (at: Date | string): Date => (typeof at === 'string' ? new Date(at) : at);

export interface QuotaExhaustion {
  /** µ$ used when the quota ran out (the recorded `quota_used`). */
  quota_used: number;
  /** µ$ (-1 = unlimited). */
  quota_limit: number;
  /** When the gateway observed it. */
  at: Date | string;
}

export function keyExhaustedEvent(key: { id: number; master_id: number }, quota: QuotaExhaustion): WebhookEvent {
  const at = instant(quota.at);
  return {
    id: `key-${key.id}-exhausted-${at.getTime()}`,
    type: 'key.exhausted',
    timestamp: at.toISOString(),
    data: { key_id: key.id, master_id: key.master_id, spent_usd: usd(quota.quota_used), quota_limit_usd: usd(quota.quota_limit), at: at.toISOString() },
  };
}

export function masterExhaustedEvent(masterId: number, quota: QuotaExhaustion): WebhookEvent {
  const at = instant(quota.at);
  return {
    id: `master-${masterId}-exhausted-${at.getTime()}`,
    type: 'master.exhausted',
    timestamp: at.toISOString(),
    data: { master_id: masterId, spent_usd: usd(quota.quota_used), quota_limit_usd: usd(quota.quota_limit), at: at.toISOString() },
  };
}

export interface ApiKeyDisabling {
  api_key_id: number;
  provider_group_id: number;
  /** The key's `ban_reason` (no secrets, no upstream bodies). */
  reason: string;
  /** What disabled it. */
  source: 'auto_ban' | 'oauth_refresh';
  /** When the ban ends; null = until an admin acts. */
  until: Date | null;
  at: Date | string;
}

export function apiKeyDisabledEvent(change: ApiKeyDisabling): WebhookEvent {
  const at = instant(change.at);
  return {
    id: `api_key-${change.api_key_id}-disabled-${at.getTime()}`,
    type: 'api_key.disabled',
    timestamp: at.toISOString(),
    data: {
      api_key_id: change.api_key_id,
      provider_group_id: change.provider_group_id,
      reason: change.reason,
      source: change.source,
      until: change.until?.toISOString() ?? null,
      at: at.toISOString(),
    },
  };
}

/**
 * Publishes a status event to every subscribed active webhook, reading the subscribers inside the
 * caller's transaction. Returns the deliveries enqueued (0 without a publisher).
 */
export async function publishStatusEvent(trx: Knex, publisher: StatusEventPublisher | undefined, event: WebhookEvent): Promise<number> {
  if (!publisher) return 0;
  return publishEvent({ knex: trx, enqueue: publisher.enqueue }, event);
}
