import { expect } from 'chai';
import { queueCatalog } from '../../jobs/index.js';
import { MAX_RETRY_AFTER_MS, parseRetryAfter, webhookRetryDelayMs, WebhookDeliveryError } from '../../src/domain/webhook-delivery.js';
import { subscribes } from '../../src/domain/webhook-events.js';
import { loadConfig } from '../../src/lib/config.js';

const NOW = new Date('2026-03-01T12:00:00Z');

describe('webhook retry rules', () => {
  describe(parseRetryAfter.name, () => {
    const cases: Array<[string | undefined, number | null]> = [
      [undefined, null],
      ['', null],
      ['0', 0],
      ['2', 2_000],
      [' 120 ', 120_000],
      ['999999', MAX_RETRY_AFTER_MS],
      ['Sun, 01 Mar 2026 12:00:30 GMT', 30_000],
      ['Sun, 01 Mar 2026 11:00:00 GMT', 0],
      ['Mon, 02 Mar 2026 12:00:00 GMT', MAX_RETRY_AFTER_MS],
      ['soon', null],
      ['-5', null],
      ['1.5', null],
    ];
    for (const [input, expected] of cases) {
      it(`${JSON.stringify(input)} → ${expected}`, () => expect(parseRetryAfter(input, NOW)).to.equal(expected));
    }
  });

  describe(webhookRetryDelayMs.name, () => {
    it('doubles from the first delay: 30 s, 1, 2, 4, 8, 16, 32 min by default', () => {
      expect([1, 2, 3, 4, 5, 6, 7].map((n) => webhookRetryDelayMs(n, 30_000, null))).to.deep.equal([30_000, 60_000, 120_000, 240_000, 480_000, 960_000, 1_920_000]);
    });
    it('waits for a longer Retry-After, never shorter than the backoff', () => {
      expect(webhookRetryDelayMs(1, 30_000, 90_000)).to.equal(90_000);
      expect(webhookRetryDelayMs(3, 30_000, 5_000)).to.equal(120_000);
      expect(webhookRetryDelayMs(1, 30_000, 0)).to.equal(30_000);
    });
  });

  it('the queue backoff strategy uses the configured first delay and the error\'s Retry-After', () => {
    const strategy = queueCatalog.webhooks.backoffStrategy?.(loadConfig({ env: { EZ_WEBHOOK_BACKOFF_MS: '100' }, cwd: '/nonexistent' }));
    expect(strategy).to.be.a('function');
    expect(strategy!(1, 'webhook', new Error('boom'))).to.equal(100);
    expect(strategy!(3, 'webhook', new Error('boom'))).to.equal(400);
    expect(strategy!(1, 'webhook', new WebhookDeliveryError('429', false, 429, 5_000))).to.equal(5_000);
    expect(queueCatalog.webhooks.defaultJobOptions.backoff).to.deep.include({ type: 'webhook' });
  });

  describe(subscribes.name, () => {
    const cases: Array<[string[], string, boolean]> = [
      [[], 'alert.created', true],
      [['alert.created'], 'alert.created', true],
      [['alert.created'], 'alert.resolved', false],
      [['alert.*'], 'alert.created', true],
      [['alert.*'], 'alerts.created', false],
      [['alert.*'], 'alert', false],
      [['quota.exhausted', 'alert.*'], 'quota.exhausted', true],
    ];
    for (const [events, type, expected] of cases) {
      it(`${JSON.stringify(events)} ${expected ? 'gets' : 'does not get'} ${type}`, () => expect(subscribes(events, type)).to.equal(expected));
    }
  });
});
