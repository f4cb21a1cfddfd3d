import { z } from 'zod';
import { DEFAULT_RULE, LIMITS } from '../../domain/log-webhook.service.js';
import { MAX_WEBHOOK_URL_LENGTH } from '../../domain/webhook-url.js';

/** Schemas of `GET|PUT /admin/log-webhook`. */

const int = (min: number, max: number) => z.number().int().min(min).max(max);

export const updateLogWebhookSchema = z
  .object({
    enabled: z.boolean(),
    url: z.string().max(MAX_WEBHOOK_URL_LENGTH).meta({
      description: 'Receiver: http(s), no credentials, no fragment; never a cloud metadata address. Loopback and private addresses are allowed.',
      example: 'https://hooks.example.com/ez-api',
    }),
    secret: z.string().max(512).optional().meta({
      description:
        'Write-only signing secret: `whsec_<base64>` (Standard Webhooks; the key is the decoded bytes) or a raw string of 16–256 characters (the key is its UTF-8 bytes). Required on the first PUT; kept when left out.',
    }),
    error_count_threshold: int(LIMITS.errorCountThreshold.min, LIMITS.errorCountThreshold.max).meta({ description: 'Fire when at least this many offending requests fall in the window' }),
    window_seconds: int(LIMITS.windowSeconds.min, LIMITS.windowSeconds.max).meta({ description: 'The window counted, ending now (seconds)' }),
    status_code_threshold: int(LIMITS.statusCodeThreshold.min, LIMITS.statusCodeThreshold.max)
      .default(DEFAULT_RULE.status_code_threshold)
      .meta({ description: 'A request is offending when its status code is at least this (default 500)' }),
    error_message_match: z
      .string()
      .max(LIMITS.errorMessageMatchLength)
      .nullable()
      .default(null)
      .meta({ description: 'Also require the error message to match (case-insensitive); null: any message' }),
    error_message_match_type: z.enum(['substring', 'regex']).default('substring').meta({ description: '`substring` (default) or a safe JavaScript `regex`' }),
    cooldown_seconds: int(LIMITS.cooldownSeconds.min, LIMITS.cooldownSeconds.max)
      .default(DEFAULT_RULE.cooldown_seconds)
      .meta({ description: 'After firing, stay quiet this long (default 900)' }),
  })
  .strict()
  .meta({ id: 'LogWebhookUpdate' });

export const logWebhookSchema = z
  .object({
    configured: z.boolean(),
    enabled: z.boolean(),
    url: z.string().nullable(),
    secret_set: z.boolean().meta({ description: 'Whether a signing secret is stored; the secret is never returned' }),
    error_count_threshold: z.number().int(),
    window_seconds: z.number().int(),
    status_code_threshold: z.number().int(),
    error_message_match: z.string().nullable(),
    error_message_match_type: z.enum(['substring', 'regex']),
    cooldown_seconds: z.number().int(),
    disabled_reason: z.string().nullable().meta({ description: 'Why the system disabled it (e.g. the receiver answered 410 Gone)' }),
    last_fired_at: z.string().nullable().meta({ format: 'date-time' }),
    last_event_id: z.string().nullable().meta({ description: 'The `webhook-id` of the last delivery' }),
    updated_at: z.string().nullable().meta({ format: 'date-time' }),
    updated_by: z.string().nullable(),
  })
  .meta({ id: 'LogWebhook' });
