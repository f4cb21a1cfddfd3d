import type { Knex } from 'knex';

/** SQL for `webhooks` (`/admin/webhooks`): the rows, their sealed secrets and who subscribes to what. */

export interface WebhookRow {
  id: number;
  url: string;
  description: string;
  secret_ciphertext: Buffer;
  secret_nonce: Buffer;
  key_version: number;
  /** The secret's last 4 characters, for the masked `whsec_…last4`; null for rows written before it existed. */
  secret_last4: string | null;
  events: string[];
  status: 'active' | 'disabled';
  disabled_reason: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface SealedColumns {
  secret_ciphertext: Buffer;
  secret_nonce: Buffer;
  key_version: number;
  secret_last4: string;
}

export interface NewWebhookRow extends SealedColumns {
  id: number;
  url: string;
  description: string;
  events: string[];
}

export type WebhookChanges = Partial<Pick<WebhookRow, 'url' | 'description' | 'events' | 'status' | 'disabled_reason'>> & Partial<SealedColumns>;

const toRow = (row: WebhookRow): WebhookRow => ({ ...row, id: Number(row.id) });

/** The next id, taken before the insert: the secret is sealed under an AAD that names the row id. */
export async function nextWebhookId(trx: Knex.Transaction): Promise<number> {
  const { rows } = await trx.raw<{ rows: Array<{ id: string }> }>(`select nextval(pg_get_serial_sequence('webhooks', 'id')) as id`);
  return Number(rows[0]!.id);
}

export async function insertWebhook(trx: Knex.Transaction, row: NewWebhookRow): Promise<WebhookRow> {
  const [inserted] = await trx<WebhookRow>('webhooks').insert(row).returning('*');
  return toRow(inserted as WebhookRow);
}

export async function findWebhook(db: Knex | Knex.Transaction, id: number, options: { forUpdate?: boolean } = {}): Promise<WebhookRow | undefined> {
  const query = db<WebhookRow>('webhooks').where('id', id).first();
  if (options.forUpdate) query.forUpdate();
  const row = (await query) as WebhookRow | undefined;
  return row ? toRow(row) : undefined;
}

/** Every webhook, oldest first, with the total. */
export async function listWebhooks(db: Knex, filters: { status?: 'active' | 'disabled' }, page: { limit: number; offset: number }): Promise<{ rows: WebhookRow[]; total: number }> {
  const base = db<WebhookRow>('webhooks');
  if (filters.status) base.where('status', filters.status);
  const [rows, count] = await Promise.all([
    base.clone().select('*').orderBy('id').limit(page.limit).offset(page.offset),
    base.clone().count<Array<{ count: string | number }>>({ count: '*' }).first(),
  ]);
  return { rows: (rows as WebhookRow[]).map(toRow), total: Number((count as { count: string | number } | undefined)?.count ?? 0) };
}

export async function updateWebhook(trx: Knex.Transaction, id: number, changes: WebhookChanges): Promise<WebhookRow | undefined> {
  const [row] = await trx('webhooks')
    .where('id', id)
    .update({ ...changes, updated_at: trx.fn.now() })
    .returning<WebhookRow[]>('*');
  return row ? toRow(row) : undefined;
}

/**
 * Stores the last 4 of a row written before `secret_last4` existed, unless it was set meanwhile (a
 * rotation wins). Leaves `updated_at` alone: nothing an admin changed.
 */
export async function backfillSecretLast4(db: Knex, id: number, last4: string): Promise<void> {
  await db('webhooks').where('id', id).whereNull('secret_last4').update({ secret_last4: last4 });
}

/** Deletes the row (its delivery attempts go with it: ON DELETE CASCADE); true when it existed. */
export async function deleteWebhook(trx: Knex.Transaction, id: number): Promise<boolean> {
  return (await trx('webhooks').where('id', id).delete()) > 0;
}

/** Active webhooks and what they subscribe to, by id: the fan-out's candidates. */
export async function listActiveSubscriptions(db: Knex | Knex.Transaction): Promise<Array<{ id: number; events: string[] }>> {
  const rows = (await db('webhooks').select('id', 'events').where('status', 'active').orderBy('id')) as Array<{ id: string | number; events: string[] | null }>;
  return rows.map((r) => ({ id: Number(r.id), events: r.events ?? [] }));
}
