import { createHash, randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { z } from 'zod';
import { insertAuditEvent } from '../db/audit.repository.js';
import { countOffendingLogs, newestOffendingLogs, type OffendingFilter, type OffendingLogRow } from '../db/log-webhook.repository.js';
import { getSetting, lockSetting, putSetting, type SettingRow } from '../db/settings.repository.js';
import { ValidationError, type FieldError } from '../lib/errors.js';
import { SecretBox } from '../lib/secret-box.js';
import {
  compileMessageRegex,
  detectionWindow,
  evaluateLogWebhookRule,
  inCooldown,
  isOffending,
  messageMatcher,
  type LogWebhookRule,
  type MessageMatchType,
} from './log-webhook-rule.js';
import type { WebhookDelivery } from './webhook-delivery.js';
import { secretProblem } from './webhook-signature.js';
import { checkWebhookUrl, urlOrigin } from './webhook-url.js';
import { auditEvent, write, type WriteContext, type WriteDeps } from './write-context.js';

/**
 * The log webhook (`GET|PUT /admin/log-webhook`, DESIGN §7): one admin-configured receiver told
 * when request errors cross a threshold. Stored in `settings`:
 * - `log_webhook`: the configuration; the signing secret sealed with SecretBox under AAD
 *   `settings:log_webhook:secret` (never returned: GET shows `secret_set`);
 * - `log_webhook_state`: what the detector last fired (`last_fired_at`, `last_event_id`, a firing
 *   counter), written only by the detector, in the transaction that enqueues the delivery.
 * The detector (`log-webhook` queue, every 30 s) evaluates the pure rule of log-webhook-rule.ts
 * over a bounded read of `request_logs`; deliveries go through the `webhooks` queue.
 */

export const LOG_WEBHOOK_SETTING = 'log_webhook';
export const LOG_WEBHOOK_STATE_SETTING = 'log_webhook_state';
export const LOG_WEBHOOK_SECRET_AAD = SecretBox.aad('settings', LOG_WEBHOOK_SETTING, 'secret');
export const LOG_WEBHOOK_EVENT_TYPE = 'log_webhook.threshold_exceeded';

export const LIMITS = {
  errorCountThreshold: { min: 1, max: 1_000_000 },
  windowSeconds: { min: 10, max: 86_400 },
  statusCodeThreshold: { min: 400, max: 599 },
  cooldownSeconds: { min: 60, max: 604_800 },
  errorMessageMatchLength: 256,
} as const;

export const DEFAULT_RULE: LogWebhookRule = {
  error_count_threshold: 10,
  window_seconds: 300,
  status_code_threshold: 500,
  error_message_match: null,
  error_message_match_type: 'substring',
  cooldown_seconds: 900,
};

/** Offending records listed in a delivery. */
export const SAMPLE_SIZE = 10;
/** The window's count stops here (the threshold cannot be higher). */
export const COUNT_CAP = LIMITS.errorCountThreshold.max;
/** With a regex match, the newest this many error rows of the window are matched in the worker. */
export const REGEX_SCAN_CAP = 10_000;
/** Longest a detector query may run (PostgreSQL statement_timeout inside its transaction). */
const DETECTOR_STATEMENT_TIMEOUT = '20s';

const sealedSchema = z.object({ ciphertext: z.string(), nonce: z.string(), key_version: z.number().int() });

const storedSchema = z.object({
  enabled: z.boolean(),
  url: z.string(),
  secret: sealedSchema.nullable(),
  error_count_threshold: z.number().int(),
  window_seconds: z.number().int(),
  status_code_threshold: z.number().int(),
  error_message_match: z.string().nullable(),
  error_message_match_type: z.enum(['substring', 'regex']),
  cooldown_seconds: z.number().int(),
  disabled_reason: z.string().nullable().default(null),
});
type StoredLogWebhook = z.output<typeof storedSchema>;

const stateSchema = z.object({
  series: z.string(),
  fired_count: z.number().int().nonnegative(),
  last_fired_at: z.string().nullable(),
  last_event_id: z.string().nullable(),
  last_count: z.number().int().nullable().default(null),
});
type LogWebhookState = z.output<typeof stateSchema>;

export interface LogWebhookDto extends LogWebhookRule {
  /** False until the first PUT. */
  configured: boolean;
  enabled: boolean;
  url: string | null;
  /** Whether a signing secret is stored (the secret itself is never returned). */
  secret_set: boolean;
  /** Why the webhook was disabled by the system (e.g. the receiver answered 410), if it was. */
  disabled_reason: string | null;
  last_fired_at: string | null;
  last_event_id: string | null;
  updated_at: string | null;
  updated_by: string | null;
}

export interface LogWebhookInput extends LogWebhookRule {
  enabled: boolean;
  url: string;
  /** Write-only; kept when left out. `whsec_<base64>` or a raw secret (src/domain/webhook-signature.ts). */
  secret?: string | undefined;
}

const parseStored = (value: unknown): StoredLogWebhook | undefined => {
  const parsed = storedSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
};
const parseState = (value: unknown): LogWebhookState | undefined => {
  const parsed = stateSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
};

function ruleOf(stored: StoredLogWebhook): LogWebhookRule {
  return {
    error_count_threshold: stored.error_count_threshold,
    window_seconds: stored.window_seconds,
    status_code_threshold: stored.status_code_threshold,
    error_message_match: stored.error_message_match,
    error_message_match_type: stored.error_message_match_type,
    cooldown_seconds: stored.cooldown_seconds,
  };
}

function toDto(row: SettingRow | undefined, stored: StoredLogWebhook | undefined, state: LogWebhookState | undefined): LogWebhookDto {
  return {
    configured: stored !== undefined,
    enabled: stored?.enabled ?? false,
    url: stored?.url ?? null,
    secret_set: Boolean(stored?.secret),
    ...(stored ? ruleOf(stored) : DEFAULT_RULE),
    disabled_reason: stored?.disabled_reason ?? null,
    last_fired_at: state?.last_fired_at ?? null,
    last_event_id: state?.last_event_id ?? null,
    updated_at: stored && row ? row.updated_at.toISOString() : null,
    updated_by: stored && row ? row.updated_by : null,
  };
}

export async function getLogWebhook(knex: Knex): Promise<LogWebhookDto> {
  const [row, stateRow] = await Promise.all([getSetting<unknown>(knex, LOG_WEBHOOK_SETTING), getSetting<unknown>(knex, LOG_WEBHOOK_STATE_SETTING)]);
  return toDto(row, parseStored(row?.value), parseState(stateRow?.value));
}

/** Field errors the schema cannot see: the URL policy, the secret's form, a regex's safety. */
function inputErrors(input: LogWebhookInput, hasStoredSecret: boolean): FieldError[] {
  const details: FieldError[] = [];
  const url = checkWebhookUrl(input.url);
  if (!url.ok) details.push({ field: 'body.url', message: url.reason });
  if (input.secret !== undefined) {
    const problem = secretProblem(input.secret);
    if (problem) details.push({ field: 'body.secret', message: problem });
  } else if (!hasStoredSecret) {
    details.push({ field: 'body.secret', message: 'Required: no signing secret is set yet' });
  }
  if (input.error_message_match !== null && input.error_message_match_type === 'regex' && !compileMessageRegex(input.error_message_match)) {
    details.push({ field: 'body.error_message_match', message: 'Not a valid or safe regular expression (no nested quantifiers, at most 256 characters)' });
  }
  return details;
}

/** Replaces the configuration; the secret is kept when left out. Audited (`log_webhook.update`, no secret). */
export async function updateLogWebhook(deps: WriteDeps, ctx: WriteContext, box: SecretBox, input: LogWebhookInput): Promise<LogWebhookDto> {
  return write(deps, ctx, async (unit) => {
    await lockSetting(unit.trx, LOG_WEBHOOK_SETTING);
    const current = parseStored((await getSetting<unknown>(unit.trx, LOG_WEBHOOK_SETTING, { forUpdate: true }))?.value);
    const details = inputErrors(input, Boolean(current?.secret));
    if (details.length > 0) throw new ValidationError('Request validation failed', details);
    const url = checkWebhookUrl(input.url);
    if (!url.ok) throw new ValidationError('Request validation failed', [{ field: 'body.url', message: url.reason }]);
    let secret = current?.secret ?? null;
    if (input.secret !== undefined) {
      const sealed = box.seal(input.secret, LOG_WEBHOOK_SECRET_AAD);
      secret = { ciphertext: sealed.ciphertext.toString('base64'), nonce: sealed.nonce.toString('base64'), key_version: sealed.keyVersion };
    }
    const match = input.error_message_match === '' ? null : input.error_message_match;
    const next: StoredLogWebhook = {
      enabled: input.enabled,
      url: url.url,
      secret,
      error_count_threshold: input.error_count_threshold,
      window_seconds: input.window_seconds,
      status_code_threshold: input.status_code_threshold,
      error_message_match: match,
      error_message_match_type: input.error_message_match_type,
      cooldown_seconds: input.cooldown_seconds,
      // An admin re-enabling (or editing) clears what the system noted when it disabled the webhook.
      disabled_reason: input.enabled ? null : (current?.disabled_reason ?? null),
    };
    const row = await putSetting(unit.trx, LOG_WEBHOOK_SETTING, next, `${ctx.actor.type}:${ctx.actor.id}`);
    await unit.audit('log_webhook.update', { type: 'log_webhook', id: null }, {
      enabled: next.enabled,
      // Paths and queries of webhook URLs often hold tokens (Slack, Teams…): only the origin.
      url_origin: urlOrigin(next.url),
      ...ruleOf(next),
      secret_changed: input.secret !== undefined,
    });
    const state = parseState((await getSetting<unknown>(unit.trx, LOG_WEBHOOK_STATE_SETTING))?.value);
    return toDto(row, next, state);
  });
}

export type LogWebhookTarget =
  | { state: 'ok'; url: string; secret: string }
  | { state: 'not_configured' }
  | { state: 'disabled' }
  | { state: 'undecryptable' };

/** Where and with what the `webhooks` queue delivers a log webhook event, read at delivery time. */
export async function getLogWebhookTarget(knex: Knex, box: SecretBox): Promise<LogWebhookTarget> {
  const stored = parseStored((await getSetting<unknown>(knex, LOG_WEBHOOK_SETTING))?.value);
  if (!stored || !stored.secret) return { state: 'not_configured' };
  if (!stored.enabled) return { state: 'disabled' };
  try {
    const secret = box.open(
      { ciphertext: Buffer.from(stored.secret.ciphertext, 'base64'), nonce: Buffer.from(stored.secret.nonce, 'base64'), keyVersion: stored.secret.key_version },
      LOG_WEBHOOK_SECRET_AAD,
    );
    return { state: 'ok', url: stored.url, secret };
  } catch {
    return { state: 'undecryptable' };
  }
}

/**
 * The receiver answered 410 Gone: disable the log webhook, unless an admin pointed it elsewhere
 * meanwhile (then the 410 is about the old URL). Audited as `log_webhook.disable` by the system.
 * True when it was disabled.
 */
export async function disableLogWebhookAfterGone(knex: Knex, url: string, reason: string): Promise<boolean> {
  return knex.transaction(async (trx) => {
    await lockSetting(trx, LOG_WEBHOOK_SETTING);
    const stored = parseStored((await getSetting<unknown>(trx, LOG_WEBHOOK_SETTING, { forUpdate: true }))?.value);
    if (!stored || !stored.enabled || stored.url !== url) return false;
    await putSetting(trx, LOG_WEBHOOK_SETTING, { ...stored, enabled: false, disabled_reason: reason }, 'system:webhooks');
    await insertAuditEvent(
      trx,
      auditEvent({ actor: { type: 'system', id: 'webhooks' } }, 'log_webhook.disable', { type: 'log_webhook', id: null }, { reason, url_origin: urlOrigin(url) }),
    );
    return true;
  });
}

// --- the detector ---------------------------------------------------------------------------

export interface DetectorDeps {
  knex: Knex;
  now(): Date;
  /** Adds the delivery to the `webhooks` queue; runs inside the detector's transaction (a failure rolls it back). */
  enqueue(delivery: WebhookDelivery): Promise<void>;
}

export type DetectorResult =
  | { fired: false; reason: 'not_configured' | 'disabled' | 'cooldown' | 'below_threshold'; count?: number }
  | { fired: true; event_id: string; count: number };

/** One sample record as the webhook shows it. */
export interface SampleRecord {
  request_id: string;
  created_at: string;
  status_code: number;
  error_code: string | null;
  error_message: string | null;
  model: string | null;
  master_id: number | null;
  key_id: number | null;
}

interface WindowAggregate {
  count: number;
  /** True when counting stopped at a cap (the real count is at least `count`). */
  capped: boolean;
  sample: OffendingLogRow[];
}

/**
 * Counts the window's offending records. Substring matches and plain status thresholds are
 * counted in SQL (up to COUNT_CAP); a regex is applied here to the newest REGEX_SCAN_CAP error
 * rows of the window (their first 1,000 message characters). `withSample` also reads the sample.
 */
async function windowAggregate(trx: Knex.Transaction, rule: LogWebhookRule, now: Date, withSample: boolean): Promise<WindowAggregate> {
  const { since, until } = detectionWindow(rule, now);
  const base: OffendingFilter = { since, until, statusCodeThreshold: rule.status_code_threshold };
  if (rule.error_message_match !== null && rule.error_message_match_type === 'regex') {
    const matches = messageMatcher(rule);
    const scanned = await newestOffendingLogs(trx, base, REGEX_SCAN_CAP);
    const hits = scanned.filter((row) => isOffending(row, rule, matches));
    return { count: hits.length, capped: scanned.length === REGEX_SCAN_CAP, sample: hits.slice(0, SAMPLE_SIZE) };
  }
  const filter: OffendingFilter = { ...base, substring: rule.error_message_match === null ? undefined : rule.error_message_match.toLowerCase() };
  const count = await countOffendingLogs(trx, filter, COUNT_CAP);
  const sample = withSample && count >= rule.error_count_threshold ? await newestOffendingLogs(trx, filter, SAMPLE_SIZE) : [];
  return { count, capped: count >= COUNT_CAP, sample };
}

/** `msg_…`: deterministic per (series, firing number), so a replayed enqueue dedupes on the jobId. */
export function logWebhookEventId(series: string, firing: number): string {
  return `msg_${createHash('sha256').update(`log_webhook:${series}:${firing}`).digest('base64url').slice(0, 27)}`;
}

const toSample = (row: OffendingLogRow): SampleRecord => ({
  request_id: row.request_id,
  created_at: row.created_at.toISOString(),
  status_code: row.status_code,
  error_code: row.error_code,
  error_message: row.error_message,
  model: row.model,
  master_id: row.master_id,
  key_id: row.key_id,
});

/**
 * One detector tick: under the log webhook's lock, read the configuration and the last firing,
 * skip inside the cooldown, count the window, decide with the pure rule and, when it fires, record
 * the firing in `log_webhook_state` and enqueue the delivery in the same transaction (the enqueue
 * is its last step: if it fails nothing is recorded and the next tick tries again; the event id is
 * derived from the firing number, so an enqueue whose commit was lost is deduped by its jobId).
 */
export async function runLogWebhookDetector(deps: DetectorDeps): Promise<DetectorResult> {
  return deps.knex.transaction(async (trx) => {
    await trx.raw(`set local statement_timeout = '${DETECTOR_STATEMENT_TIMEOUT}'`);
    await lockSetting(trx, LOG_WEBHOOK_SETTING);
    const stored = parseStored((await getSetting<unknown>(trx, LOG_WEBHOOK_SETTING))?.value);
    if (!stored || !stored.secret) return { fired: false, reason: 'not_configured' } as const;
    if (!stored.enabled) return { fired: false, reason: 'disabled' } as const;
    const rule = ruleOf(stored);
    const now = deps.now();
    const state = parseState((await getSetting<unknown>(trx, LOG_WEBHOOK_STATE_SETTING, { forUpdate: true }))?.value);
    const lastFiredAt = state?.last_fired_at ? new Date(state.last_fired_at) : null;
    // Inside the cooldown nothing can fire: do not even read the logs.
    if (inCooldown(lastFiredAt, rule.cooldown_seconds, now)) return { fired: false, reason: 'cooldown' } as const;

    const aggregate = await windowAggregate(trx, rule, now, true);
    const decision = evaluateLogWebhookRule({ enabled: stored.enabled, rule, count: aggregate.count, lastFiredAt, now });
    if (!decision.fire) return { fired: false, reason: decision.reason, count: aggregate.count };

    const series = state?.series ?? randomUUID();
    const firing = (state?.fired_count ?? 0) + 1;
    const eventId = logWebhookEventId(series, firing);
    const next: LogWebhookState = { series, fired_count: firing, last_fired_at: now.toISOString(), last_event_id: eventId, last_count: aggregate.count };
    await putSetting(trx, LOG_WEBHOOK_STATE_SETTING, next, 'system:log-webhook');
    const { since, until } = detectionWindow(rule, now);
    await deps.enqueue({
      target: { kind: 'log_webhook' },
      event: {
        id: eventId,
        type: LOG_WEBHOOK_EVENT_TYPE,
        timestamp: now.toISOString(),
        data: {
          count: aggregate.count,
          count_capped: aggregate.capped,
          threshold: rule.error_count_threshold,
          window_seconds: rule.window_seconds,
          window_start: since.toISOString(),
          window_end: until.toISOString(),
          status_code_threshold: rule.status_code_threshold,
          error_message_match: rule.error_message_match,
          error_message_match_type: rule.error_message_match_type,
          cooldown_seconds: rule.cooldown_seconds,
          sample: aggregate.sample.map(toSample),
        },
      },
    });
    return { fired: true, event_id: eventId, count: aggregate.count } as const;
  });
}

export type { MessageMatchType };
