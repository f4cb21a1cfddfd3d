import type { Knex } from 'knex';

/** SQL for `webhook_deliveries` (one row per attempt) and the `webhooks` rows the queue delivers to. */

export type DeliveryTargetKind = 'webhook' | 'log_webhook';

export interface DeliveryAttemptInput {
  target: DeliveryTargetKind;
  /** Set for `target = 'webhook'`, null for the log webhook. */
  webhook_id: number | null;
  event_id: string;
  event_type: string;
  attempt: number;
  /** Null when no HTTP response arrived (connect error, timeout, refused address). */
  status_code: number | null;
  error: string | null;
  duration_ms: number;
}

export interface DeliveryRow extends DeliveryAttemptInput {
  id: number;
  created_at: Date;
}

export async function insertDeliveryAttempt(db: Knex | Knex.Transaction, attempt: DeliveryAttemptInput): Promise<void> {
  await db('webhook_deliveries').insert(attempt);
}

export async function listDeliveriesOfEvent(db: Knex, eventId: string): Promise<DeliveryRow[]> {
  return (await db('webhook_deliveries').where('event_id', eventId).orderBy('id')) as DeliveryRow[];
}

export interface WebhookTargetRow {
  id: number;
  url: string;
  secret_ciphertext: Buffer;
  secret_nonce: Buffer;
  key_version: number;
  status: 'active' | 'disabled';
}

export async function getWebhookTarget(db: Knex | Knex.Transaction, id: number): Promise<WebhookTargetRow | undefined> {
  return (await db('webhooks').select('id', 'url', 'secret_ciphertext', 'secret_nonce', 'key_version', 'status').where({ id }).first()) as
    | WebhookTargetRow
    | undefined;
}

/** Disables a webhook row if it still points at `url`; true when it did. */
export async function disableWebhookTarget(db: Knex | Knex.Transaction, id: number, url: string, reason: string): Promise<boolean> {
  const updated = await db('webhooks').where({ id, url, status: 'active' }).update({ status: 'disabled', disabled_reason: reason, updated_at: db.fn.now() });
  return updated > 0;
}

/** One webhook's attempts, newest first, keyset-paginated on id (`before` = the last id of the previous page). */
export async function listDeliveriesOfWebhook(db: Knex, webhookId: number, page: { limit: number; before?: number | undefined }): Promise<DeliveryRow[]> {
  const query = db('webhook_deliveries')
    .select('id', 'target', 'webhook_id', 'event_id', 'event_type', 'attempt', 'status_code', 'error', 'duration_ms', 'created_at')
    .where({ target: 'webhook', webhook_id: webhookId })
    .orderBy('id', 'desc')
    .limit(page.limit);
  if (page.before !== undefined) query.where('id', '<', page.before);
  const rows = (await query) as DeliveryRow[];
  return rows.map((r) => ({ ...r, id: Number(r.id), webhook_id: r.webhook_id === null ? null : Number(r.webhook_id) }));
}
