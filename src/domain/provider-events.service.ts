import type { Knex } from 'knex';
import { raiseAlert } from '../db/alerts.repository.js';
import { findApiKey, type ApiKeyStatus } from '../db/api-keys.repository.js';
import { liftExpiredBans, setApiKeyBan, setRefreshError, type BanValues } from '../db/provider-events.repository.js';
import { write, type WriteContext, type WriteDeps } from './write-context.js';

/**
 * Applies what gateways report about upstream keys (DESIGN §8 `provider-events`). Changes go
 * through write(): the key row, an audit event and ONE `routing` outbox row commit together, so
 * the new status reaches every gateway through the normal sync path.
 *
 * Ordering: every api-key event carries `at` (when the gateway observed it). An event older than
 * the key's `updated_at` is stale — an admin re-enabled or edited the key since, or a later event
 * was applied — and is ignored. Keys written here get `updated_at = at`, so the rule also orders
 * gateway events among themselves. Applying an event twice changes nothing the second time.
 */

export type ApiKeyEvent =
  | { type: 'auto_ban'; api_key_id: number; reason: string; until: string | null; status_code: number; at: string }
  | { type: 'unban'; api_key_id: number; at: string }
  | { type: 'oauth_unauthorized'; api_key_id: number; at: string };

export interface AlertEvent {
  type: 'alert';
  alert_type: string;
  severity: 'info' | 'warning' | 'critical';
  title: string;
  message: string;
  fingerprint: string;
  related_type?: string;
  related_id?: string;
  metadata?: Record<string, string | number | boolean | null>;
  at: string;
}

export type ProviderEventInput = ApiKeyEvent | AlertEvent;

/** The key fields a decision needs. */
export interface KeyState {
  status: ApiKeyStatus;
  auto_ban: boolean;
  ban_reason: string | null;
  ban_until: Date | null;
  refresh_error: string | null;
  updated_at: Date;
}

export type EventPlan =
  | { kind: 'skip'; reason: string }
  | { kind: 'ban'; values: BanValues }
  | { kind: 'unban'; values: BanValues }
  | { kind: 'refresh_error'; message: string };

const skip = (reason: string): EventPlan => ({ kind: 'skip', reason });

/** The later of two ban ends; null (until lifted) outlasts any instant. */
function laterEnd(a: Date | null, b: Date | null): Date | null {
  if (a === null || b === null) return null;
  return a.getTime() >= b.getTime() ? a : b;
}

/** What an api-key event does to a key in `state` at `now`. Pure. */
export function planApiKeyEvent(state: KeyState | undefined, event: ApiKeyEvent, now: Date): EventPlan {
  if (!state) return skip('unknown api key');
  const at = new Date(event.at);
  if (at.getTime() < state.updated_at.getTime()) return skip('stale: the key changed after the event');
  switch (event.type) {
    case 'auto_ban': {
      if (!state.auto_ban) return skip('auto-ban is off for this key');
      if (state.status === 'disabled' || state.status === 'manual_disabled') return skip(`key is ${state.status} by an admin`);
      const until = event.until === null ? null : new Date(event.until);
      if (until !== null && until.getTime() <= now.getTime()) return skip('the ban is already over');
      if (state.status === 'auto_disabled') {
        const end = laterEnd(state.ban_until, until);
        const sameEnd = end === null ? state.ban_until === null : state.ban_until !== null && state.ban_until.getTime() === end.getTime();
        if (sameEnd) return skip('already banned at least as long');
        return { kind: 'ban', values: { status: 'auto_disabled', ban_reason: event.reason, ban_until: end } };
      }
      return { kind: 'ban', values: { status: 'auto_disabled', ban_reason: event.reason, ban_until: until } };
    }
    case 'unban':
      if (state.status !== 'auto_disabled') return skip(`key is ${state.status}, not auto-disabled`);
      return { kind: 'unban', values: { status: 'active', ban_reason: null, ban_until: null } };
    case 'oauth_unauthorized': {
      const message = `upstream refused the access token (401) at ${at.toISOString()}`;
      if (state.refresh_error === message) return skip('already recorded');
      return { kind: 'refresh_error', message };
    }
  }
}

export interface ProviderEventDeps {
  write: WriteDeps;
  now: () => Date;
}

export interface ProviderEventResult {
  applied: boolean;
  /** What was done, or why nothing was. */
  outcome: string;
}

/** Writes attributed to the data plane in audit_events. */
export const GATEWAY_WRITER: WriteContext = { actor: { type: 'system', id: 'gateway' } };

/** Applies one gateway report. Idempotent: a replay, or an event overtaken by a newer write, is a no-op. */
export async function applyProviderEvent(deps: ProviderEventDeps, event: ProviderEventInput): Promise<ProviderEventResult> {
  if (event.type === 'alert') return raiseGatewayAlert(deps.write.knex, event);
  return write(deps.write, GATEWAY_WRITER, async (unit) => {
    const key = await findApiKey(unit.trx, event.api_key_id, { forUpdate: true });
    const plan = planApiKeyEvent(key, event, deps.now());
    const object = { type: 'api_key', id: event.api_key_id };
    switch (plan.kind) {
      case 'skip':
        return { applied: false, outcome: plan.reason };
      case 'refresh_error':
        // Recorded for the admin and the token-refresh sweep; nothing the gateway routes on changes.
        await setRefreshError(unit.trx, event.api_key_id, plan.message);
        await unit.audit('api_key.oauth_unauthorized', object, { at: event.at });
        return { applied: true, outcome: 'refresh_error recorded' };
      case 'ban':
      case 'unban': {
        await setApiKeyBan(unit.trx, event.api_key_id, plan.values, new Date(event.at));
        const metadata =
          event.type === 'auto_ban'
            ? { reason: event.reason, until: plan.values.ban_until?.toISOString() ?? null, status_code: event.status_code, at: event.at }
            : { at: event.at };
        await unit.audit(plan.kind === 'ban' ? 'api_key.auto_ban' : 'api_key.unban', object, metadata);
        await unit.sync({ resource: 'routing', action: 'upsert' });
        return { applied: true, outcome: plan.kind === 'ban' ? 'key auto-disabled' : 'ban lifted' };
      }
    }
  });
}

async function raiseGatewayAlert(knex: Knex, event: AlertEvent): Promise<ProviderEventResult> {
  await raiseAlert(knex, {
    type: event.alert_type,
    severity: event.severity,
    title: event.title,
    message: event.message,
    fingerprint: event.fingerprint,
    ...(event.related_type !== undefined ? { related_type: event.related_type } : {}),
    ...(event.related_id !== undefined ? { related_id: event.related_id } : {}),
    metadata: { ...event.metadata, source: 'gateway', observed_at: event.at },
  });
  return { applied: true, outcome: 'alert raised' };
}

/**
 * Lifts auto-bans whose `ban_until` has passed (the gateway routes only `active` keys), with one
 * audit event per key and one routing outbox row. Returns the ids lifted.
 */
export async function liftExpiredAutoBans(deps: ProviderEventDeps): Promise<number[]> {
  return write(deps.write, { actor: { type: 'system', id: 'ban-expiry' } }, async (unit) => {
    const ids = await liftExpiredBans(unit.trx, deps.now());
    for (const id of ids) await unit.audit('api_key.ban_expired', { type: 'api_key', id });
    if (ids.length > 0) await unit.sync({ resource: 'routing', action: 'upsert' });
    return ids;
  });
}
