import { expect } from 'chai';
import { UnrecoverableError, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { Webhook } from 'standardwebhooks';
import type { ProcessorContext } from '../../jobs/processor-context.js';
import type { ProviderEventPayload } from '../../jobs/provider-events/definition.js';
import { processProviderEvent } from '../../jobs/provider-events/processor.js';
import { createQueues, type QueueSet } from '../../jobs/queues.js';
import { processTokenRefresh } from '../../jobs/token-refresh/processor.js';
import { startWorker, type RunningWorker } from '../../jobs/worker.js';
import { createApiKey, createGroup, type ProvidersWrite } from '../../src/domain/providers.service.js';
import { createWebhook } from '../../src/domain/webhooks.service.js';
import { loadConfig, type Config } from '../../src/lib/config.js';
import { createLogger } from '../../src/lib/logger.js';
import { SecretBox } from '../../src/lib/secret-box.js';
import { seedKey, seedMaster } from '../support/gateway-fixtures.js';
import { resetDatabase, testEnv } from '../support/hooks.js';
import { mockOAuthEnv, startMockOAuth, type MockOAuth } from '../support/mock-oauth.js';
import { TEST_SECRET } from '../support/sync.js';

/**
 * Status events (docs/webhooks.md "Event types"): what the provider-events and token-refresh
 * workers change on their own is announced to `/admin/webhooks` subscribers, once per change,
 * delivered by a real `webhooks` worker to loopback receivers.
 */

const logger = createLogger({ level: 'silent' });
const box = new SecretBox(TEST_SECRET);

interface Delivery {
  headers: Record<string, string>;
  body: string;
  event: { type: string; timestamp: string; data: Record<string, unknown> };
}

interface Receiver {
  url: string;
  received: Delivery[];
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const received: Delivery[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      received.push({ headers, body, event: JSON.parse(body) as Delivery['event'] });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const job = (data: unknown) => ({ id: 'test', data, attemptsMade: 0, opts: {}, timestamp: Date.now() }) as unknown as Job<unknown>;
const iso = (offsetMs = 0) => new Date(Date.now() + offsetMs).toISOString();

describe('status events (key.exhausted, master.exhausted, api_key.disabled)', function () {
  this.timeout(60_000);
  let mock: MockOAuth;
  let config: Config;
  let ctx: ProcessorContext;
  let worker: RunningWorker;
  let queues: QueueSet;
  const receivers: Receiver[] = [];

  before(async () => {
    mock = await startMockOAuth();
  });
  after(async () => {
    await mock.close();
  });

  beforeEach(async () => {
    await resetDatabase();
    mock.requests.length = 0;
    mock.script = [];
    const prefix = `ez-status-${randomUUID().slice(0, 8)}`;
    config = {
      ...loadConfig({ env: { EZ_ENV: 'test', EZ_QUEUE_PREFIX: prefix, ...mockOAuthEnv(mock) }, cwd: tmpdir() }),
      redis: { url: testEnv().redisUrl, defaulted: false },
    };
    const redis = new Redis(testEnv().redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
    redis.on('error', () => {});
    await new Promise<void>((resolve) => redis.once('ready', () => resolve()));
    ctx = { config, knex: testEnv().knex, redis, secretBox: box, logger, now: () => new Date() };
    queues = createQueues(config.redis, prefix, ['sync', 'provider-events', 'token-refresh', 'webhooks']);
    worker = await startWorker({ config, secrets: { master: TEST_SECRET }, knex: testEnv().knex, logger, queueNames: ['webhooks'] });
  });

  afterEach(async () => {
    await worker.close();
    await Promise.all(receivers.splice(0).map((r) => r.close()));
    for (const queue of queues.list()) await queue.obliterate({ force: true });
    await queues.close();
    await ctx.redis.quit();
  });

  /** A receiver behind a webhook subscribed to `events`; returns it with the webhook's secret. */
  async function subscriber(events: string[]): Promise<Receiver & { secret: string }> {
    const receiver = await startReceiver();
    receivers.push(receiver);
    const hook = await createWebhook({ knex: testEnv().knex, nudge: async () => {} }, { actor: { type: 'admin', id: 'test' } }, box, { url: receiver.url, description: '', events });
    return Object.assign(receiver, { secret: hook.secret });
  }

  /** Waits until the `webhooks` queue has nothing left to deliver (bounded). */
  async function drained(): Promise<void> {
    const queue = queues.get('webhooks');
    for (let i = 0; i < 600; i++) {
      const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children');
      if (Object.values(counts).every((n) => n === 0)) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error('the webhooks queue did not drain');
  }

  const providerEvent = (event: ProviderEventPayload) => processProviderEvent(job(event), ctx);
  const types = (r: Receiver) => r.received.map((d) => d.event.type);

  it('a key exhausted by a provider event is announced once to key.* and to all-events subscribers, never to alert.*', async () => {
    const keys = await subscriber(['key.*']);
    const all = await subscriber([]);
    const alerts = await subscriber(['alert.*']);
    const master = await seedMaster('m-status');
    const key = await seedKey(master, 'ezk_status-key-00000000000000000000', { quota_limit: 2_500_000 });
    const at = iso(-1_000);

    expect(await providerEvent({ type: 'quota_exhausted', subject: 'key', id: key.id, spent_micros: 2_600_000, at })).to.deep.equal({ applied: true, outcome: 'key exhausted' });
    // The same observation again (a retried job), and a later one for the already-exhausted key.
    expect(await providerEvent({ type: 'quota_exhausted', subject: 'key', id: key.id, spent_micros: 2_600_000, at })).to.have.property('applied', false);
    expect(await providerEvent({ type: 'quota_exhausted', subject: 'key', id: key.id, spent_micros: 2_700_000, at: iso() })).to.deep.equal({ applied: true, outcome: 'key quota_used recorded' });
    await drained();

    expect(types(keys)).to.deep.equal(['key.exhausted']);
    expect(types(all)).to.deep.equal(['key.exhausted']);
    expect(alerts.received).to.deep.equal([]);
    const [delivery] = keys.received;
    expect(delivery!.event.data).to.deep.equal({ key_id: key.id, master_id: master, spent_usd: 2.6, quota_limit_usd: 2.5, at });
    expect(delivery!.event.timestamp).to.equal(at);
    // Signed for this receiver: verifiable with its secret, with a deterministic event id.
    const verified = new Webhook(keys.secret).verify(delivery!.body, delivery!.headers) as { type: string };
    expect(verified.type).to.equal('key.exhausted');
    expect(delivery!.headers['webhook-id']).to.equal(`key-${key.id}-exhausted-${Date.parse(at)}`);
    const recorded = await testEnv().knex('webhook_deliveries').where({ event_type: 'key.exhausted' }).count<Array<{ count: number }>>('* as count');
    expect(recorded).to.deep.equal([{ count: 2 }]);
  });

  it('a master crossing its quota is announced once as master.exhausted', async () => {
    const masters = await subscriber(['master.exhausted']);
    const keys = await subscriber(['key.*']);
    const master = await seedMaster('m-quota', { quota_limit: 500 });

    await providerEvent({ type: 'quota_exhausted', subject: 'master', id: master, spent_micros: 700, at: iso(-2_000) });
    await providerEvent({ type: 'quota_exhausted', subject: 'master', id: master, spent_micros: 900, at: iso(-1_000) });
    await drained();

    expect(types(masters)).to.deep.equal(['master.exhausted']);
    expect(masters.received[0]!.event.data).to.include({ master_id: master, spent_usd: 0.0007, quota_limit_usd: 0.0005 });
    expect(keys.received).to.deep.equal([]);
  });

  it('an auto-ban that disables an upstream key is announced as api_key.disabled; extending the ban is not', async () => {
    const hooks = await subscriber(['api_key.disabled']);
    const [group] = (await testEnv().knex('provider_groups').insert({ name: 'g-ban', type: 'openai', base_url: 'https://api.example.com' }).returning('id')) as Array<{ id: number }>;
    const [row] = (await testEnv()
      .knex('api_keys')
      .insert({ group_id: group!.id, name: 'k', updated_at: new Date(Date.now() - 3_600_000) })
      .returning('id')) as Array<{ id: number }>;
    const id = row!.id;
    const until = iso(600_000);
    const at = iso(-2_000);

    expect(await providerEvent({ type: 'auto_ban', api_key_id: id, reason: 'upstream 401: invalid key', until, status_code: 401, at })).to.include({ applied: true });
    expect(await providerEvent({ type: 'auto_ban', api_key_id: id, reason: 'upstream 401: invalid key', until: iso(1_200_000), status_code: 401, at: iso(-1_000) })).to.include({
      applied: true,
    });
    await drained();

    expect(types(hooks)).to.deep.equal(['api_key.disabled']);
    expect(hooks.received[0]!.event.data).to.deep.equal({ api_key_id: id, provider_group_id: group!.id, reason: 'upstream 401: invalid key', source: 'auto_ban', until, at });
  });

  it('a refused OAuth refresh that disables the key is announced as api_key.disabled', async () => {
    const hooks = await subscriber(['api_key.*']);
    const writer: ProvidersWrite = { deps: { knex: testEnv().knex, nudge: async () => {} }, ctx: { actor: { type: 'admin', id: 'test' } }, box };
    const group = await createGroup(writer, { name: 'g-codex', type: 'codex' as never, route_group: 'default', models: ['m'], status: 'active', base_url: null });
    const key = await createApiKey(writer, {
      group_id: group.id,
      name: '',
      weight: 1,
      status: 'active',
      auto_ban: true,
      api_key: 'codex-access-old',
      refresh_token: 'rt-revoked-SECRETVALUE',
      access_token_expires_at: iso(60_000),
    });
    mock.script = [{ status: 400, body: { error: 'invalid_grant', error_description: 'refresh token rt-revoked-SECRETVALUE was revoked' } }];

    let thrown: unknown;
    await processTokenRefresh(job({ type: 'refresh', api_key_id: key.id, reason: 'expiring' }), ctx).catch((err: unknown) => (thrown = err));
    expect(thrown).to.be.instanceOf(UnrecoverableError);
    await drained();

    expect(types(hooks)).to.deep.equal(['api_key.disabled']);
    expect(hooks.received[0]!.event.data).to.include({ api_key_id: key.id, provider_group_id: group.id, reason: 'oauth_refresh_failed', source: 'oauth_refresh', until: null });
    expect(hooks.received[0]!.body).to.not.include('SECRETVALUE');
  });
});
