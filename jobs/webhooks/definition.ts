import { z } from 'zod';
import { webhookRetryDelayMs, type WebhookDelivery } from '../../src/domain/webhook-delivery.js';
import { DEFAULT_JOB_OPTIONS, defineQueue } from '../define.js';

/**
 * `webhooks` delivers one event to one target (DESIGN §8): POST JSON `{type, timestamp, data}`
 * signed with Standard Webhooks headers (`webhook-id` = the event id, the same on every retry;
 * `webhook-timestamp`; `webhook-signature` = `v1,<base64 HMAC-SHA256>`). The job carries no
 * secret and no URL: the processor reads the target when it delivers, so a disabled or edited
 * target is honoured by jobs already queued.
 *
 * Targets: `{kind: 'log_webhook'}` (the `settings` document behind `GET|PUT /admin/log-webhook`)
 * or `{kind: 'webhook', id}` (a `webhooks` row, `/admin/webhooks`; its secret is sealed under AAD
 * `webhooks:<id>:secret`). Producers enqueue with `webhookJobId(payload)` as jobId so a repeated
 * enqueue of the same event to the same target is a no-op.
 */

/** Event ids: the `webhook-id` header and part of the jobId (BullMQ refuses `:` in custom ids). */
export const EVENT_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** Event types: `log_webhook.threshold_exceeded`, `alert.created`, … */
export const EVENT_TYPE_PATTERN = /^[a-z][a-z0-9_.-]{0,127}$/;
/** Largest event `data` a job may carry, as JSON (bytes). */
export const MAX_EVENT_DATA_BYTES = 256 * 1_024;

export const webhookTargetSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('log_webhook') }).strict(),
  z.object({ kind: z.literal('webhook'), id: z.number().int().positive().max(Number.MAX_SAFE_INTEGER) }).strict(),
]);

export const webhookEventSchema = z
  .object({
    id: z.string().regex(EVENT_ID_PATTERN),
    type: z.string().regex(EVENT_TYPE_PATTERN),
    /** When the event happened (ISO 8601); the body's `timestamp`. Default: when the job was created. */
    timestamp: z.iso.datetime({ offset: true }).optional(),
    data: z
      .record(z.string(), z.unknown())
      .refine((data) => Buffer.byteLength(JSON.stringify(data)) <= MAX_EVENT_DATA_BYTES, { message: `At most ${MAX_EVENT_DATA_BYTES} bytes of JSON` }),
  })
  .strict();

export const webhooksPayload = z.object({ target: webhookTargetSchema, event: webhookEventSchema }).strict();

export type WebhooksPayload = z.input<typeof webhooksPayload>;

// The schema and the domain's type must not drift apart.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const payloadShapeMatches: Same<z.output<typeof webhooksPayload>, WebhookDelivery> = true;
void payloadShapeMatches;

/** Deterministic jobId of one event to one target. */
export function webhookJobId(payload: Pick<WebhooksPayload, 'target' | 'event'>): string {
  const { target, event } = payload;
  return target.kind === 'log_webhook' ? `log_webhook-${event.id}` : `webhook-${target.id}-${event.id}`;
}

/** Attempts per delivery: the first try and 7 retries. */
export const WEBHOOK_ATTEMPTS = 8;
/**
 * Default first retry delay (ms), `EZ_WEBHOOK_BACKOFF_MS`; it doubles each time: 30 s, 1, 2, 4, 8,
 * 16, 32 min — the last attempt ~64 min after the first (plus any longer `Retry-After`).
 */
export const WEBHOOK_BACKOFF_MS = 30_000;
/** The custom BullMQ backoff type of `webhooks` jobs (see `backoffStrategy` below). */
export const WEBHOOK_BACKOFF_TYPE = 'webhook';

export const webhooksQueue = defineQueue({
  name: 'webhooks',
  payload: webhooksPayload,
  defaultJobOptions: {
    ...DEFAULT_JOB_OPTIONS,
    attempts: WEBHOOK_ATTEMPTS,
    // Exponential from the worker's EZ_WEBHOOK_BACKOFF_MS, or the receiver's Retry-After when longer.
    backoff: { type: WEBHOOK_BACKOFF_TYPE, delay: WEBHOOK_BACKOFF_MS },
    // Completed deliveries are kept a day: the jobId then dedupes a repeated enqueue of the same event.
    removeOnComplete: { age: 24 * 3_600, count: 5_000 },
  },
  schedulers: [],
  // The worker computes each retry's delay: the first delay comes from its configuration (so a job
  // already queued follows the current setting), and a transient error may carry `retryAfterMs`
  // (a 429/503 with Retry-After, see WebhookDeliveryError).
  backoffStrategy: (config) => (attemptsMade, _type, err) => {
    const retryAfter = (err as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
    return webhookRetryDelayMs(attemptsMade, config.webhooks.backoffMs, typeof retryAfter === 'number' ? retryAfter : null);
  },
});
