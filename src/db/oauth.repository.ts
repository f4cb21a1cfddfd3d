import type { Knex } from 'knex';
import type { ApiKeyStatus } from './api-keys.repository.js';

/**
 * SQL of the token-refresh job (docs/oauth-refresh.md): the sweep's candidates, the per-key lock,
 * and the writes of a refresh's outcome. Ciphertexts in, ciphertexts out: never plaintext.
 */

/** What a refresh decides on, read under the row lock. */
export interface OAuthKeyRow {
  id: number;
  group_id: number;
  /** The group's provider type. */
  type: string;
  status: ApiKeyStatus;
  ban_reason: string | null;
  key_version: number;
  refresh_token_ciphertext: Buffer | null;
  refresh_token_nonce: Buffer | null;
  access_token_expires_at: Date | null;
  account_id: string | null;
  last_refresh_at: Date | null;
  refresh_error: string | null;
  refresh_failure_count: number;
}

const OAUTH_KEY_COLUMNS = [
  'k.id',
  'k.group_id',
  'g.type',
  'k.status',
  'k.ban_reason',
  'k.key_version',
  'k.refresh_token_ciphertext',
  'k.refresh_token_nonce',
  'k.access_token_expires_at',
  'k.account_id',
  'k.last_refresh_at',
  'k.refresh_error',
  'k.refresh_failure_count',
];

const normalize = (row: OAuthKeyRow): OAuthKeyRow => ({ ...row, id: Number(row.id), group_id: Number(row.group_id) });

/** Reads a key with its group's type, without locking (the admin route's pre-check). */
export async function findOAuthKey(db: Knex | Knex.Transaction, id: number): Promise<OAuthKeyRow | undefined> {
  const row = (await db('api_keys as k').join('provider_groups as g', 'g.id', 'k.group_id').select(OAUTH_KEY_COLUMNS).where('k.id', id).first()) as OAuthKeyRow | undefined;
  return row && normalize(row);
}

/**
 * Locks the key's row (`FOR UPDATE OF k`) until the transaction ends: the per-key lock of a
 * refresh. A second refresher blocks here and then reads what the first one committed.
 */
export async function lockOAuthKey(trx: Knex.Transaction, id: number): Promise<OAuthKeyRow | undefined> {
  const row = (await trx('api_keys as k')
    .join('provider_groups as g', 'g.id', 'k.group_id')
    .select(OAUTH_KEY_COLUMNS)
    .where('k.id', id)
    .forUpdate('k')
    .first()) as OAuthKeyRow | undefined;
  return row && normalize(row);
}

/** Per type: keys whose access token expires at or before `before` are due. */
export interface SweepCutoff {
  type: string;
  before: Date;
}

export interface ExpiringKey {
  id: number;
  access_token_expires_at: Date | null;
}

/**
 * Active keys with a refresh token whose access token is missing, or expires by their type's
 * cutoff and is past half its lifetime (last refresh → expiry; see effectiveLeadMs), soonest
 * first (missing first), at most `limit`.
 */
export async function listExpiringOAuthKeys(db: Knex, cutoffs: readonly SweepCutoff[], now: Date, limit: number): Promise<ExpiringKey[]> {
  if (cutoffs.length === 0) return [];
  const rows = (await db('api_keys as k')
    .join('provider_groups as g', 'g.id', 'k.group_id')
    .select('k.id', 'k.access_token_expires_at')
    .where('k.status', 'active')
    .whereNotNull('k.refresh_token_ciphertext')
    .where((q) => {
      for (const cutoff of cutoffs) {
        q.orWhere((one) =>
          one.where('g.type', cutoff.type).andWhere((due) => due.whereNull('k.access_token_expires_at').orWhere('k.access_token_expires_at', '<=', cutoff.before)),
        );
      }
    })
    .whereRaw(
      `(k.access_token_expires_at is null or k.last_refresh_at is null or k.access_token_expires_at <= k.last_refresh_at
        or 2 * (k.access_token_expires_at - ?::timestamptz) <= k.access_token_expires_at - k.last_refresh_at)`,
      [now.toISOString()],
    )
    .orderByRaw('k.access_token_expires_at asc nulls first, k.id asc')
    .limit(limit)) as ExpiringKey[];
  return rows.map((r) => ({ id: Number(r.id), access_token_expires_at: r.access_token_expires_at }));
}

/** What a successful refresh writes (sealed by the caller). */
export interface RefreshedValues {
  secret_ciphertext: Buffer;
  secret_nonce: Buffer;
  refresh_token_ciphertext: Buffer;
  refresh_token_nonce: Buffer;
  key_version: number;
  access_token_expires_at: Date;
  last_refresh_at: Date;
  /** Only when the answer named the account. */
  account_id?: string;
  /** Lifts a key this job had disabled (an admin refresh that worked). */
  status?: 'active';
}

/** Stores new tokens and clears the failure state. */
export async function storeRefreshedTokens(trx: Knex.Transaction, id: number, values: RefreshedValues): Promise<void> {
  const lift = values.status === 'active' ? { ban_reason: null, ban_until: null } : {};
  await trx('api_keys')
    .where('id', id)
    .update({ ...values, ...lift, refresh_error: null, refresh_failure_count: 0, updated_at: trx.fn.now() });
}

/** A failed attempt: diagnostics only (leaves updated_at and the status alone). */
export async function recordRefreshFailure(trx: Knex.Transaction, id: number, message: string): Promise<void> {
  await trx('api_keys')
    .where('id', id)
    .update({ refresh_error: message, refresh_failure_count: trx.raw('refresh_failure_count + 1') });
}

/** The grant is dead: the key leaves routing until an admin gives it a new refresh token. */
export async function disableAfterRefreshFailure(trx: Knex.Transaction, id: number, banReason: string, message: string): Promise<void> {
  await trx('api_keys')
    .where('id', id)
    .update({
      status: 'auto_disabled',
      ban_reason: banReason,
      ban_until: null,
      refresh_error: message,
      refresh_failure_count: trx.raw('refresh_failure_count + 1'),
      updated_at: trx.fn.now(),
    });
}
