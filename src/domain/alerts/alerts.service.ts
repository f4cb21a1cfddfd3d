import type { Knex } from 'knex';
import {
  countAlerts,
  findAlert,
  getThresholdsRow,
  insertAlert,
  listAlerts,
  lockThresholds,
  putThresholdsRow,
  raiseAlert,
  transitionAlert,
  ALERT_SEVERITIES,
  ALERT_STATUSES,
  type AlertAction,
  type AlertFilters,
  type AlertRow,
  type AlertSeverity,
  type AlertStatus,
  type RaiseAlert,
  type RaiseOutcome,
} from '../../db/alerts.repository.js';
import { InvalidTransitionError, NotFoundError } from '../../lib/errors.js';
import type { WebhookDelivery } from '../webhook-delivery.js';
import { write, type WriteContext, type WriteDeps } from '../write-context.js';
import { announceAlert, escalationPending, type AnnouncementKind } from './announce.js';
import { toAlertDto, type AlertDto } from './dto.js';
import { DEFAULT_THRESHOLDS, mergeThresholds, resolveThresholds, storedOverrides, type AlertThresholds, type ThresholdsPatch } from './thresholds.js';

/**
 * `/admin/alerts` and `POST /internal/alerts/report` (docs/alerts.md). Writes commit with their
 * audit event (alerts need no sync outbox: gateways never read them); a new alert, an open alert
 * that became more severe (`alert.escalated`), and a resolve are then announced to webhook subscribers. An announcement that fails after commit is logged and
 * left pending: the detector tick publishes it within a minute.
 */

export interface AlertsDeps {
  write: WriteDeps;
  /** Enqueues one `webhooks` delivery. Left out: announcements wait for the detector tick. */
  enqueue?: (delivery: WebhookDelivery) => Promise<void>;
  now: () => Date;
  onAnnounceError?: (err: unknown) => void;
}

export type { AlertDto } from './dto.js';

/** Which statuses each action may start from (anything else is a 409 `invalid_transition`). */
export const TRANSITIONS: Record<AlertAction, readonly AlertStatus[]> = {
  acknowledge: ['active'],
  resolve: ['active', 'acknowledged'],
  dismiss: ['active', 'acknowledged'],
};

/** The action's target status, for messages, errors and audit. */
export const TARGET: Record<AlertAction, AlertStatus> = { acknowledge: 'acknowledged', resolve: 'resolved', dismiss: 'dismissed' };

/** Why `action` cannot apply to an alert in `status`; null when it can. Pure. */
export function transitionProblem(action: AlertAction, status: AlertStatus): string | null {
  if (TRANSITIONS[action].includes(status)) return null;
  if (status === TARGET[action]) return `the alert is already ${status}`;
  return `the alert is ${status}; ${action} applies to ${TRANSITIONS[action].join(' or ')} alerts`;
}

const actorName = (ctx: WriteContext) => `${ctx.actor.type}:${ctx.actor.id}`;
const auditActor = (ctx: WriteContext) => ({ actor_type: ctx.actor.type, actor_id: ctx.actor.id, request_id: ctx.requestId ?? null, ip: ctx.ip ?? null });

async function announce(deps: AlertsDeps, kind: AnnouncementKind, row: AlertRow): Promise<void> {
  if (!deps.enqueue) return;
  try {
    await announceAlert({ knex: deps.write.knex, enqueue: deps.enqueue, now: deps.now }, kind, row);
  } catch (err) {
    deps.onAnnounceError?.(err);
  }
}

// --- reads -------------------------------------------------------------------------------------

export interface ListAlertsInput extends AlertFilters {
  limit: number;
  cursor?: number;
}

export async function listAlertsPage(knex: Knex, input: ListAlertsInput): Promise<{ data: AlertDto[]; next_cursor: number | null }> {
  const { limit, cursor, ...filters } = input;
  // One row more than asked tells whether another page exists.
  const rows = await listAlerts(knex, filters, { limit: limit + 1, ...(cursor !== undefined ? { before: cursor } : {}) });
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { data: page.map(toAlertDto), next_cursor: rows.length > limit && last ? last.id : null };
}

export async function getAlert(knex: Knex, id: number): Promise<AlertDto> {
  const row = await findAlert(knex, id);
  if (!row) throw new NotFoundError('alert', id);
  return toAlertDto(row);
}

export interface AlertStats {
  since: string | null;
  total: number;
  /** Active + acknowledged. */
  open: number;
  by_status: Record<AlertStatus, number>;
  by_severity: Record<AlertSeverity, number>;
  /** Open alerts per severity. */
  open_by_severity: Record<AlertSeverity, number>;
  by_type: Record<string, number>;
}

const zeros = <K extends string>(keys: readonly K[]) => Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;

export async function alertStats(knex: Knex, input: { since?: Date }): Promise<AlertStats> {
  const rows = await countAlerts(knex, input.since ? { since: input.since } : {});
  const stats: AlertStats = {
    since: input.since?.toISOString() ?? null,
    total: 0,
    open: 0,
    by_status: zeros(ALERT_STATUSES),
    by_severity: zeros(ALERT_SEVERITIES),
    open_by_severity: zeros(ALERT_SEVERITIES),
    by_type: {},
  };
  for (const r of rows) {
    stats.total += r.count;
    stats.by_status[r.status] += r.count;
    stats.by_severity[r.severity] += r.count;
    stats.by_type[r.type] = (stats.by_type[r.type] ?? 0) + r.count;
    if (r.status === 'active' || r.status === 'acknowledged') {
      stats.open += r.count;
      stats.open_by_severity[r.severity] += r.count;
    }
  }
  return stats;
}

// --- writes ------------------------------------------------------------------------------------

export interface ReportInput extends Omit<RaiseAlert, 'fingerprint'> {
  fingerprint?: string | undefined;
}

export interface ReportResult {
  outcome: RaiseOutcome;
  created: boolean;
  alert: AlertDto;
}

/**
 * Records an alert: with a fingerprint it is deduplicated (docs/alerts.md "Dedup and cooldown");
 * without one (manual alerts only) it is always new. Announces it when it is new, and an open
 * alert the report made more severe than subscribers last heard (`alert.escalated`, once per step).
 */
export async function reportAlert(deps: AlertsDeps, ctx: WriteContext, input: ReportInput): Promise<ReportResult> {
  const now = deps.now();
  let result: { outcome: RaiseOutcome; created: boolean; alert: AlertRow };
  if (input.fingerprint !== undefined) {
    result = await raiseAlert(deps.write.knex, { ...input, fingerprint: input.fingerprint }, { actor: auditActor(ctx), now });
  } else {
    const { fingerprint: _none, ...alert } = input;
    const row = await write(deps.write, ctx, async (unit) => {
      const inserted = await insertAlert(unit.trx, alert, now);
      await unit.audit('alert.create', { type: 'alert', id: inserted.id }, { type: inserted.type, severity: inserted.severity, fingerprint: null });
      return inserted;
    });
    result = { outcome: 'created', created: true, alert: row };
  }
  if (result.created) await announce(deps, 'created', result.alert);
  else if (escalationPending(result.alert)) await announce(deps, 'escalated', result.alert);
  return { outcome: result.outcome, created: result.created, alert: toAlertDto(result.alert) };
}

/** Acknowledges, resolves or dismisses an alert (who and when recorded); 404 unknown, 409 `invalid_transition`. */
export async function transition(deps: AlertsDeps, ctx: WriteContext, id: number, action: AlertAction): Promise<AlertDto> {
  const now = deps.now();
  const row = await write(deps.write, ctx, async (unit) => {
    const updated = await transitionAlert(unit.trx, id, action, TRANSITIONS[action], actorName(ctx), now);
    if (!updated) {
      const current = await findAlert(unit.trx, id);
      if (!current) throw new NotFoundError('alert', id);
      throw new InvalidTransitionError(`Cannot ${action} alert ${id}: ${transitionProblem(action, current.status) ?? 'its status changed meanwhile'}`, {
        field: 'status',
        from: current.status,
        to: TARGET[action],
      });
    }
    await unit.audit(`alert.${action}`, { type: 'alert', id }, { status: updated.status, type: updated.type, fingerprint: updated.fingerprint });
    return updated;
  });
  if (action === 'resolve') await announce(deps, 'resolved', row);
  return toAlertDto(row);
}

// --- thresholds --------------------------------------------------------------------------------

export interface ThresholdsDto {
  /** Every threshold in effect (stored values, defaults for the rest). */
  thresholds: AlertThresholds;
  defaults: AlertThresholds;
  /** The thresholds an admin set (the others follow the defaults, also when those change). */
  overrides: Partial<AlertThresholds>;
  updated_at: string | null;
  updated_by: string | null;
}

export async function loadThresholds(knex: Knex): Promise<AlertThresholds> {
  return resolveThresholds((await getThresholdsRow(knex))?.thresholds);
}

export async function getThresholds(knex: Knex): Promise<ThresholdsDto> {
  const row = await getThresholdsRow(knex);
  return {
    thresholds: resolveThresholds(row?.thresholds),
    defaults: { ...DEFAULT_THRESHOLDS },
    overrides: storedOverrides(row?.thresholds),
    updated_at: row?.updated_at.toISOString() ?? null,
    updated_by: row?.updated_by ?? null,
  };
}

/** Merges a patch into the stored thresholds (`null` resets one to its default). */
export async function updateThresholds(deps: AlertsDeps, ctx: WriteContext, patch: ThresholdsPatch): Promise<ThresholdsDto> {
  const now = deps.now();
  const row = await write(deps.write, ctx, async (unit) => {
    await lockThresholds(unit.trx);
    const current = await getThresholdsRow(unit.trx, { forUpdate: true });
    const next = mergeThresholds(storedOverrides(current?.thresholds), patch);
    const saved = await putThresholdsRow(unit.trx, next, actorName(ctx), now);
    await unit.audit('alert_thresholds.update', { type: 'alert_thresholds', id: 1 }, { changed: patch });
    return saved;
  });
  return {
    thresholds: resolveThresholds(row.thresholds),
    defaults: { ...DEFAULT_THRESHOLDS },
    overrides: storedOverrides(row.thresholds),
    updated_at: row.updated_at.toISOString(),
    updated_by: row.updated_by,
  };
}
