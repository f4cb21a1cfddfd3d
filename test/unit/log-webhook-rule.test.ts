import { expect } from 'chai';
import {
  cooldownUntil,
  detectionWindow,
  evaluateLogWebhookRule,
  inCooldown,
  isOffending,
  messageMatcher,
  type LogWebhookRule,
  type RuleDecision,
} from '../../src/domain/log-webhook-rule.js';

const RULE: LogWebhookRule = {
  error_count_threshold: 5,
  window_seconds: 300,
  status_code_threshold: 500,
  error_message_match: null,
  error_message_match_type: 'substring',
  cooldown_seconds: 600,
};
const NOW = new Date('2026-11-22T12:00:00.000Z');
const ago = (seconds: number) => new Date(NOW.getTime() - seconds * 1_000);

describe('log webhook rule', () => {
  describe('evaluateLogWebhookRule', () => {
    const cases: Array<{ name: string; enabled?: boolean; count: number; lastFiredAt?: Date | null; rule?: Partial<LogWebhookRule>; want: RuleDecision['reason'] }> = [
      { name: 'a quiet window never fires', count: 0, want: 'below_threshold' },
      { name: 'a quiet window never fires, even with threshold 1', count: 0, rule: { error_count_threshold: 1 }, want: 'below_threshold' },
      { name: 'below the threshold', count: 4, want: 'below_threshold' },
      { name: 'at the threshold fires', count: 5, want: 'threshold_crossed' },
      { name: 'above the threshold fires', count: 500, want: 'threshold_crossed' },
      { name: 'threshold 1 fires on one error', count: 1, rule: { error_count_threshold: 1 }, want: 'threshold_crossed' },
      { name: 'never fired: no cooldown', count: 5, lastFiredAt: null, want: 'threshold_crossed' },
      { name: 'inside the cooldown (just fired)', count: 50, lastFiredAt: ago(0), want: 'cooldown' },
      { name: 'inside the cooldown (1 s left)', count: 50, lastFiredAt: ago(599), want: 'cooldown' },
      { name: 'the cooldown ends exactly now', count: 50, lastFiredAt: ago(600), want: 'threshold_crossed' },
      { name: 'after the cooldown', count: 50, lastFiredAt: ago(3_600), want: 'threshold_crossed' },
      { name: 'after the cooldown but quiet', count: 0, lastFiredAt: ago(3_600), want: 'below_threshold' },
      { name: 'inside the cooldown and quiet', count: 0, lastFiredAt: ago(10), want: 'cooldown' },
      { name: 'disabled never fires', enabled: false, count: 500, want: 'disabled' },
      { name: 'a shorter cooldown has ended', count: 5, lastFiredAt: ago(120), rule: { cooldown_seconds: 60 }, want: 'threshold_crossed' },
      { name: 'a fired_at in the future (clock skew) keeps the cooldown', count: 5, lastFiredAt: new Date(NOW.getTime() + 60_000), want: 'cooldown' },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const decision = evaluateLogWebhookRule({ enabled: c.enabled ?? true, rule: { ...RULE, ...c.rule }, count: c.count, lastFiredAt: c.lastFiredAt ?? null, now: NOW });
        expect(decision.reason).to.equal(c.want);
        expect(decision.fire).to.equal(c.want === 'threshold_crossed');
      });
    }

    it('reports when the cooldown ends', () => {
      const decision = evaluateLogWebhookRule({ enabled: true, rule: RULE, count: 50, lastFiredAt: ago(100), now: NOW });
      expect(decision).to.deep.equal({ fire: false, reason: 'cooldown', cooldown_until: new Date(NOW.getTime() + 500_000) });
    });
  });

  it('cooldownUntil / inCooldown / detectionWindow', () => {
    expect(cooldownUntil(null, 600)).to.equal(null);
    expect(cooldownUntil(ago(100), 600)?.toISOString()).to.equal('2026-11-22T12:08:20.000Z');
    expect(inCooldown(null, 600, NOW)).to.equal(false);
    expect(inCooldown(ago(599), 600, NOW)).to.equal(true);
    expect(inCooldown(ago(600), 600, NOW)).to.equal(false);
    expect(detectionWindow({ window_seconds: 300 }, NOW)).to.deep.equal({ since: ago(300), until: NOW });
  });

  describe('isOffending', () => {
    const cases: Array<{ name: string; status: number | null; message?: string | null; rule?: Partial<LogWebhookRule>; want: boolean }> = [
      { name: '500 at threshold 500', status: 500, want: true },
      { name: '503 above threshold 500', status: 503, want: true },
      { name: '499 below threshold 500', status: 499, want: false },
      { name: '200 never', status: 200, want: false },
      { name: '429 at threshold 429', status: 429, rule: { status_code_threshold: 429 }, want: true },
      { name: '404 at threshold 400', status: 404, rule: { status_code_threshold: 400 }, want: true },
      { name: '404 below threshold 429', status: 404, rule: { status_code_threshold: 429 }, want: false },
      { name: 'status 0 (client went away) never', status: 0, rule: { status_code_threshold: 400 }, want: false },
      { name: 'null status never', status: null, want: false },
      { name: 'substring matches', status: 502, message: 'Upstream timed out after 30 s', rule: { error_message_match: 'timed out' }, want: true },
      { name: 'substring is case-insensitive', status: 502, message: 'Upstream TIMED OUT', rule: { error_message_match: 'timed out' }, want: true },
      { name: 'substring does not match', status: 502, message: 'connection refused', rule: { error_message_match: 'timed out' }, want: false },
      { name: 'a match needs a message', status: 502, message: null, rule: { error_message_match: 'timed out' }, want: false },
      { name: 'a match still needs the status', status: 400, message: 'timed out', rule: { error_message_match: 'timed out' }, want: false },
      { name: 'regex matches', status: 500, message: 'upstream 503: overloaded', rule: { error_message_match: 'upstream 5\\d\\d', error_message_match_type: 'regex' }, want: true },
      { name: 'regex is case-insensitive', status: 500, message: 'RATE LIMIT exceeded', rule: { error_message_match: '^rate limit', error_message_match_type: 'regex' }, want: true },
      { name: 'regex does not match', status: 500, message: 'upstream 429', rule: { error_message_match: 'upstream 5\\d\\d', error_message_match_type: 'regex' }, want: false },
      { name: 'regex text as substring is literal', status: 500, message: 'upstream 503', rule: { error_message_match: 'upstream 5\\d\\d' }, want: false },
      { name: 'an unsafe regex matches nothing', status: 500, message: 'aaaa', rule: { error_message_match: '(a+)+$', error_message_match_type: 'regex' }, want: false },
      { name: 'no match configured: any message', status: 500, message: null, want: true },
      { name: 'an empty match counts as none', status: 500, message: null, rule: { error_message_match: '' }, want: true },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const rule = { ...RULE, ...c.rule };
        expect(isOffending({ status_code: c.status, error_message: c.message ?? null }, rule, messageMatcher(rule))).to.equal(c.want);
      });
    }
  });
});
