import type { Knex } from 'knex';
import { raiseAlert } from '../../db/alerts.repository.js';
import {
  disableAfterRefreshFailure,
  findOAuthKey,
  listExpiringOAuthKeys,
  lockOAuthKey,
  recordRefreshFailure,
  storeRefreshedTokens,
  type OAuthKeyRow,
  type RefreshedValues,
} from '../../db/oauth.repository.js';
import type { Config } from '../../lib/config.js';
import { NotFoundError, NotOAuthError } from '../../lib/errors.js';
import type { SecretBox } from '../../lib/secret-box.js';
import { refreshTokenAad, secretAad } from '../providers.service.js';
import { apiKeyDisabledEvent, publishStatusEvent, type StatusEventPublisher } from '../status-events.js';
import { write, type WriteContext, type WriteDeps } from '../write-context.js';
import { isOAuthType, OAUTH_REFRESH_TYPES, oauthClient, type OAuthType } from './oauth-clients.js';
import { reportRefreshFailure, resolveRefreshAlert } from './refresh-alert.js';
import { exchangeRefreshToken } from './token-endpoint.js';

/**
 * Keeps the access tokens of OAuth upstream keys fresh (DESIGN §8 `token-refresh`,
 * docs/oauth-refresh.md).
 *
 * Lock: one refresh runs inside one write() transaction that holds the key's row lock
 * (`SELECT … FOR UPDATE`) from the decision through the token-endpoint call to the stored result.
 * A second refresher of the same key blocks on the lock, then re-checks with what the first one
 * committed (the new expiry, `last_refresh_at`) and skips: one token-endpoint call per expiry,
 * whatever the number of workers. No call is ever made without the lock held.
 *
 * Results: new tokens are sealed (AAD `api_keys:<id>:secret|refresh_token`), the row, an audit
 * event and a `routing` outbox row commit together, so every gateway gets the new access token
 * through sync. A retryable failure records `refresh_error` / `refresh_failure_count` (the
 * caller retries with backoff) and, after 3 in a row or close to the token's expiry, raises the
 * key's `oauth_refresh` alert, which the next success resolves (refresh-alert.ts). A rejected grant disables an active key (`auto_disabled`,
 * ban_reason `oauth_refresh_failed`), raises one alert (fingerprint per key) and publishes
 * `api_key.disabled` to webhook subscribers (inside the transaction, src/domain/status-events.ts). Token values and
 * token-endpoint bodies never reach a log, an error message, an audit event or a job.
 */

export type RefreshReason = 'expiring' | 'unauthorized' | 'admin';

export interface RefreshRequest {
  apiKeyId: number;
  reason: RefreshReason;
  /**
   * When the need was seen (the gateway's 401, the admin's click). A refresh committed at or
   * after this instant already answered it. Unset: refresh unless another rule says no.
   */
  requestedAt?: Date;
}

export interface TokenRefreshDeps {
  write: WriteDeps;
  box: SecretBox;
  oauth: Config['oauth'];
  now(): Date;
  /** Publishes `api_key.disabled` when a refused refresh disables a key; left out, nothing is published. */
  events?: StatusEventPublisher;
}

/** What the admin sees of a key's OAuth state (never a token). */
export interface OAuthKeyState {
  id: number;
  status: string;
  access_token_expires_at: Date | null;
  last_refresh_at: Date | null;
  refresh_error: string | null;
  refresh_failure_count: number;
}

export type RefreshOutcome =
  /** New tokens stored and queued for sync. */
  | 'refreshed'
  /** Nothing to do (already refreshed, not due, not active, unknown key …); `reason` says which. */
  | 'skipped'
  /** Network, timeout, 429, 5xx: recorded; retry with backoff. */
  | 'retryable_failure'
  /** The grant is dead: the key was disabled and an alert raised. */
  | 'disabled'
  /** The grant is dead, but the key was not active: only recorded. */
  | 'rejected'
  /** Our side cannot refresh (a missing client secret, an undecryptable refresh token): recorded, not retried. */
  | 'config_error';

export interface RefreshResult {
  outcome: RefreshOutcome;
  reason: string;
  key: OAuthKeyState | null;
}

/** The ban reason of a key whose refresh token was refused. */
export const OAUTH_REFRESH_FAILED = 'oauth_refresh_failed';
/** Writes of the token-refresh job in audit_events. */
export const TOKEN_REFRESH_WRITER: WriteContext = { actor: { type: 'system', id: 'token-refresh' } };

export type RefreshPlan = { refresh: true; type: OAuthType } | { refresh: false; reason: string };

/** Whether a refresh is (still) needed, decided under the lock. Pure. */
export function planRefresh(row: OAuthKeyRow | undefined, request: RefreshRequest, oauth: Config['oauth'], now: Date): RefreshPlan {
  if (!row) return { refresh: false, reason: 'unknown api key' };
  if (!isOAuthType(row.type)) return { refresh: false, reason: `type "${row.type}" has no OAuth refresh` };
  if (!row.refresh_token_ciphertext || !row.refresh_token_nonce) return { refresh: false, reason: 'the key has no refresh token' };
  // Jobs keep active keys fresh; an admin may refresh a key in any status.
  if (request.reason !== 'admin' && row.status !== 'active') return { refresh: false, reason: `the key is ${row.status}` };
  if (request.requestedAt && row.last_refresh_at && row.last_refresh_at.getTime() >= request.requestedAt.getTime()) {
    return { refresh: false, reason: 'already refreshed since the request' };
  }
  if (request.reason === 'expiring' && row.access_token_expires_at) {
    const leadMs = effectiveLeadMs(oauth.types[row.type].leadMs, row.last_refresh_at, row.access_token_expires_at);
    if (row.access_token_expires_at.getTime() - now.getTime() > leadMs) return { refresh: false, reason: 'not due (outside the lead time)' };
  }
  return { refresh: true, type: row.type };
}

/**
 * The lead time, capped at half the token's lifetime (last refresh → expiry): a token that lives
 * shorter than its type's lead time is renewed at half-life, not on every sweep. Pure; the sweep's
 * SQL (listExpiringOAuthKeys) applies the same rule.
 */
export function effectiveLeadMs(leadMs: number, lastRefreshAt: Date | null, expiresAt: Date): number {
  if (!lastRefreshAt) return leadMs;
  const lifetimeMs = expiresAt.getTime() - lastRefreshAt.getTime();
  return lifetimeMs > 0 ? Math.min(leadMs, lifetimeMs / 2) : leadMs;
}

function keyState(row: OAuthKeyRow, changes: Partial<OAuthKeyState> = {}): OAuthKeyState {
  return {
    id: row.id,
    status: row.status,
    access_token_expires_at: row.access_token_expires_at,
    last_refresh_at: row.last_refresh_at,
    refresh_error: row.refresh_error,
    refresh_failure_count: row.refresh_failure_count,
    ...changes,
  };
}

/** Refreshes one key's access token under its row lock (see the module comment). */
export async function refreshAccessToken(deps: TokenRefreshDeps, ctx: WriteContext, request: RefreshRequest): Promise<RefreshResult> {
  return write(deps.write, ctx, async (unit) => {
    const row = await lockOAuthKey(unit.trx, request.apiKeyId);
    const plan = planRefresh(row, request, deps.oauth, deps.now());
    if (!plan.refresh) return { outcome: 'skipped', reason: plan.reason, key: row ? keyState(row) : null };
    const key = row!;
    const failed = async (outcome: 'retryable_failure' | 'rejected' | 'config_error', reason: string): Promise<RefreshResult> => {
      await recordRefreshFailure(unit.trx, key.id, reason);
      return { outcome, reason, key: keyState(key, { refresh_error: reason, refresh_failure_count: key.refresh_failure_count + 1 }) };
    };

    const client = oauthClient(deps.oauth, plan.type);
    if (client.requiresClientSecret && client.clientSecret === undefined) {
      return failed('config_error', `EZ_OAUTH_CLIENT_SECRET_${plan.type.toUpperCase().replace(/-/g, '_')} is not configured`);
    }
    let refreshToken: string;
    try {
      refreshToken = deps.box.open({ ciphertext: key.refresh_token_ciphertext!, nonce: key.refresh_token_nonce!, keyVersion: key.key_version }, refreshTokenAad(key.id));
    } catch {
      return failed('config_error', 'the refresh token cannot be decrypted with the current EZ_SECRET');
    }

    const answer = await exchangeRefreshToken(client, refreshToken, { timeoutMs: deps.oauth.timeoutMs, now: deps.now });
    const object = { type: 'api_key', id: key.id };
    switch (answer.kind) {
      case 'retryable': {
        const result = await failed('retryable_failure', answer.reason);
        const subject = { apiKeyId: key.id, groupId: key.group_id, type: plan.type, error: answer.reason };
        await reportRefreshFailure(unit, subject, { failures: key.refresh_failure_count + 1, expiresAt: key.access_token_expires_at }, deps.now());
        return result;
      }
      case 'rejected': {
        if (key.status !== 'active') return failed('rejected', answer.reason);
        await disableAfterRefreshFailure(unit.trx, key.id, OAUTH_REFRESH_FAILED, answer.reason);
        await unit.audit('api_key.oauth_refresh_failed', object, { reason: request.reason, error: answer.reason, group_id: key.group_id });
        await unit.sync({ resource: 'routing', action: 'upsert' });
        await raiseAlert(unit.trx, {
          type: OAUTH_REFRESH_FAILED,
          severity: 'critical',
          title: `OAuth refresh failed for api key ${key.id}; the key is disabled`,
          message: `The ${plan.type} token endpoint refused the refresh token (${answer.reason}). Give the key a new refresh token (PATCH /admin/api-keys/${key.id}) and set it active.`,
          fingerprint: `${OAUTH_REFRESH_FAILED}:api_key:${key.id}`,
          related_type: 'api_key',
          related_id: String(key.id),
          metadata: { type: plan.type, group_id: key.group_id, error: answer.reason },
        });
        const disabled = { api_key_id: key.id, provider_group_id: key.group_id, reason: OAUTH_REFRESH_FAILED, source: 'oauth_refresh' as const };
        await publishStatusEvent(unit.trx, deps.events, apiKeyDisabledEvent({ ...disabled, until: null, at: deps.now() }));
        return {
          outcome: 'disabled',
          reason: answer.reason,
          key: keyState(key, { status: 'auto_disabled', refresh_error: answer.reason, refresh_failure_count: key.refresh_failure_count + 1 }),
        };
      }
      case 'ok': {
        const { tokens } = answer;
        const refreshedAt = deps.now();
        const access = deps.box.seal(tokens.accessToken, secretAad(key.id));
        // Both secrets of a row share key_version: re-seal the kept refresh token under the current one too.
        const refresh = deps.box.seal(tokens.refreshToken ?? refreshToken, refreshTokenAad(key.id));
        const lift = key.status === 'auto_disabled' && key.ban_reason === OAUTH_REFRESH_FAILED;
        const values: RefreshedValues = {
          secret_ciphertext: access.ciphertext,
          secret_nonce: access.nonce,
          refresh_token_ciphertext: refresh.ciphertext,
          refresh_token_nonce: refresh.nonce,
          key_version: access.keyVersion,
          access_token_expires_at: tokens.expiresAt,
          last_refresh_at: refreshedAt,
          ...(tokens.accountId !== null ? { account_id: tokens.accountId } : {}),
          ...(lift ? { status: 'active' as const } : {}),
        };
        await storeRefreshedTokens(unit.trx, key.id, values);
        await unit.audit('api_key.oauth_refresh', object, {
          reason: request.reason,
          expires_at: tokens.expiresAt.toISOString(),
          refresh_token_rotated: tokens.refreshToken !== null,
          group_id: key.group_id,
          ...(lift ? { reactivated: true } : {}),
        });
        await unit.sync({ resource: 'routing', action: 'upsert' });
        await resolveRefreshAlert(unit, key.id, refreshedAt);
        return {
          outcome: 'refreshed',
          reason: request.reason,
          key: keyState(key, {
            status: lift ? 'active' : key.status,
            access_token_expires_at: tokens.expiresAt,
            last_refresh_at: refreshedAt,
            refresh_error: null,
            refresh_failure_count: 0,
          }),
        };
      }
    }
  });
}

/**
 * `POST /admin/api-keys/:id/refresh`: refreshes now, in the caller's process, under the same lock.
 * 404 for an unknown key; 400 `not_oauth` for a non-OAuth type or a key without a refresh token.
 */
export async function refreshApiKeyNow(deps: TokenRefreshDeps, ctx: WriteContext, apiKeyId: number): Promise<RefreshResult> {
  const requestedAt = deps.now();
  const row = await findOAuthKey(deps.write.knex, apiKeyId);
  if (!row) throw new NotFoundError('api key', apiKeyId);
  if (!isOAuthType(row.type)) throw new NotOAuthError(`api key ${apiKeyId} is of type "${row.type}", which has no OAuth refresh (codex, claude-code, gemini-cli, antigravity)`);
  if (!row.refresh_token_ciphertext) throw new NotOAuthError(`api key ${apiKeyId} has no refresh token; set one with PATCH /admin/api-keys/${apiKeyId}`);
  const result = await refreshAccessToken(deps, ctx, { apiKeyId, reason: 'admin', requestedAt });
  if (result.key === null) throw new NotFoundError('api key', apiKeyId);
  return result;
}

/** Most keys one sweep enqueues; the next tick takes the rest. */
export const SWEEP_LIMIT = 1_000;

export interface DueRefresh {
  apiKeyId: number;
  /** The expiry the sweep saw (null: no access token yet); part of the job id. */
  expiresAt: Date | null;
}

/** The keys whose access token expires within their type's lead time (or have none yet). */
export async function findDueRefreshes(knex: Knex, oauth: Config['oauth'], now: Date): Promise<DueRefresh[]> {
  const cutoffs = OAUTH_REFRESH_TYPES.map((type) => ({ type, before: new Date(now.getTime() + oauth.types[type].leadMs) }));
  const rows = await listExpiringOAuthKeys(knex, cutoffs, now, SWEEP_LIMIT);
  return rows.map((r) => ({ apiKeyId: r.id, expiresAt: r.access_token_expires_at }));
}
