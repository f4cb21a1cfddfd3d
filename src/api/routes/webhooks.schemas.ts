import { z } from 'zod';
import { EVENT_TYPE_PATTERN } from '../../../jobs/webhooks/definition.js';
import { WEBHOOK_EVENT_TYPES } from '../../domain/webhook-events.js';
import { MAX_WEBHOOK_URL_LENGTH } from '../../domain/webhook-url.js';
import { idParamsSchema, paginationQueryShape, paginationSchema } from './models.schemas.js';

/** Schemas of `/admin/webhooks`. */

/** Most event patterns one webhook may subscribe to. */
export const MAX_EVENTS = 50;

/** `alert.*`: every type starting with `alert.`. */
const FAMILY_WILDCARD = /^[a-z][a-z0-9_.-]{0,125}\.\*$/;

const eventPattern = z
  .string()
  .refine((e) => EVENT_TYPE_PATTERN.test(e) || FAMILY_WILDCARD.test(e), {
    message: 'An event type (lower-case, e.g. `alert.created`) or a family wildcard (`alert.*`); use [] for every event',
  });

const events = z
  .array(eventPattern)
  .max(MAX_EVENTS)
  .transform((list) => [...new Set(list)])
  .meta({
    description: `Subscribed event types: [] = every event; exact types (\`alert.created\`) or family wildcards (\`alert.*\`). Published today: ${WEBHOOK_EVENT_TYPES.map((t) => `\`${t}\``).join(', ')}`,
    example: ['alert.*', 'key.exhausted'],
  });

const url = z.string().max(MAX_WEBHOOK_URL_LENGTH).meta({
  description: 'Receiver: http(s), no credentials, no fragment; never a cloud metadata address. Loopback and private addresses are allowed.',
  example: 'https://hooks.example.com/ez-api',
});

const description = z.string().max(1_000).meta({ description: 'Free text (at most 1000 characters)' });

const secret = z
  .string()
  .max(512)
  .meta({ description: 'Signing secret `whsec_<base64>` (16–64 key bytes; 32 recommended). Generated when left out.', example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' });

export const webhookIdParamsSchema = idParamsSchema;

export const createWebhookSchema = z
  .object({ url, description: description.default(''), events: events.default([]), secret: secret.optional() })
  .strict()
  .meta({ id: 'WebhookCreate' });

export const updateWebhookSchema = z
  .object({
    url: url.optional(),
    description: description.optional(),
    events: events.optional(),
    status: z.enum(['active', 'disabled']).optional().meta({ description: 'Changing it (e.g. re-enabling after a 410) clears `disabled_reason`' }),
  })
  .strict()
  .meta({ id: 'WebhookUpdate' });

export const rotateSecretSchema = z
  .object({ secret: secret.optional() })
  .strict()
  .optional()
  .meta({ id: 'WebhookRotateSecret', description: 'Optional body: the new secret; generated when left out' });

export const listWebhooksQuerySchema = z
  .object({ status: z.enum(['active', 'disabled']).optional(), ...paginationQueryShape })
  .strict();

export const listDeliveriesQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(200).default(50).meta({ description: 'Page size (1–200)' }),
    before: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional().meta({ description: '`next_before` of the previous page' }),
  })
  .strict();

export const webhookSchema = z
  .object({
    id: z.number().int(),
    url: z.string(),
    description: z.string(),
    events: z.array(z.string()),
    status: z.enum(['active', 'disabled']),
    disabled_reason: z.string().nullable().meta({ description: 'Why the system disabled it (e.g. the receiver answered 410 Gone)' }),
    secret: z.string().meta({ description: 'The whole signing secret in the answers of create and rotate-secret (shown once); `whsec_…last4` everywhere else' }),
    created_at: z.string().meta({ format: 'date-time' }),
    updated_at: z.string().meta({ format: 'date-time' }),
  })
  .meta({ id: 'Webhook' });

export const webhookListSchema = z.object({ data: z.array(webhookSchema), pagination: paginationSchema }).meta({ id: 'WebhookList' });

export const testEventSchema = z
  .object({ event_id: z.string().meta({ description: 'The `webhook-id` of the ping' }), type: z.literal('webhook.test') })
  .meta({ id: 'WebhookTestEvent' });

export const deliverySchema = z
  .object({
    id: z.number().int(),
    event_id: z.string().meta({ description: 'The `webhook-id`: the same on every attempt of one event' }),
    event_type: z.string(),
    attempt: z.number().int().meta({ description: '1 for the first attempt' }),
    status_code: z.number().int().nullable().meta({ description: 'Null when no HTTP answer arrived (connect error, timeout)' }),
    error: z.string().nullable(),
    duration_ms: z.number().int(),
    created_at: z.string().meta({ format: 'date-time' }),
  })
  .meta({ id: 'WebhookDelivery' });

export const deliveryListSchema = z
  .object({
    data: z.array(deliverySchema),
    next_before: z.number().int().nullable().meta({ description: 'Pass as `before` for the next page; null on the last page' }),
  })
  .meta({ id: 'WebhookDeliveryList' });
