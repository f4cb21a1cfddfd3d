import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { Queue, type Job } from 'bullmq';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { processAlerts } from '../../jobs/alerts/processor.js';
import type { ProcessorContext } from '../../jobs/processor-context.js';
import { raiseAlert } from '../../src/db/alerts.repository.js';
import { LimitKeys } from '../../src/gateway/limits/limit-keys.js';
import { loadConfig } from '../../src/lib/config.js';
import { createLogger } from '../../src/lib/logger.js';
import { SecretBox } from '../../src/lib/secret-box.js';
import { seedMaster } from '../support/gateway-fixtures.js';
import { resetDatabase, testEnv } from '../support/hooks.js';

/** `alert.escalated` from the detector (docs/alerts.md "Announcements"), real PostgreSQL and Redis. */
describe('alerts detector escalation', function () {
  this.timeout(30_000);
  const queuePrefix = `ez-escalation-${randomUUID().slice(0, 8)}`;
  const config = loadConfig({ env: { EZ_ENV: 'test', EZ_QUEUE_PREFIX: queuePrefix }, cwd: tmpdir() });
  const secretBox = new SecretBox('s'.repeat(40));
  const knex = () => testEnv().knex;
  let redis: Redis;
  let webhooks: Queue;
  let ctx: ProcessorContext;
  const tick = () => processAlerts({ id: 'tick', data: { reason: 'tick' }, attemptsMade: 0, opts: {} } as unknown as Job<unknown>, ctx);

  before(() => {
    redis = new Redis(testEnv().redisUrl);
    webhooks = new Queue('webhooks', { connection: redis, prefix: queuePrefix });
  });
  after(async () => {
    await webhooks.obliterate({ force: true }).catch(() => {});
    await webhooks.close();
    redis.disconnect();
  });
  beforeEach(async () => {
    await resetDatabase();
    const keys = await redis.keys('stats:*');
    if (keys.length) await redis.del(...keys);
    await webhooks.obliterate({ force: true });
    ctx = { config, knex: knex(), redis, secretBox, logger: createLogger({ level: 'silent' }), now: () => new Date() };
  });

  async function insertWebhook(events: string[]): Promise<number> {
    const [row] = (await knex()('webhooks').insert({ url: 'http://127.0.0.1:9/hook', events, secret_ciphertext: Buffer.alloc(1), secret_nonce: Buffer.alloc(1) }).returning('id')) as Array<{ id: number }>;
    return row!.id;
  }

  /** Jobs on the `webhooks` queue: jobId and the event it carries. */
  async function eventJobs(): Promise<Array<{ jobId: string; type: string; data: { alert: { id: number; severity: string }; previous_severity?: string } }>> {
    const jobs = await webhooks.getJobs(['waiting', 'delayed', 'prioritized', 'active', 'completed', 'failed']);
    return jobs.map((j) => ({ ...(j.data as { event: { type: string; data: never } }).event, jobId: j.id! })).sort((a, b) => a.jobId.localeCompare(b.jobId));
  }

  it('a rate limit alert rising to 2× its threshold is announced once as alert.escalated', async () => {
    const hook = await insertWebhook(['alert.escalated']);
    const m = await seedMaster('m-escalate');
    const s = Math.floor(Date.now() / 1_000) - 3;
    await redis.set(LimitKeys.statsMasterLimited('', m, s), '10', 'EX', 120);
    expect((await tick()).created).to.have.length(1);
    expect(await eventJobs()).to.deep.equal([]);

    // Twice the threshold (10/minute): critical.
    await redis.set(LimitKeys.statsMasterLimited('', m, s), '25', 'EX', 120);
    const worse = await tick();
    expect(worse).to.include({ escalated: 1, deduplicated: 1 });
    const [job, ...more] = await eventJobs();
    expect(more).to.deep.equal([]);
    expect(job!.jobId).to.match(new RegExp(`^webhook-${hook}-alert-\\d+-escalated-critical$`));
    expect(job).to.deep.include({ type: 'alert.escalated' });
    expect(job!.data.previous_severity).to.equal('warning');
    expect(job!.data.alert.severity).to.equal('critical');

    // Still critical on the next tick, then back to a warning level: nothing new is published.
    await webhooks.obliterate({ force: true });
    expect(await tick()).to.include({ escalated: 0 });
    await redis.set(LimitKeys.statsMasterLimited('', m, s), '11', 'EX', 120);
    expect(await tick()).to.include({ escalated: 0 });
    expect(await eventJobs()).to.deep.equal([]);
  });

  it('publishes escalations of alerts raised elsewhere (gateway events, workers) at the next tick, once', async () => {
    const hook = await insertWebhook(['alert.*']);
    const report = (severity: 'warning' | 'critical') =>
      raiseAlert(knex(), { type: 'provider_down', severity, title: 't', message: 'm', fingerprint: 'provider_down:api_key:9', related_type: 'api_key', related_id: '9' });
    const { alert } = await report('warning');
    expect((await tick()).announced).to.deep.equal({ created: 1, resolved: 0 });
    await report('critical');

    expect(await tick()).to.include({ escalated: 1 });
    const escalated = (await eventJobs()).filter((j) => j.type === 'alert.escalated');
    expect(escalated.map((j) => j.jobId)).to.deep.equal([`webhook-${hook}-alert-${alert.id}-escalated-critical`]);
    expect(escalated[0]!.data.previous_severity).to.equal('warning');
    await webhooks.obliterate({ force: true });
    expect(await tick()).to.include({ escalated: 0 });
    expect(await eventJobs()).to.deep.equal([]);
  });

  it('an alert escalated before its creation was announced is announced once, as created at its current severity', async () => {
    const hook = await insertWebhook([]);
    const report = (severity: 'warning' | 'critical') => raiseAlert(knex(), { type: 'sync_failed', severity, title: 't', message: 'm', fingerprint: 'sync_failed' });
    const { alert } = await report('warning');
    await report('critical');
    expect(await tick()).to.deep.include({ announced: { created: 1, resolved: 0 }, escalated: 0 });
    const jobs = await eventJobs();
    expect(jobs.map((j) => j.jobId)).to.deep.equal([`webhook-${hook}-alert-${alert.id}-created`]);
    expect(jobs[0]!.data.alert.severity).to.equal('critical');
    expect(await tick()).to.include({ escalated: 0 });
  });
});
