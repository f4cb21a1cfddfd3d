import { compileSelectorRegex } from './sync/projections.js';

/**
 * The log webhook's threshold rule (`GET|PUT /admin/log-webhook`), pure: no clock, no I/O.
 * Table-tested in test/unit/log-webhook-rule.test.ts; the detector (src/domain/log-webhook.service.ts)
 * feeds it the window's aggregate read from `request_logs`.
 *
 * - A request log is *offending* when its status code is at least `status_code_threshold` (a
 *   record with status 0 — nothing was answered, the client went away — never is) and, when
 *   `error_message_match` is set, its (already redacted) error message matches it: a
 *   case-insensitive substring, or a case-insensitive JavaScript regex that passes the same
 *   safety check as binding selectors (no nested quantifiers, ≤ 256 characters).
 * - The rule fires when the offending records of the last `window_seconds` number at least
 *   `error_count_threshold` (≥ 1, so a quiet window never fires), unless the previous firing is
 *   less than `cooldown_seconds` ago. While the condition holds past the cooldown it fires again
 *   (a reminder that the errors go on), at most once per cooldown.
 */

export type MessageMatchType = 'substring' | 'regex';

export interface LogWebhookRule {
  error_count_threshold: number;
  window_seconds: number;
  status_code_threshold: number;
  error_message_match: string | null;
  error_message_match_type: MessageMatchType;
  cooldown_seconds: number;
}

export type RuleDecision =
  | { fire: true; reason: 'threshold_crossed' }
  | { fire: false; reason: 'disabled' }
  | { fire: false; reason: 'cooldown'; cooldown_until: Date }
  | { fire: false; reason: 'below_threshold' };

export interface RuleInput {
  enabled: boolean;
  rule: LogWebhookRule;
  /** Offending records in the window (see the module comment). */
  count: number;
  /** When the webhook last fired (null: never). */
  lastFiredAt: Date | null;
  now: Date;
}

/** When the cooldown of the last firing ends (null: never fired, no cooldown). */
export function cooldownUntil(lastFiredAt: Date | null, cooldownSeconds: number): Date | null {
  return lastFiredAt ? new Date(lastFiredAt.getTime() + cooldownSeconds * 1_000) : null;
}

/** True while `now` is inside the cooldown of the last firing (the end instant is outside). */
export function inCooldown(lastFiredAt: Date | null, cooldownSeconds: number, now: Date): boolean {
  const until = cooldownUntil(lastFiredAt, cooldownSeconds);
  return until !== null && now.getTime() < until.getTime();
}

/** Fire or not: disabled, then cooldown, then the threshold (a zero count never fires). */
export function evaluateLogWebhookRule(input: RuleInput): RuleDecision {
  const { enabled, rule, count, lastFiredAt, now } = input;
  if (!enabled) return { fire: false, reason: 'disabled' };
  const until = cooldownUntil(lastFiredAt, rule.cooldown_seconds);
  if (until && now.getTime() < until.getTime()) return { fire: false, reason: 'cooldown', cooldown_until: until };
  if (count <= 0 || count < rule.error_count_threshold) return { fire: false, reason: 'below_threshold' };
  return { fire: true, reason: 'threshold_crossed' };
}

/** The window the rule looks at: (now − window_seconds, now]. */
export function detectionWindow(rule: Pick<LogWebhookRule, 'window_seconds'>, now: Date): { since: Date; until: Date } {
  return { since: new Date(now.getTime() - rule.window_seconds * 1_000), until: now };
}

/** Compiles a regex match (case-insensitive); undefined when it is invalid or unsafe. */
export function compileMessageRegex(source: string): RegExp | undefined {
  const checked = compileSelectorRegex(source);
  return checked ? new RegExp(checked.source, 'i') : undefined;
}

/** The error-message test of a rule; `null` messages only pass when no match is configured. */
export function messageMatcher(rule: Pick<LogWebhookRule, 'error_message_match' | 'error_message_match_type'>): (message: string | null) => boolean {
  const match = rule.error_message_match;
  if (match === null || match === '') return () => true;
  if (rule.error_message_match_type === 'regex') {
    const pattern = compileMessageRegex(match);
    // A stored regex is checked on PUT; one that no longer compiles matches nothing rather than everything.
    if (!pattern) return () => false;
    return (message) => message !== null && pattern.test(message);
  }
  const needle = match.toLowerCase();
  return (message) => message !== null && message.toLowerCase().includes(needle);
}

/** Whether one request log counts against the rule. */
export function isOffending(
  record: { status_code: number | null; error_message: string | null },
  rule: Pick<LogWebhookRule, 'status_code_threshold'>,
  matches: (message: string | null) => boolean,
): boolean {
  const status = record.status_code;
  return status !== null && status > 0 && status >= rule.status_code_threshold && matches(record.error_message);
}
