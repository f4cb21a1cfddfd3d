import { listAlerts, OPEN_STATUSES, raiseAlert, transitionAlert, type AlertSeverity, type RaiseAlert } from '../../db/alerts.repository.js';
import type { WriteUnit } from '../write-context.js';

/**
 * The alert of a key whose OAuth refresh keeps failing transiently (network, timeout, 429, 5xx …;
 * docs/oauth-refresh.md "Alert on transient failures"). Such a key backs off silently until its
 * access token expires and the gateways start failing; this alert tells the operator before that.
 *
 * One alert per key (fingerprint `oauth_refresh:api_key:<id>`, deduplicated by raiseAlert), raised
 * inside the refresh's transaction after a retryable failure when either rule holds:
 * - the key's refresh has failed REFRESH_ALERT_AFTER_FAILURES (3) times in a row
 *   (`api_keys.refresh_failure_count`, reset by every success) → warning;
 * - its access token expires within REFRESH_ALERT_EXPIRY_MS (10 min), or already has → critical
 *   (the same alert, escalated when a warning is open).
 * A successful refresh resolves the open alert (actor `system:token-refresh`, audited
 * `alert.resolve`). Announcements (`alert.created|escalated|resolved`) are left pending in the row
 * and published by the detector tick, as for the other alerts workers raise.
 */

/** The alert type and fingerprint rule of transient refresh failures. */
export const OAUTH_REFRESH_ALERT = 'oauth_refresh';
/** Consecutive failed refreshes (since the last success) that raise the alert. */
export const REFRESH_ALERT_AFTER_FAILURES = 3;
/** A failed refresh of a token that expires within this long (ms) raises the alert at once, critical. */
export const REFRESH_ALERT_EXPIRY_MS = 10 * 60_000;
/** `resolved_by` of an alert a successful refresh resolved. */
export const REFRESH_ALERT_RESOLVER = 'system:token-refresh';

export function refreshAlertFingerprint(apiKeyId: number): string {
  return `${OAUTH_REFRESH_ALERT}:api_key:${apiKeyId}`;
}

export interface RefreshFailureState {
  /** Failed refreshes in a row, this one included. */
  failures: number;
  /** The current access token's expiry (null: unknown). */
  expiresAt: Date | null;
}

export interface RefreshAlertPlan {
  severity: AlertSeverity;
  /** The access token expires within REFRESH_ALERT_EXPIRY_MS (or has expired). */
  expiring: boolean;
}

/** Whether a retryable failure raises the alert, and how severe. Pure. */
export function planRefreshAlert(state: RefreshFailureState, now: Date): RefreshAlertPlan | null {
  const expiring = state.expiresAt !== null && state.expiresAt.getTime() - now.getTime() <= REFRESH_ALERT_EXPIRY_MS;
  if (expiring) return { severity: 'critical', expiring };
  if (state.failures >= REFRESH_ALERT_AFTER_FAILURES) return { severity: 'warning', expiring };
  return null;
}

export interface RefreshAlertSubject {
  apiKeyId: number;
  groupId: number;
  /** The OAuth type (codex, claude-code, …). */
  type: string;
  /** The sanitized failure reason (HTTP status and OAuth error code only; never a body or token). */
  error: string;
}

/** The alert of one retryable failure. Pure. */
export function refreshAlert(subject: RefreshAlertSubject, state: RefreshFailureState, plan: RefreshAlertPlan, now: Date): RaiseAlert {
  const id = subject.apiKeyId;
  const expiry = state.expiresAt
    ? state.expiresAt.getTime() <= now.getTime()
      ? `its access token expired at ${state.expiresAt.toISOString()}`
      : `its access token expires at ${state.expiresAt.toISOString()}`
    : 'its access token expiry is unknown';
  return {
    type: OAUTH_REFRESH_ALERT,
    severity: plan.severity,
    title: `OAuth refresh of api key ${id} keeps failing`,
    message:
      `The ${subject.type} token endpoint failed ${state.failures} time(s) in a row (last: ${subject.error}); ${expiry}. ` +
      `Refreshes are retried with backoff; once the access token expires the gateways get 401s from this key. ` +
      `Check the token endpoint, or retry with POST /admin/api-keys/${id}/refresh.`,
    fingerprint: refreshAlertFingerprint(id),
    related_type: 'api_key',
    related_id: String(id),
    metadata: {
      type: subject.type,
      group_id: subject.groupId,
      error: subject.error,
      failures: state.failures,
      access_token_expires_at: state.expiresAt ? state.expiresAt.toISOString() : null,
      expiring: plan.expiring,
    },
  };
}

/** After a retryable failure: raises (or bumps) the key's alert when a rule holds. Returns whether it did. */
export async function reportRefreshFailure(unit: WriteUnit, subject: RefreshAlertSubject, state: RefreshFailureState, now: Date): Promise<boolean> {
  const plan = planRefreshAlert(state, now);
  if (!plan) return false;
  await raiseAlert(unit.trx, refreshAlert(subject, state, plan, now), { actor: { actor_type: 'system', actor_id: 'token-refresh', request_id: null, ip: null }, now });
  return true;
}

/** After a successful refresh: resolves the key's open alert, if any. Returns the resolved alert's id. */
export async function resolveRefreshAlert(unit: WriteUnit, apiKeyId: number, now: Date): Promise<number | null> {
  const fingerprint = refreshAlertFingerprint(apiKeyId);
  const [open] = await listAlerts(unit.trx, { fingerprint, status: OPEN_STATUSES }, { limit: 1 });
  if (!open) return null;
  const resolved = await transitionAlert(unit.trx, open.id, 'resolve', OPEN_STATUSES, REFRESH_ALERT_RESOLVER, now);
  if (!resolved) return null;
  await unit.audit('alert.resolve', { type: 'alert', id: resolved.id }, { status: resolved.status, type: resolved.type, fingerprint: resolved.fingerprint, reason: 'oauth refresh succeeded' });
  return resolved.id;
}
