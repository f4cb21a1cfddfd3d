import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { Queue, type Job } from 'bullmq';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { processAlerts } from '../../jobs/alerts/processor.js';
import type { ProcessorContext } from '../../jobs/processor-context.js';
import { raiseAlert } from '../../src/db/alerts.repository.js';
import { LimitKeys } from '../../src/gateway/limits/limit-keys.js';
import { UsageKeys } from '../../src/lib/budgets.js';
import { UpstreamStatsKeys } from '../../src/lib/stats-keys.js';
import { loadConfig } from '../../src/lib/config.js';
import { createLogger } from '../../src/lib/logger.js';
import { SecretBox } from '../../src/lib/secret-box.js';
import { seedKey, seedMaster } from '../support/gateway-fixtures.js';
import { resetDatabase, testEnv } from '../support/hooks.js';

/** The `alerts` detector over seeded aggregates in real PostgreSQL and Redis. */
describe('alerts detector', function () {
  this.timeout(30_000);
  const queuePrefix = `ez-alerts-${randomUUID().slice(0, 8)}`;
  const config = loadConfig({ env: { EZ_ENV: 'test', EZ_QUEUE_PREFIX: queuePrefix }, cwd: tmpdir() });
  const logger = createLogger({ level: 'silent' });
  const secretBox = new SecretBox('s'.repeat(40));
  const knex = () => testEnv().knex;
  let redis: Redis;
  let webhooks: Queue;
  let ctx: ProcessorContext;
  const job = () => ({ id: 'tick', data: { reason: 'tick' }, attemptsMade: 0, opts: {} }) as unknown as Job<unknown>;

  before(() => {
    redis = new Redis(testEnv().redisUrl);
    webhooks = new Queue('webhooks', { connection: redis, prefix: queuePrefix });
  });
  after(async () => {
    await webhooks.obliterate({ force: true }).catch(() => {});
    await webhooks.close();
    redis.disconnect();
  });

  async function clearRedis(): Promise<void> {
    for (const pattern of ['stats:*', 'usage:*']) {
      const keys = await redis.keys(pattern);
      if (keys.length) await redis.del(...keys);
    }
    await webhooks.obliterate({ force: true });
  }

  beforeEach(async () => {
    await resetDatabase();
    await clearRedis();
    ctx = { config, knex: knex(), redis, secretBox, logger, now: () => new Date() };
  });

  async function insertWebhook(events: string[]): Promise<number> {
    const [row] = (await knex()('webhooks').insert({ url: 'http://127.0.0.1:9/hook', events, secret_ciphertext: Buffer.alloc(1), secret_nonce: Buffer.alloc(1) }).returning('id')) as Array<{ id: number }>;
    const sealed = secretBox.seal('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', SecretBox.aad('webhooks', row!.id, 'secret'));
    await knex()('webhooks').where('id', row!.id).update({ secret_ciphertext: sealed.ciphertext, secret_nonce: sealed.nonce, key_version: sealed.keyVersion });
    return row!.id;
  }

  async function webhookJobs(): Promise<Array<{ id: string; event: { id: string; type: string; data: { alert: { id: number; fingerprint: string } } } }>> {
    const jobs = await webhooks.getJobs(['waiting', 'delayed', 'prioritized', 'active', 'completed', 'failed']);
    return jobs.map((j) => ({ id: j.id!, event: (j.data as { event: never }).event })).sort((a, b) => a.id.localeCompare(b.id));
  }

  const minuteOf = (ms: number) => new Date(Math.floor(ms / 60_000) * 60_000);
  const hourOf = (ms: number) => new Date(Math.floor(ms / 3_600_000) * 3_600_000);

  async function usageRow(row: { master_id: number; key_id: number; model: string; api_key_id: number; provider_group_id: number; status_class: string; request_count: number }) {
    await knex()('usage_minutely').insert({ minute: minuteOf(Date.now()), ...row });
  }

  async function counter(key: string, value: number): Promise<void> {
    await redis.set(key, String(value), 'EX', 120);
  }

  async function alerts() {
    return (await knex()('alerts').select('*').orderBy('fingerprint')) as Array<{ id: number; fingerprint: string; severity: string; count: number; type: string; status: string; metadata: Record<string, unknown> }>;
  }

  /** Seeds one scenario per rule (and figures that stay below every threshold); returns the expected alerts. */
  async function seedScenario() {
    const m1 = await seedMaster('m-one');
    const m2 = await seedMaster('m-two', { quota_limit: 100 });
    const k1 = 101;
    const k3 = 103;
    const k2 = (await seedKey(m1, 'ezk_quota-key-000000000000000000', { quota_limit: 1_000, quota_used: 950 })).id;
    const calm = (await seedKey(m1, 'ezk_calm-key-0000000000000000000', { quota_limit: 1_000, quota_used: 10 })).id;
    const [a1, a2, group] = [201, 202, 301];
    await knex()('alert_thresholds').insert({ id: 1, thresholds: JSON.stringify({ master_rpm: 50, master_rpd: 100 }) });

    // Errors: key k1 and model m at 30 % (critical ≥ 20 %), upstream a1 at 30 % (< 50 %: fine).
    await usageRow({ master_id: m1, key_id: k1, model: 'm', api_key_id: a1, provider_group_id: group, status_class: '2xx', request_count: 70 });
    await usageRow({ master_id: m1, key_id: k1, model: 'm', api_key_id: a1, provider_group_id: group, status_class: '5xx', request_count: 30 });
    // Key k3, model n and upstream a2 fail everything; the group stays at 50/120 < 50 %.
    await usageRow({ master_id: m1, key_id: k3, model: 'n', api_key_id: a2, provider_group_id: group, status_class: 'error', request_count: 20 });
    // 4xx are the client's and do not count; below the minimum sample anyway.
    await usageRow({ master_id: m1, key_id: 104, model: 'o', api_key_id: 203, provider_group_id: 302, status_class: '4xx', request_count: 15 });
    // Last 24 h: master m2 made 150 requests (threshold 100 → warning); m1 stays below.
    await knex()('usage_hourly').insert([
      { hour: hourOf(Date.now()), master_id: m2, key_id: 105, model: 'm', api_key_id: a1, provider_group_id: group, status_class: '2xx', request_count: 150 },
      { hour: hourOf(Date.now()), master_id: m1, key_id: 106, model: 'm', api_key_id: a1, provider_group_id: group, status_class: '2xx', request_count: 50 },
    ]);

    // Redis, a few seconds ago: m1 refused 12 times (threshold 10) and admitted 60 (RPM threshold 50).
    const s = Math.floor(Date.now() / 1_000) - 5;
    await counter(LimitKeys.statsMasterLimited('', m1, s), 7);
    await counter(LimitKeys.statsMasterLimited('', m1, s - 10), 5);
    await counter(LimitKeys.statsMasterRequests('', m1, s), 60);
    await counter(LimitKeys.statsMasterTokens('', m1, s), 600);
    await counter(LimitKeys.statsRequests('', s), 60);
    // The gateways' upstream call counters this minute (failovers included): a1 fails 30 % (< 50 %:
    // fine), a2 everything, 203 answered 15 bad requests (4xx: no provider fault).
    const minute = UpstreamStatsKeys.minute('', Math.floor(Date.now() / 60_000));
    await redis.hset(minute, { [`${a1}:requests`]: 100, [`${a1}:faults`]: 30, [`${a2}:requests`]: 20, [`${a2}:faults`]: 20, '203:requests': 15 });
    await redis.expire(minute, 120);
    // m2 spent its whole quota live (PostgreSQL still says 0); the calm key spent a little.
    await redis.set(UsageKeys.masterSpent('', m2), '100');
    await redis.set(UsageKeys.keySpent('', calm), '20');

    return [
      [`error_spike:key:${k1}`, 'critical'],
      [`error_spike:key:${k3}`, 'critical'],
      ['error_spike:model:m', 'critical'],
      ['error_spike:model:n', 'critical'],
      [`provider_down:api_key:${a2}`, 'critical'],
      [`quota_exceeded:key:${k2}`, 'warning'],
      [`quota_exceeded:master:${m2}`, 'critical'],
      [`rate_limit:master:${m1}`, 'warning'],
      [`traffic_spike:master:${m1}:rpm`, 'warning'],
      [`traffic_spike:master:${m2}:rpd`, 'warning'],
    ].sort((a, b) => a[0]!.localeCompare(b[0]!));
  }

  it('creates exactly the expected alerts, announces each to a subscribed webhook, and dedupes the next tick', async () => {
    const expected = await seedScenario();
    const hook = await insertWebhook(['alert.*']);
    await insertWebhook(['log_webhook.threshold_exceeded']); // not subscribed to alerts

    const first = await processAlerts(job(), ctx);
    const rows = await alerts();
    expect(rows.map((r) => [r.fingerprint, r.severity])).to.deep.equal(expected);
    expect(rows.every((r) => r.count === 1 && r.status === 'active')).to.equal(true);
    expect(first).to.include({ findings: expected.length, deduplicated: 0, suppressed: 0 });
    expect(first.created).to.have.length(expected.length);
    expect(first.announced).to.deep.equal({ created: expected.length, resolved: 0 });

    const rpm = rows.find((r) => r.fingerprint.endsWith(':rpm'))!;
    expect(rpm.metadata).to.include({ value: 60, threshold: 50, critical_at: 100, window_seconds: 60, metric: 'rpm', source: 'detector' });

    const jobs = await webhookJobs();
    expect(jobs.map((j) => j.id)).to.deep.equal(rows.map((r) => `webhook-${hook}-alert-${r.id}-created`).sort());
    for (const j of jobs) {
      expect(j.event.type).to.equal('alert.created');
      expect(j.event.id).to.equal(`alert-${j.event.data.alert.id}-created`);
    }
    const audit = await knex()('audit_events').where({ action: 'alert.create' }).select('actor_type', 'actor_id');
    expect(audit).to.have.length(expected.length);
    expect(audit[0]).to.deep.equal({ actor_type: 'system', actor_id: 'alerts-detector' });

    // Inside the cooldown: no new alert, counts bump, nothing new announced.
    const second = await processAlerts(job(), ctx);
    expect(second).to.deep.include({ created: [], deduplicated: expected.length, suppressed: 0, announced: { created: 0, resolved: 0 } });
    const again = await alerts();
    expect(again.map((r) => [r.id, r.count])).to.deep.equal(rows.map((r) => [r.id, 2]));
    expect(await webhookJobs()).to.have.length(expected.length);
  });

  it('raises the severity of an open alert when the condition worsens, never lowers it', async () => {
    const m = await seedMaster('m-worse');
    const s = Math.floor(Date.now() / 1_000) - 3;
    await counter(LimitKeys.statsMasterLimited('', m, s), 10);
    await processAlerts(job(), ctx);
    expect((await alerts()).map((r) => r.severity)).to.deep.equal(['warning']);
    await counter(LimitKeys.statsMasterLimited('', m, s), 25);
    await processAlerts(job(), ctx);
    await counter(LimitKeys.statsMasterLimited('', m, s), 11);
    await processAlerts(job(), ctx);
    const [row] = await alerts();
    expect(row).to.include({ severity: 'critical', count: 3, fingerprint: `rate_limit:master:${m}` });
  });

  it('a quiet system raises nothing', async () => {
    await seedMaster('m-quiet', { quota_limit: 1_000 });
    const result = await processAlerts(job(), ctx);
    expect(result).to.deep.include({ findings: 0, created: [] });
    expect(await alerts()).to.deep.equal([]);
  });

  it('publishes alerts raised elsewhere (sync worker, gateway events) and resolves that were not announced yet', async () => {
    const hook = await insertWebhook([]);
    const raised = await raiseAlert(knex(), { type: 'sync_failed', severity: 'critical', title: 't', message: 'm', fingerprint: 'sync_failed' });
    expect(raised.created).to.equal(true);
    await knex()('alerts').insert({ type: 'x', title: 'resolved meanwhile', fingerprint: 'x:1', status: 'resolved', resolved_at: new Date(), resolved_by: 'admin:bootstrap', announced_at: new Date() });

    const result = await processAlerts(job(), ctx);
    expect(result.announced).to.deep.equal({ created: 1, resolved: 1 });
    const ids = (await webhookJobs()).map((j) => j.id);
    const resolvedId = ((await knex()('alerts').where('fingerprint', 'x:1').first('id')) as { id: number }).id;
    expect(ids.sort()).to.deep.equal([`webhook-${hook}-alert-${raised.alert.id}-created`, `webhook-${hook}-alert-${resolvedId}-resolved`].sort());
    // Marked: the next tick publishes nothing again.
    expect((await processAlerts(job(), ctx)).announced).to.deep.equal({ created: 0, resolved: 0 });
  });

  it('concurrent reports of one fingerprint make one alert', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, () => raiseAlert(knex(), { type: 'provider_down', severity: 'warning', title: 't', message: 'm', fingerprint: 'provider_down:api_key:1' })),
    );
    expect(results.filter((r) => r.created)).to.have.length(1);
    const rows = await alerts();
    expect(rows).to.have.length(1);
    expect(rows[0]!.count).to.equal(8);
  });
});
