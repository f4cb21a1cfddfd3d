import type { Knex } from 'knex';
import { raiseAlert } from '../db/alerts.repository.js';
import { findApiKey, type ApiKeyStatus } from '../db/api-keys.repository.js';
import { findKeyById, lockKey, raiseKeyQuotaUsed, updateKey, type KeyStatus } from '../db/keys.repository.js';
import { lockMaster, raiseMasterQuotaUsed } from '../db/masters.repository.js';
import { lastQuotaReset, liftExpiredBans, setApiKeyBan, setRefreshError, type BanValues, type QuotaResetState } from '../db/provider-events.repository.js';
import { apiKeyDisabledEvent, keyExhaustedEvent, masterExhaustedEvent, publishStatusEvent, type StatusEventPublisher } from './status-events.js';
import { write, type WriteContext, type WriteDeps, type WriteUnit } from './write-context.js';

/**
 * Applies what gateways report about upstream keys (DESIGN §8 `provider-events`). Changes go
 * through write(): the key row, an audit event and ONE `routing` outbox row commit together, so
 * the new status reaches every gateway through the normal sync path.
 *
 * Ordering: every api-key event carries `at` (when the gateway observed it). An event older than
 * the key's `updated_at` is stale — an admin re-enabled or edited the key since, or a later event
 * was applied — and is ignored. Keys written here get `updated_at = at`, so the rule also orders
 * gateway events among themselves. Applying an event twice changes nothing the second time.
 *
 * Status changes are announced to `/admin/webhooks` subscribers (src/domain/status-events.ts):
 * `api_key.disabled` when an auto-ban disables an enabled key, `key.exhausted` when a key becomes
 * exhausted, `master.exhausted` when a master's quota_used crosses its limit. Only on the change
 * itself: a repeated event, or a longer ban of a key already banned, publishes nothing.
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

/** A child key's or master's lifetime quota ran out at a gateway (issue #6). */
export interface QuotaExhaustedEvent {
  type: 'quota_exhausted';
  subject: 'key' | 'master';
  id: number;
  /** The gateway's live spend counter when it refused, µ$. */
  spent_micros: number;
  at: string;
}

export type ProviderEventInput = ApiKeyEvent | AlertEvent | QuotaExhaustedEvent;

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
  /** Publishes status events (inside the write, its last step); left out, none are published. */
  events?: StatusEventPublisher;
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
  if (event.type === 'quota_exhausted') return write(deps.write, GATEWAY_WRITER, (unit) => applyQuotaExhausted(unit, event, deps.events));
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
        // Announced when the key goes from routable to banned, not when a ban is only extended.
        if (plan.kind === 'ban' && key!.status !== 'auto_disabled') {
          const { ban_reason, ban_until } = plan.values;
          const change = { api_key_id: key!.id, provider_group_id: key!.group_id, reason: ban_reason ?? 'auto_ban', source: 'auto_ban' as const };
          await publishStatusEvent(unit.trx, deps.events, apiKeyDisabledEvent({ ...change, until: ban_until, at: event.at }));
        }
        return { applied: true, outcome: plan.kind === 'ban' ? 'key auto-disabled' : 'ban lifted' };
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// quota_exhausted (docs/budgets.md "Control plane")
// ---------------------------------------------------------------------------------------------

/**
 * How long after a quota reset reached Redis an event is still presumed to carry the counter from
 * before the reset (the apply's processed_at is taken when its transaction starts, before the Redis
 * write, and gateway clocks drift a little). A real exhaustion in that window is reported again by
 * the gateway (about once a minute) and applied then.
 */
export const RESET_GRACE_MS = 5_000;

/** The quota fields of a key (status) or master (no status) an event is decided on. */
export interface QuotaState {
  status?: KeyStatus;
  quota_limit: number;
  quota_used: number;
}

export type QuotaPlan = { kind: 'skip'; reason: string } | { kind: 'record'; quota_used: number; exhaust: boolean; crossed: boolean };

const quotaSkip = (reason: string): QuotaPlan => ({ kind: 'skip', reason });

/**
 * What a `quota_exhausted` event does (pure): raise quota_used to the reported spend (never lower
 * it) and, for an active key whose lifetime quota is used up, mark it exhausted. An event that
 * predates a quota reset (or races one not yet applied) is stale: it carries the old counter.
 */
export function planQuotaEvent(state: QuotaState | undefined, reset: QuotaResetState | undefined, event: Pick<QuotaExhaustedEvent, 'spent_micros' | 'at'>): QuotaPlan {
  if (!state) return quotaSkip('unknown key or master');
  if (reset?.pending) return quotaSkip('stale: a quota reset is not applied yet');
  if (reset?.appliedAt && new Date(event.at).getTime() < reset.appliedAt.getTime() + RESET_GRACE_MS) return quotaSkip('stale: observed before the quota was reset');
  const used = Math.max(state.quota_used, event.spent_micros);
  const limited = state.quota_limit >= 0 && used >= state.quota_limit;
  const exhaust = state.status === 'active' && limited;
  const crossed = limited && !(state.quota_limit >= 0 && state.quota_used >= state.quota_limit);
  if (used === state.quota_used && !exhaust) return quotaSkip('already recorded');
  return { kind: 'record', quota_used: used, exhaust, crossed };
}

async function applyQuotaExhausted(unit: WriteUnit, event: QuotaExhaustedEvent, events: StatusEventPublisher | undefined): Promise<ProviderEventResult> {
  const { trx } = unit;
  // Lock order master → key, as every key write does (docs/control-plane.md).
  const masterId = event.subject === 'master' ? event.id : (await findKeyById(trx, event.id))?.master_id;
  const master = masterId === undefined ? undefined : await lockMaster(trx, masterId);
  const key = event.subject === 'key' && master ? await lockKey(trx, event.id) : undefined;
  const state: QuotaState | undefined =
    event.subject === 'master' ? master && { quota_limit: master.quota_limit, quota_used: master.quota_used } : key;
  const plan = planQuotaEvent(state, await lastQuotaReset(trx, event.subject, event.id), event);
  if (plan.kind === 'skip') return { applied: false, outcome: plan.reason };
  const details = { quota_limit: state!.quota_limit, quota_used: plan.quota_used, spent_micros: event.spent_micros, at: event.at };
  if (event.subject === 'master') {
    await raiseMasterQuotaUsed(trx, event.id, event.spent_micros);
    // Masters have no exhausted status: the gateway refuses their traffic on the live counter.
    if (plan.crossed) {
      await unit.audit('master.quota_exhausted', { type: 'master', id: event.id }, details);
      await publishStatusEvent(unit.trx, events, masterExhaustedEvent(event.id, { quota_used: plan.quota_used, quota_limit: state!.quota_limit, at: event.at }));
    }
    return { applied: true, outcome: 'master quota_used recorded' };
  }
  await raiseKeyQuotaUsed(trx, event.id, event.spent_micros);
  if (!plan.exhaust) return { applied: true, outcome: 'key quota_used recorded' };
  const row = (await updateKey(trx, event.id, { status: 'exhausted' }))!;
  await unit.audit('key.exhausted', { type: 'key', id: event.id }, { master_id: row.master_id, ...details });
  await unit.sync({ resource: 'key', id: row.id, digest: row.key_digest, action: 'upsert' });
  await publishStatusEvent(unit.trx, events, keyExhaustedEvent(row, { quota_used: plan.quota_used, quota_limit: state!.quota_limit, at: event.at }));
  return { applied: true, outcome: 'key exhausted' };
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
