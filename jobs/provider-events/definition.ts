import { createHash } from 'node:crypto';
import { z } from 'zod';
import { DEFAULT_JOB_OPTIONS, defineQueue } from '../define.js';

/**
 * `provider-events`: what a gateway learns about upstream keys (DESIGN §8), persisted by the
 * worker and re-synced to every gateway through the outbox. The gateway reports by enqueueing,
 * never by calling the api. Every event carries `at`, the instant the gateway observed it: the
 * worker applies an api-key event only if nothing newer (an admin write, a later event) has
 * touched the key since, so a late or replayed event cannot undo a newer decision.
 */

const apiKeyId = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const instant = z.iso.datetime({ offset: true });

/** The gateway banned an upstream key (auth failure, quota, repeated errors). */
export const autoBanEvent = z
  .object({
    type: z.literal('auto_ban'),
    api_key_id: apiKeyId,
    /** Why, for the admin (no secrets, no upstream bodies). */
    reason: z.string().min(1).max(500),
    /** When the ban ends; null = until an admin lifts it. */
    until: instant.nullable(),
    /** Upstream status that caused it (0 = no response). */
    status_code: z.number().int().min(0).max(999),
    at: instant,
  })
  .strict();

/** The gateway saw a banned key recover (its ban expired and a probe succeeded). */
export const unbanEvent = z.object({ type: z.literal('unban'), api_key_id: apiKeyId, at: instant }).strict();

/** An OAuth key's access token was refused (401): recorded; the token-refresh queue renews it. */
export const oauthUnauthorizedEvent = z.object({ type: z.literal('oauth_unauthorized'), api_key_id: apiKeyId, at: instant }).strict();

/** An alert the gateway raises (deduplicated by fingerprint, like POST /internal/alerts/report). */
export const alertEvent = z
  .object({
    type: z.literal('alert'),
    alert_type: z.string().regex(/^[a-z][a-z0-9_]{0,63}$/),
    severity: z.enum(['info', 'warning', 'critical']),
    title: z.string().min(1).max(200),
    message: z.string().max(4_000).default(''),
    fingerprint: z.string().min(1).max(200),
    related_type: z.string().max(64).optional(),
    related_id: z.string().max(64).optional(),
    metadata: z.record(z.string(), z.union([z.string().max(1_000), z.number(), z.boolean(), z.null()])).optional(),
    at: instant,
  })
  .strict();

/**
 * A child key's or master's lifetime quota ran out at the gateway (issue #6): the worker records
 * `spent` into `quota_used` (never lowering it) and, for a key, sets `status = exhausted` through
 * the outbox. Sent at most about once a minute per subject by each gateway.
 */
export const quotaExhaustedEvent = z
  .object({
    type: z.literal('quota_exhausted'),
    subject: z.enum(['key', 'master']),
    id: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
    /** Live spend counter when refused, µ$. */
    spent_micros: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    at: instant,
  })
  .strict();

/** Scheduler tick (not sent by gateways): lifts auto-bans whose `until` has passed. */
export const banExpirySweep = z.object({ type: z.literal('ban_expiry_sweep') }).strict();

export const providerEventPayload = z.discriminatedUnion('type', [autoBanEvent, unbanEvent, oauthUnauthorizedEvent, alertEvent, quotaExhaustedEvent, banExpirySweep]);

export type ProviderEventPayload = z.input<typeof providerEventPayload>;
export type ProviderEvent = z.output<typeof providerEventPayload>;

export const providerEventsQueue = defineQueue({
  name: 'provider-events',
  payload: providerEventPayload,
  defaultJobOptions: { ...DEFAULT_JOB_OPTIONS, attempts: 10 },
  // The gateway routes only `active` keys, so a timed auto-ban must be lifted in PostgreSQL (and
  // re-synced) once it ends. Every 30 s: a ban outlasts its `until` by at most ~30 s + one sync.
  schedulers: [{ id: 'provider-events:ban-expiry', repeat: { every: 30_000 }, data: { type: 'ban_expiry_sweep' as const } }],
});

/**
 * Deterministic jobId: the same observation enqueued twice (a producer retry) is one job while
 * Redis still knows it. BullMQ refuses `:` in custom ids.
 */
export function providerEventJobId(event: Exclude<ProviderEventPayload, { type: 'ban_expiry_sweep' }>): string {
  const subject = event.type === 'alert' ? event.fingerprint : event.type === 'quota_exhausted' ? `${event.subject}-${event.id}` : String(event.api_key_id);
  const digest = createHash('sha256').update(`${event.type}\u0000${subject}\u0000${event.at}`).digest('base64url').slice(0, 24);
  return `pe-${event.type}-${digest}`;
}
