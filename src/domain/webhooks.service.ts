import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { listDeliveriesOfWebhook } from '../db/webhook-deliveries.repository.js';
import {
  backfillSecretLast4,
  deleteWebhook,
  findWebhook,
  insertWebhook,
  listWebhooks,
  nextWebhookId,
  updateWebhook,
  type SealedColumns,
  type WebhookChanges,
  type WebhookRow,
} from '../db/webhooks.repository.js';
import { ConflictError, NotFoundError, ValidationError } from '../lib/errors.js';
import { SecretBox } from '../lib/secret-box.js';
import type { WebhookDelivery } from './webhook-delivery.js';
import { TEST_EVENT_TYPE, webhookEvent } from './webhook-events.js';
import { secretProblem, WHSEC_PREFIX } from './webhook-signature.js';
import { checkWebhookUrl, urlOrigin } from './webhook-url.js';
import { write, type WriteContext, type WriteDeps } from './write-context.js';

/**
 * Outgoing webhooks (`/admin/webhooks`, issue #7). A row is a receiver URL, the event types it
 * subscribes to (empty = all, exact types, or `family.*`) and a Standard Webhooks signing secret
 * (`whsec_<base64>`), sealed with SecretBox under AAD `webhooks:<id>:secret` — the AAD the delivery
 * worker opens it with. The secret is returned in full once, by create and rotate-secret; every
 * other answer shows it masked (`whsec_…last4`) from `secret_last4`, stored at write time, so
 * reads never decrypt (rows written before that column existed are decrypted once and backfilled). Every write is audited without the secret (and
 * with only the URL's origin: paths and queries of webhook URLs often hold tokens). Nothing here is
 * synced to Redis: only the worker reads webhooks.
 */

export const secretAad = (id: number): string => SecretBox.aad('webhooks', id, 'secret');

/** Key bytes of a generated secret (Standard Webhooks asks for 24–64). */
const GENERATED_SECRET_BYTES = 32;

export interface WebhookDto {
  id: number;
  url: string;
  description: string;
  events: string[];
  status: 'active' | 'disabled';
  disabled_reason: string | null;
  /** `whsec_…last4`, except in the answers of create and rotate-secret, which carry the whole secret once. */
  secret: string;
  created_at: string;
  updated_at: string;
}

export interface WebhookInput {
  url: string;
  description: string;
  events: string[];
  /** `whsec_<base64>`; generated when left out. */
  secret?: string | undefined;
}

export interface WebhookPatch {
  url?: string | undefined;
  description?: string | undefined;
  events?: string[] | undefined;
  status?: 'active' | 'disabled' | undefined;
}

export interface Page {
  limit: number;
  offset: number;
}

export function generateWebhookSecret(): string {
  return `${WHSEC_PREFIX}${randomBytes(GENERATED_SECRET_BYTES).toString('base64')}`;
}

export function maskWebhookSecret(secret: string): string {
  return `${WHSEC_PREFIX}…${lastFour(secret)}`;
}

const lastFour = (secret: string): string => secret.slice(-4);
/** Shown when a secret no longer decrypts (e.g. after `EZ_SECRET` changed): rotate it. */
const UNREADABLE_MASK = `${WHSEC_PREFIX}…????`;

function openSecret(box: SecretBox, row: WebhookRow): string | undefined {
  try {
    return box.open({ ciphertext: row.secret_ciphertext, nonce: row.secret_nonce, keyVersion: row.key_version }, secretAad(row.id));
  } catch {
    return undefined;
  }
}

function toDto(row: WebhookRow, secret: string): WebhookDto {
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    events: row.events,
    status: row.status,
    disabled_reason: row.disabled_reason,
    secret,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/**
 * The DTO with the secret masked, from the stored `secret_last4`. A row from before that column
 * existed is decrypted once and its last 4 written back (`whsec_…????` when it no longer decrypts:
 * rotate it).
 */
async function maskedDto(knex: Knex, box: SecretBox, row: WebhookRow): Promise<WebhookDto> {
  if (row.secret_last4 !== null) return toDto(row, `${WHSEC_PREFIX}…${row.secret_last4}`);
  const secret = openSecret(box, row);
  if (secret === undefined) return toDto(row, UNREADABLE_MASK);
  await backfillSecretLast4(knex, row.id, lastFour(secret));
  return toDto(row, maskWebhookSecret(secret));
}

function checkedUrl(input: string): string {
  const url = checkWebhookUrl(input);
  if (!url.ok) throw new ValidationError('Request validation failed', [{ field: 'body.url', message: url.reason }]);
  return url.url;
}

/** The given secret after its checks, or a fresh one. */
function secretOf(given: string | undefined): string {
  if (given === undefined) return generateWebhookSecret();
  const problem = given.startsWith(WHSEC_PREFIX) ? secretProblem(given) : 'must be a whsec_<base64> secret';
  if (problem) throw new ValidationError('Request validation failed', [{ field: 'body.secret', message: problem }]);
  return given;
}

function seal(box: SecretBox, id: number, secret: string): SealedColumns {
  const sealed = box.seal(secret, secretAad(id));
  return { secret_ciphertext: sealed.ciphertext, secret_nonce: sealed.nonce, key_version: sealed.keyVersion, secret_last4: lastFour(secret) };
}

async function lockedRow(trx: Knex.Transaction, id: number): Promise<WebhookRow> {
  const row = await findWebhook(trx, id, { forUpdate: true });
  if (!row) throw new NotFoundError('webhook', id);
  return row;
}

export async function listWebhookDtos(knex: Knex, box: SecretBox, filters: { status?: 'active' | 'disabled' }, page: Page) {
  const { rows, total } = await listWebhooks(knex, filters, page);
  const data: WebhookDto[] = [];
  for (const row of rows) data.push(await maskedDto(knex, box, row));
  return { data, pagination: { ...page, total } };
}

export async function getWebhook(knex: Knex, box: SecretBox, id: number): Promise<WebhookDto> {
  const row = await findWebhook(knex, id);
  if (!row) throw new NotFoundError('webhook', id);
  return maskedDto(knex, box, row);
}

/** Creates a webhook; the answer carries the whole secret (the only time besides rotate-secret). */
export async function createWebhook(deps: WriteDeps, ctx: WriteContext, box: SecretBox, input: WebhookInput): Promise<WebhookDto> {
  const url = checkedUrl(input.url);
  const secret = secretOf(input.secret);
  return write(deps, ctx, async (unit) => {
    const id = await nextWebhookId(unit.trx);
    const row = await insertWebhook(unit.trx, { id, url, description: input.description, events: input.events, ...seal(box, id, secret) });
    await unit.audit('webhook.create', { type: 'webhook', id }, { url_origin: urlOrigin(url), events: row.events, secret_generated: input.secret === undefined });
    return toDto(row, secret);
  });
}

/** Changes url, description, events or status; re-enabling clears `disabled_reason`. */
export async function updateWebhookById(deps: WriteDeps, ctx: WriteContext, box: SecretBox, id: number, patch: WebhookPatch): Promise<WebhookDto> {
  const url = patch.url === undefined ? undefined : checkedUrl(patch.url);
  return write(deps, ctx, async (unit) => {
    const current = await lockedRow(unit.trx, id);
    const changes: WebhookChanges = {};
    if (url !== undefined) changes.url = url;
    if (patch.description !== undefined) changes.description = patch.description;
    if (patch.events !== undefined) changes.events = patch.events;
    if (patch.status !== undefined) {
      changes.status = patch.status;
      // What the system noted when it disabled the webhook (e.g. a 410) no longer holds once an admin acts.
      if (patch.status !== current.status) changes.disabled_reason = null;
    }
    const row = (await updateWebhook(unit.trx, id, changes)) ?? current;
    await unit.audit('webhook.update', { type: 'webhook', id }, {
      changed: Object.keys(changes).filter((k) => k !== 'disabled_reason'),
      url_origin: urlOrigin(row.url),
      events: row.events,
      status: row.status,
    });
    return maskedDto(unit.trx, box, row);
  });
}

export async function deleteWebhookById(deps: WriteDeps, ctx: WriteContext, id: number): Promise<void> {
  await write(deps, ctx, async (unit) => {
    const row = await lockedRow(unit.trx, id);
    await deleteWebhook(unit.trx, id);
    await unit.audit('webhook.delete', { type: 'webhook', id }, { url_origin: urlOrigin(row.url) });
  });
}

/**
 * Replaces the signing secret (given, or generated) and returns it once. Deliveries already queued
 * are signed with the new secret when they are next attempted: receivers should accept both for a
 * short while (Standard Webhooks receivers take several secrets).
 */
export async function rotateWebhookSecret(deps: WriteDeps, ctx: WriteContext, box: SecretBox, id: number, given: string | undefined): Promise<WebhookDto> {
  const secret = secretOf(given);
  return write(deps, ctx, async (unit) => {
    await lockedRow(unit.trx, id);
    const row = (await updateWebhook(unit.trx, id, seal(box, id, secret)))!;
    await unit.audit('webhook.rotate_secret', { type: 'webhook', id }, { secret_generated: given === undefined });
    return toDto(row, secret);
  });
}

/**
 * Enqueues a `webhook.test` ping to this webhook (whatever it subscribes to). The enqueue is the
 * transaction's last step, so a failed enqueue leaves no audit event. 409 while disabled.
 */
export async function sendTestEvent(
  deps: WriteDeps,
  ctx: WriteContext,
  id: number,
  enqueue: (delivery: WebhookDelivery) => Promise<void>,
): Promise<{ event_id: string; type: string }> {
  return write(deps, ctx, async (unit) => {
    const row = await lockedRow(unit.trx, id);
    if (row.status !== 'active') throw new ConflictError(`webhook ${id} is disabled; set status to active first`);
    const event = webhookEvent(TEST_EVENT_TYPE, { webhook_id: id, message: 'Test event from EZ-API' });
    await unit.audit('webhook.test', { type: 'webhook', id }, { event_id: event.id });
    await enqueue({ target: { kind: 'webhook', id }, event });
    return { event_id: event.id, type: event.type };
  });
}

export interface DeliveryDto {
  id: number;
  event_id: string;
  event_type: string;
  attempt: number;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  created_at: string;
}

/** A webhook's delivery attempts, newest first; `next_before` continues the list. */
export async function listWebhookDeliveries(knex: Knex, id: number, page: { limit: number; before?: number | undefined }) {
  if (!(await findWebhook(knex, id))) throw new NotFoundError('webhook', id);
  // One row more than asked tells whether another page exists.
  const rows = await listDeliveriesOfWebhook(knex, id, { limit: page.limit + 1, before: page.before });
  const data: DeliveryDto[] = rows.slice(0, page.limit).map((r) => ({
    id: r.id,
    event_id: r.event_id,
    event_type: r.event_type,
    attempt: r.attempt,
    status_code: r.status_code,
    error: r.error,
    duration_ms: r.duration_ms,
    created_at: r.created_at.toISOString(),
  }));
  const last = data[data.length - 1];
  return { data, next_before: rows.length > page.limit && last ? last.id : null };
}
