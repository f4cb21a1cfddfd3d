import { raiseAlert, type RaiseOutcome } from '../../db/alerts.repository.js';
import type { WebhookDelivery } from '../webhook-delivery.js';
import { announceAlert, announcePending, escalationPending } from './announce.js';
import { loadThresholds } from './alerts.service.js';
import { collectFigures, type FigureDeps } from './figures.js';
import { evaluateRules, type Finding } from './rules.js';

/**
 * One detector tick (the `alerts` queue, every minute; docs/alerts.md): load the thresholds,
 * measure, apply the pure rules, record each finding through the dedup of alerts.repository
 * (so a condition that lasts is one alert whose count grows), announce the new ones and the ones
 * that became more severe (warning → critical: `alert.escalated`), then publish whatever
 * announcement is still pending. Idempotent enough for retries: a re-run inside
 * the cooldown only bumps counts, and announcements are deduplicated by event id.
 */

export interface DetectorDeps extends FigureDeps {
  /** Enqueues one `webhooks` delivery (jobId = webhookJobId(delivery)). */
  enqueue(delivery: WebhookDelivery): Promise<void>;
}

export interface DetectorResult {
  findings: number;
  /** Ids of the alerts this tick created. */
  created: number[];
  deduplicated: number;
  suppressed: number;
  /** Announcements published by this tick (new alerts and earlier pending ones). */
  announced: { created: number; resolved: number };
  /** `alert.escalated` announcements published by this tick (its own findings and earlier pending ones). */
  escalated: number;
}

/** The audit actor of alerts the detector creates. */
const DETECTOR_ACTOR = { actor_type: 'system' as const, actor_id: 'alerts-detector', request_id: null, ip: null };

export async function runAlertDetector(deps: DetectorDeps): Promise<DetectorResult> {
  const thresholds = await loadThresholds(deps.knex);
  const figures = await collectFigures(deps, thresholds);
  const findings = evaluateRules(figures, thresholds);
  const counts: Record<RaiseOutcome, number> = { created: 0, deduplicated: 0, suppressed: 0 };
  const created: number[] = [];
  const now = deps.now();
  const announcer = { knex: deps.knex, enqueue: deps.enqueue, now: deps.now };
  let announcedNow = 0;
  let escalatedNow = 0;
  // A failed announcement stays pending; announcePending below retries it (and fails the tick if it still cannot).
  const tryAnnounce = (kind: 'created' | 'escalated', row: Parameters<typeof announceAlert>[2]) => announceAlert(announcer, kind, row).then(() => true, () => false);
  for (const finding of findings) {
    const result = await raiseAlert(deps.knex, toRaise(finding), { actor: DETECTOR_ACTOR, now });
    counts[result.outcome]++;
    if (result.created) {
      created.push(result.alert.id);
      if (await tryAnnounce('created', result.alert)) announcedNow++;
    } else if (escalationPending(result.alert)) {
      if (await tryAnnounce('escalated', result.alert)) escalatedNow++;
    }
  }
  const pending = await announcePending(announcer);
  return {
    findings: findings.length,
    created,
    deduplicated: counts.deduplicated,
    suppressed: counts.suppressed,
    announced: { created: announcedNow + pending.created, resolved: pending.resolved },
    escalated: escalatedNow + pending.escalated,
  };
}

function toRaise(f: Finding) {
  return {
    type: f.type,
    severity: f.severity,
    title: f.title,
    message: f.message,
    fingerprint: f.fingerprint,
    related_type: f.related_type,
    related_id: f.related_id,
    metadata: { ...f.metadata, source: 'detector' },
  };
}
