import type { Knex } from 'knex';

/**
 * SQL for `api_keys` (DESIGN §4): upstream credentials of a provider group. Secrets are stored
 * only as AES-256-GCM ciphertext + nonce (src/lib/secret-box.ts); this module never sees plaintext.
 */

export const API_KEY_STATUSES = ['active', 'disabled', 'auto_disabled', 'manual_disabled'] as const;
export type ApiKeyStatus = (typeof API_KEY_STATUSES)[number];

export interface ApiKeyRow {
  id: number;
  group_id: number;
  name: string;
  secret_ciphertext: Buffer | null;
  secret_nonce: Buffer | null;
  key_version: number;
  weight: number;
  /** Actual cost = list cost × this (numeric, read as a number; 0–1000, default 1). */
  rate_multiplier: number;
  status: ApiKeyStatus;
  auto_ban: boolean;
  ban_reason: string | null;
  ban_until: Date | null;
  request_count: number;
  success_count: number;
  failure_count: number;
  token_count: number;
  last_used_at: Date | null;
  refresh_token_ciphertext: Buffer | null;
  refresh_token_nonce: Buffer | null;
  access_token_expires_at: Date | null;
  account_id: string | null;
  last_refresh_at: Date | null;
  refresh_error: string | null;
  refresh_failure_count: number;
  created_at: Date;
  updated_at: Date;
}

/** Columns a control-plane write may set. */
export type ApiKeyValues = Pick<
  ApiKeyRow,
  | 'group_id'
  | 'name'
  | 'secret_ciphertext'
  | 'secret_nonce'
  | 'key_version'
  | 'weight'
  | 'status'
  | 'auto_ban'
  | 'ban_reason'
  | 'ban_until'
  | 'refresh_token_ciphertext'
  | 'refresh_token_nonce'
> &
  /** Left out, the column default (1) applies. */
  Partial<Pick<ApiKeyRow, 'rate_multiplier'>> &
  /** OAuth state (docs/oauth-refresh.md); left out, the column defaults apply. */
  Partial<Pick<ApiKeyRow, 'access_token_expires_at' | 'account_id' | 'refresh_error' | 'refresh_failure_count'>>;

export interface ApiKeyFilters {
  group_id?: number;
  status?: ApiKeyStatus;
}

/**
 * Reserves the next id, so the secret can be sealed under an AAD naming its own row before the
 * row is written (one INSERT, no NULL-then-UPDATE window).
 */
export async function nextApiKeyId(trx: Knex.Transaction): Promise<number> {
  const { rows } = await trx.raw<{ rows: Array<{ id: number }> }>(`select nextval(pg_get_serial_sequence('api_keys', 'id')) as id`);
  return Number(rows[0]!.id);
}

export async function insertApiKey(trx: Knex.Transaction, id: number, values: ApiKeyValues): Promise<ApiKeyRow> {
  const [row] = await trx('api_keys')
    .insert({ id, ...values })
    .returning<ApiKeyRow[]>('*');
  return row!;
}

export async function findApiKey(db: Knex | Knex.Transaction, id: number, options: { forUpdate?: boolean } = {}): Promise<ApiKeyRow | undefined> {
  const query = db('api_keys').select('*').where('id', id);
  if (options.forUpdate) query.forUpdate();
  return (await query.first()) as ApiKeyRow | undefined;
}

/** Newest first. */
export async function listApiKeys(db: Knex, filters: ApiKeyFilters, page: { limit: number; offset: number }): Promise<{ rows: ApiKeyRow[]; total: number }> {
  const apply = (q: Knex.QueryBuilder): Knex.QueryBuilder => {
    if (filters.group_id !== undefined) q.where('group_id', filters.group_id);
    if (filters.status) q.where('status', filters.status);
    return q;
  };
  const rows = (await apply(db('api_keys').select('*')).orderBy('id', 'desc').limit(page.limit).offset(page.offset)) as ApiKeyRow[];
  const counted = (await apply(db('api_keys').count<Array<{ total: string | number }>>('* as total')).first()) as { total: string | number } | undefined;
  return { rows, total: Number(counted?.total ?? 0) };
}

export async function updateApiKey(trx: Knex.Transaction, id: number, values: Partial<ApiKeyValues>): Promise<ApiKeyRow> {
  const [row] = await trx('api_keys')
    .where('id', id)
    .update({ ...values, updated_at: trx.fn.now() })
    .returning<ApiKeyRow[]>('*');
  return row!;
}

export async function deleteApiKey(trx: Knex.Transaction, id: number): Promise<ApiKeyRow | undefined> {
  const [row] = await trx('api_keys').where('id', id).delete().returning<ApiKeyRow[]>('*');
  return row;
}
