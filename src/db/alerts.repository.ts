import type { Knex } from 'knex';
import { insertAuditEvent, type AuditEventInput } from './audit.repository.js';

/**
 * SQL for `alerts` and `alert_thresholds` (docs/alerts.md). Reports are deduplicated by
 * fingerprint here, in one transaction, so every producer (detector, api, sync worker, gateway
 * events) follows the same rule:
 *
 * 1. an OPEN alert (active or acknowledged) with the fingerprint absorbs the report, whatever its
 *    age: count + 1, last_seen_at, latest title/message/metadata, severity raised (never lowered);
 * 2. else a CLOSED alert absorbs it during the cooldown (ALERT_COOLDOWN_MS, 5 min): a dismissed one
 *    while reports keep arriving less than 5 min apart (last_seen_at slides: "mute this while it
 *    lasts"), a resolved one for 5 min after it was resolved (lagging data from before the fix);
 * 3. else a new alert. The unique partial index `alerts_open_fingerprint_uq` makes concurrent
 *    inserts of one fingerprint end in one row: the loser's ON CONFLICT bumps the winner's.
 */

export type AlertSeverity = 'info' | 'warning' | 'critical';
export type AlertStatus = 'active' | 'acknowledged' | 'resolved' | 'dismissed';

export const ALERT_SEVERITIES = ['info', 'warning', 'critical'] as const satisfies readonly AlertSeverity[];
export const ALERT_STATUSES = ['active', 'acknowledged', 'resolved', 'dismissed'] as const satisfies readonly AlertStatus[];
export const OPEN_STATUSES = ['active', 'acknowledged'] as const satisfies readonly AlertStatus[];

/** A closed alert keeps absorbing reports of its fingerprint this long (ms). */
export const ALERT_COOLDOWN_MS = 5 * 60_000;

export interface RaiseAlert {
  type: string;
  severity: AlertSeverity;
  title: string;
  message: string;
  /** Reports with the same fingerprint are one alert (see the module comment). */
  fingerprint: string;
  related_type?: string;
  related_id?: string;
  metadata?: Record<string, unknown>;
}

export interface AlertRow {
  id: number;
  type: string;
  severity: AlertSeverity;
  status: AlertStatus;
  title: string;
  message: string;
  fingerprint: string | null;
  related_type: string | null;
  related_id: string | null;
  metadata: Record<string, unknown>;
  /** Reports folded into this alert (1 = only the first). */
  count: number;
  first_seen_at: Date;
  last_seen_at: Date;
  acknowledged_at: Date | null;
  acknowledged_by: string | null;
  resolved_at: Date | null;
  resolved_by: string | null;
  dismissed_at: Date | null;
  dismissed_by: string | null;
  announced_at: Date | null;
  resolved_announced_at: Date | null;
  /** The severity subscribers last heard (`alert.created`, then each `alert.escalated`); null before the first announcement. */
  announced_severity: AlertSeverity | null;
  created_at: Date;
  updated_at: Date;
}

/** `created`: a new row; `deduplicated`: an open alert absorbed it; `suppressed`: a closed one did (cooldown). */
export type RaiseOutcome = 'created' | 'deduplicated' | 'suppressed';

export interface RaiseResult {
  outcome: RaiseOutcome;
  created: boolean;
  alert: AlertRow;
}

export interface RaiseOptions {
  /** Recorded on the `alert.create` audit event of a new alert. Default: system `alerts`. */
  actor?: Pick<AuditEventInput, 'actor_type' | 'actor_id' | 'request_id' | 'ip'>;
  /** The clock (default: now). */
  now?: Date;
}

const RANK = (expr: string) => `array_position(array['info','warning','critical']::text[], ${expr})`;
/** Raises the stored severity to the reported one when that is higher. */
const SEVERITY_UP = `case when ${RANK('?::text')} > ${RANK('severity::text')} then ? else severity end`;
const SEVERITY_UP_EXCLUDED = `case when ${RANK('excluded.severity::text')} > ${RANK('alerts.severity::text')} then excluded.severity else alerts.severity end`;

function bumpValues(trx: Knex.Transaction, alert: RaiseAlert, now: Date) {
  return {
    count: trx.raw('count + 1'),
    last_seen_at: now,
    updated_at: now,
    severity: trx.raw(SEVERITY_UP, [alert.severity, alert.severity]),
    title: alert.title,
    message: alert.message,
    metadata: JSON.stringify(alert.metadata ?? {}),
  };
}

/** Records one report of an alert (dedup + cooldown, see the module comment). */
export async function raiseAlert(db: Knex | Knex.Transaction, alert: RaiseAlert, options: RaiseOptions = {}): Promise<RaiseResult> {
  const now = options.now ?? new Date();
  return db.transaction(async (trx) => {
    const open = (await trx('alerts').first('id').where('fingerprint', alert.fingerprint).whereIn('status', OPEN_STATUSES).forUpdate()) as { id: number } | undefined;
    if (open) {
      const [row] = (await trx('alerts').where('id', open.id).update(bumpValues(trx, alert, now)).returning('*')) as AlertRow[];
      return { outcome: 'deduplicated', created: false, alert: row! };
    }
    const cutoff = new Date(now.getTime() - ALERT_COOLDOWN_MS);
    const closed = (await trx('alerts')
      .first('id')
      .where('fingerprint', alert.fingerprint)
      .where((q) => q.where({ status: 'dismissed' }).andWhere('last_seen_at', '>=', cutoff).orWhere((r) => r.where({ status: 'resolved' }).andWhere('resolved_at', '>=', cutoff)))
      .orderBy('id', 'desc')
      .forUpdate()) as { id: number } | undefined;
    if (closed) {
      const [row] = (await trx('alerts').where('id', closed.id).update(bumpValues(trx, alert, now)).returning('*')) as AlertRow[];
      return { outcome: 'suppressed', created: false, alert: row! };
    }
    const { rows } = await trx.raw<{ rows: Array<AlertRow & { inserted: boolean }> }>(
      `insert into alerts (type, severity, title, message, fingerprint, related_type, related_id, metadata, first_seen_at, last_seen_at, created_at, updated_at)
       values (?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?, ?, ?)
       on conflict (fingerprint) where fingerprint is not null and status in ('active', 'acknowledged')
       do update set count = alerts.count + 1, last_seen_at = excluded.last_seen_at, updated_at = excluded.updated_at,
                     severity = ${SEVERITY_UP_EXCLUDED}, title = excluded.title, message = excluded.message, metadata = excluded.metadata
       returning *, (xmax = 0) as inserted`,
      [
        alert.type,
        alert.severity,
        alert.title,
        alert.message,
        alert.fingerprint,
        alert.related_type ?? null,
        alert.related_id ?? null,
        JSON.stringify(alert.metadata ?? {}),
        now,
        now,
        now,
        now,
      ],
    );
    const { inserted, ...row } = rows[0]!;
    if (!inserted) return { outcome: 'deduplicated', created: false, alert: row };
    await insertAuditEvent(trx, {
      actor_type: options.actor?.actor_type ?? 'system',
      actor_id: options.actor?.actor_id ?? 'alerts',
      action: 'alert.create',
      object_type: 'alert',
      object_id: String(row.id),
      metadata: { type: row.type, severity: row.severity, fingerprint: row.fingerprint },
      request_id: options.actor?.request_id ?? null,
      ip: options.actor?.ip ?? null,
    });
    return { outcome: 'created', created: true, alert: row };
  });
}

/** A manual alert without a fingerprint: always a new row (NULL fingerprints never dedupe). */
export async function insertAlert(trx: Knex.Transaction, alert: Omit<RaiseAlert, 'fingerprint'>, now: Date): Promise<AlertRow> {
  const [row] = (await trx('alerts')
    .insert({
      type: alert.type,
      severity: alert.severity,
      title: alert.title,
      message: alert.message,
      related_type: alert.related_type ?? null,
      related_id: alert.related_id ?? null,
      metadata: JSON.stringify(alert.metadata ?? {}),
      first_seen_at: now,
      last_seen_at: now,
      created_at: now,
      updated_at: now,
    })
    .returning('*')) as AlertRow[];
  return row!;
}

export async function findAlert(db: Knex | Knex.Transaction, id: number): Promise<AlertRow | undefined> {
  return db<AlertRow>('alerts').where('id', id).first();
}

export interface AlertFilters {
  status?: readonly AlertStatus[];
  severity?: readonly AlertSeverity[];
  type?: string;
  related_type?: string;
  related_id?: string;
  fingerprint?: string;
  /** last_seen_at ≥ since. */
  since?: Date;
  /** last_seen_at < until. */
  until?: Date;
}

function applyFilters(query: Knex.QueryBuilder, filters: AlertFilters): void {
  if (filters.status?.length) query.whereIn('status', filters.status);
  if (filters.severity?.length) query.whereIn('severity', filters.severity);
  if (filters.type) query.where('type', filters.type);
  if (filters.related_type) query.where('related_type', filters.related_type);
  if (filters.related_id) query.where('related_id', filters.related_id);
  if (filters.fingerprint) query.where('fingerprint', filters.fingerprint);
  if (filters.since) query.where('last_seen_at', '>=', filters.since);
  if (filters.until) query.where('last_seen_at', '<', filters.until);
}

/** Newest first, keyset-paginated on id (`before` = the last id of the previous page). */
export async function listAlerts(db: Knex, filters: AlertFilters, page: { limit: number; before?: number }): Promise<AlertRow[]> {
  const query = db<AlertRow>('alerts').select('*').orderBy('id', 'desc').limit(page.limit);
  applyFilters(query, filters);
  if (page.before !== undefined) query.where('id', '<', page.before);
  return query as Promise<AlertRow[]>;
}

export interface AlertCountRow {
  status: AlertStatus;
  severity: AlertSeverity;
  type: string;
  count: number;
}

/** Alert counts per (status, severity, type), optionally of alerts seen since a time. */
export async function countAlerts(db: Knex, filters: Pick<AlertFilters, 'since' | 'until'>): Promise<AlertCountRow[]> {
  const query = db('alerts').select('status', 'severity', 'type').count<AlertCountRow[]>({ count: '*' }).groupBy('status', 'severity', 'type');
  applyFilters(query, filters);
  const rows = (await query) as Array<AlertCountRow & { count: number | string }>;
  return rows.map((r) => ({ ...r, count: Number(r.count) }));
}

export type AlertAction = 'acknowledge' | 'resolve' | 'dismiss';

const ACTION_COLUMNS: Record<AlertAction, { status: AlertStatus; at: string; by: string }> = {
  acknowledge: { status: 'acknowledged', at: 'acknowledged_at', by: 'acknowledged_by' },
  resolve: { status: 'resolved', at: 'resolved_at', by: 'resolved_by' },
  dismiss: { status: 'dismissed', at: 'dismissed_at', by: 'dismissed_by' },
};

/**
 * Moves an alert to the action's status if its current status is one of `from` (atomic: a
 * concurrent transition makes this one match nothing). Undefined when nothing matched.
 */
export async function transitionAlert(
  trx: Knex.Transaction,
  id: number,
  action: AlertAction,
  from: readonly AlertStatus[],
  by: string,
  now: Date,
): Promise<AlertRow | undefined> {
  const c = ACTION_COLUMNS[action];
  const [row] = (await trx('alerts')
    .where('id', id)
    .whereIn('status', from)
    .update({ status: c.status, [c.at]: now, [c.by]: by, updated_at: now })
    .returning('*')) as AlertRow[];
  return row;
}

// --- announcements -----------------------------------------------------------------------------

export type AnnouncementKind = 'created' | 'escalated' | 'resolved';

/**
 * Alerts whose announcement of `kind` is still to publish, oldest first: `created` — never
 * announced, created since `since`; `resolved` — resolved since `since`, resolve not announced;
 * `escalated` — open, announced, seen since `since`, and now more severe than subscribers heard.
 */
export async function pendingAnnouncements(db: Knex, kind: AnnouncementKind, options: { since: Date; limit: number }): Promise<AlertRow[]> {
  const query = db<AlertRow>('alerts').select('*').orderBy('id').limit(options.limit);
  if (kind === 'created') query.whereNull('announced_at').where('created_at', '>=', options.since);
  else if (kind === 'resolved') query.where('status', 'resolved').whereNull('resolved_announced_at').where('resolved_at', '>=', options.since);
  else {
    query
      .whereIn('status', OPEN_STATUSES)
      .whereNotNull('announced_at')
      .whereNotNull('announced_severity')
      .whereRaw(`${RANK('severity::text')} > ${RANK('announced_severity::text')}`)
      .where('last_seen_at', '>=', options.since);
  }
  return query as Promise<AlertRow[]>;
}

/**
 * Records that the announcement of `kind` was published. `created` and `escalated` also record the
 * severity they published (`announced_severity`, never lowered), so an escalation is announced once.
 */
export async function markAnnounced(db: Knex, kind: AnnouncementKind, ids: readonly number[], now: Date, severity?: AlertSeverity): Promise<void> {
  if (ids.length === 0) return;
  if (kind === 'resolved') {
    await db('alerts').whereIn('id', ids).whereNull('resolved_announced_at').update({ resolved_announced_at: now });
    return;
  }
  if (kind === 'created') await db('alerts').whereIn('id', ids).whereNull('announced_at').update({ announced_at: now });
  if (severity !== undefined) {
    await db('alerts')
      .whereIn('id', ids)
      .where((q) => q.whereNull('announced_severity').orWhereRaw(`${RANK('announced_severity::text')} < ${RANK('?::text')}`, [severity]))
      .update({ announced_severity: severity });
  }
}

// --- thresholds --------------------------------------------------------------------------------

export interface AlertThresholdsRow {
  thresholds: Record<string, unknown>;
  updated_by: string | null;
  updated_at: Date;
}

export async function getThresholdsRow(db: Knex | Knex.Transaction, options: { forUpdate?: boolean } = {}): Promise<AlertThresholdsRow | undefined> {
  const query = db<AlertThresholdsRow>('alert_thresholds').select('thresholds', 'updated_by', 'updated_at').where('id', 1).first();
  if (options.forUpdate) query.forUpdate();
  return query as Promise<AlertThresholdsRow | undefined>;
}

/** Upserts the single thresholds row (id 1); serialized by a transaction-scoped advisory lock. */
export async function putThresholdsRow(trx: Knex.Transaction, thresholds: Record<string, unknown>, updatedBy: string, now: Date): Promise<AlertThresholdsRow> {
  const json = JSON.stringify(thresholds);
  const [row] = (await trx('alert_thresholds')
    .insert({ id: 1, thresholds: json, updated_by: updatedBy, updated_at: now })
    .onConflict('id')
    .merge({ thresholds: json, updated_by: updatedBy, updated_at: now })
    .returning(['thresholds', 'updated_by', 'updated_at'])) as AlertThresholdsRow[];
  return row!;
}

export async function lockThresholds(trx: Knex.Transaction): Promise<void> {
  await trx.raw(`select pg_advisory_xact_lock(hashtext('alert_thresholds'))`);
}

// --- detector inputs ---------------------------------------------------------------------------

export interface QuotaRow {
  subject: 'key' | 'master';
  id: number;
  quota_limit: number;
  quota_used: number;
}

/** Keys (active or exhausted) and active masters that have a lifetime quota (quota_limit > 0). */
export async function quotaSubjects(db: Knex, limit: number): Promise<QuotaRow[]> {
  const { rows } = await db.raw<{ rows: QuotaRow[] }>(
    `(select 'key' as subject, id, quota_limit, quota_used from keys where quota_limit > 0 and status in ('active', 'exhausted') order by id limit ?)
     union all
     (select 'master' as subject, id, quota_limit, quota_used from masters where quota_limit > 0 and status = 'active' order by id limit ?)`,
    [limit, limit],
  );
  return rows.map((r) => ({ subject: r.subject, id: Number(r.id), quota_limit: Number(r.quota_limit), quota_used: Number(r.quota_used) }));
}
