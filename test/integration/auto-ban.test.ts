import { expect } from 'chai';
import type { Redis } from 'ioredis';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { createQueues } from '../../jobs/queues.js';
import { startWorker, type RunningWorker } from '../../jobs/worker.js';
import { startGateway } from '../../src/gateway/server.js';
import { loadConfig, type Config } from '../../src/lib/config.js';
import type { RunningServer } from '../../src/lib/http-server.js';
import { createLogger } from '../../src/lib/logger.js';
import { closeRedis, createRedis, waitForRedis } from '../../src/lib/redis.js';
import { RedisKeys, type ProviderSnapshot } from '../../src/lib/redis-layout.js';
import { publish, seedGroup, seedKey, seedMaster } from '../support/gateway-fixtures.js';
import { chatOnce } from '../support/gateway-process.js';
import { resetDatabase, testEnv } from '../support/hooks.js';
import { TEST_SECRET } from '../support/sync.js';

/**
 * Auto-ban end to end through the control plane (DESIGN §6, §8 `provider-events`): an upstream
 * key answering 401 is failed over by the gateway, reported on the queue, persisted by the worker
 * as `auto_disabled` (row + audit + routing outbox), applied to Redis by the sync worker, and from
 * then on avoided by every gateway — also one that never saw the 401 itself.
 */

const BAD_SECRET = 'sk-autoban-revoked-000000000000';
const GOOD_SECRET = 'sk-autoban-healthy-000000000000';
const MODEL = 'gpt-4o-mini';
const WAIT_MS = 10_000;

/** A tiny OpenAI-like upstream that refuses one upstream secret with 401 and counts calls per secret. */
async function startKeyAwareUpstream(): Promise<{ url: string; calls: Map<string, number>; close(): Promise<void> }> {
  const calls = new Map<string, number>();
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const secret = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      calls.set(secret, (calls.get(secret) ?? 0) + 1);
      if (secret === BAD_SECRET) {
        res.writeHead(401, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify({ error: { message: 'Incorrect API key provided', type: 'invalid_request_error', code: 'invalid_api_key' } }));
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: 'chatcmpl-autoban',
          object: 'chat.completion',
          created: 1,
          model: MODEL,
          choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Polls `check` every 50 ms until it returns a value, failing after `timeoutMs` with `what`. */
async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = WAIT_MS): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  for (;;) {
    const value = await check();
    if (value !== undefined) return { value, ms: Date.now() - started };
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not seen within ${timeoutMs} ms`);
    await sleep(50);
  }
}

describe('auto-ban through the control plane', function () {
  this.timeout(60_000);
  const prefix = `ez-autoban-${randomUUID().slice(0, 8)}`;
  const logger = createLogger({ level: 'silent' });
  let upstream: Awaited<ReturnType<typeof startKeyAwareUpstream>>;
  let redis: Redis;
  let gatewayRedis: Redis;
  let config: Config;
  let worker: RunningWorker | undefined;
  let gateway: RunningServer | undefined;
  let clientKey: string;
  let badKeyId: number;
  let goodKeyId: number;

  before(async () => {
    await resetDatabase();
    upstream = await startKeyAwareUpstream();
    redis = createRedis({ url: testEnv().redisUrl, defaulted: false }, 'worker', 'autoban-test');
    gatewayRedis = createRedis({ url: testEnv().redisUrl, defaulted: false }, 'worker', 'autoban-gateway');
    await Promise.all([waitForRedis(redis), waitForRedis(gatewayRedis)]);
    await redis.flushdb();
    const masterId = await seedMaster('autoban');
    clientKey = (await seedKey(masterId, `ezk_autoban-client-key-${'0'.repeat(24)}`)).key;
    // One group, two upstream keys (auto_ban defaults to true): the first is refused upstream.
    const group = await seedGroup({ name: 'oa-autoban', type: 'openai', base_url: `${upstream.url}/v1`, models: [MODEL], keys: [BAD_SECRET, GOOD_SECRET] });
    [badKeyId, goodKeyId] = group.apiKeyIds as [number, number];
    const flags = (await testEnv().knex('api_keys').whereIn('id', group.apiKeyIds).select('id', 'auto_ban', 'status')) as Array<{ auto_ban: boolean; status: string }>;
    expect(flags.every((k) => k.auto_ban && k.status === 'active'), 'both upstream keys start active with auto_ban on').to.equal(true);
    await publish(redis);

    config = loadConfig({
      env: { EZ_ENV: 'test', EZ_REDIS_URL: testEnv().redisUrl, EZ_QUEUE_PREFIX: prefix, EZ_SYNC_INTERVAL_MS: '200', EZ_LOG_FLUSH_MS: '50' },
      cwd: tmpdir(),
    });
    worker = await startWorker({ config, secrets: { master: TEST_SECRET }, knex: testEnv().knex, logger, queueNames: ['provider-events', 'sync'] });
    gateway = await startGateway({ config, secrets: { master: TEST_SECRET }, redis: gatewayRedis, logger, port: 0, host: '127.0.0.1' });
  });

  after(async () => {
    await gateway?.close();
    await worker?.close();
    const queues = createQueues({ url: testEnv().redisUrl, defaulted: false }, prefix, ['logs', 'provider-events', 'sync']);
    for (const queue of queues.list()) await queue.obliterate({ force: true }).catch(() => undefined);
    await queues.close();
    await upstream?.close();
    await closeRedis(gatewayRedis);
    await closeRedis(redis);
  });

  const calls = () => ({ bad: upstream.calls.get(BAD_SECRET) ?? 0, good: upstream.calls.get(GOOD_SECRET) ?? 0 });
  const providerInRedis = async (id: number): Promise<ProviderSnapshot | undefined> => {
    const raw = await redis.hget(RedisKeys.providers, String(id));
    return raw ? (JSON.parse(raw) as ProviderSnapshot) : undefined;
  };

  it('a 401 upstream key is failed over, auto-disabled in PostgreSQL, synced to Redis and avoided by every gateway', async () => {
    const outboxBefore = Number(((await testEnv().knex('sync_outbox').max('id as max').first()) as { max: string | number | null } | undefined)?.max ?? 0);

    // 1. Clients keep getting 200: the gateway fails over to the second key. Routing is weighted
    //    random, so send requests until the refused key has been tried (bounded).
    const statuses: number[] = [];
    for (let i = 0; i < 40 && calls().bad === 0; i++) statuses.push((await chatOnce(gateway!.url, clientKey, MODEL)).status);
    expect(calls().bad, `the refused key was tried within ${statuses.length} requests`).to.be.at.least(1);
    expect(statuses.every((s) => s === 200), `every client answer is 200 despite the upstream 401: ${JSON.stringify(statuses)}`).to.equal(true);

    // 2. The worker persists the ban, with no manual step.
    const banned = await eventually('api_keys.status = auto_disabled', async () => {
      const row = (await testEnv().knex('api_keys').where({ id: badKeyId }).first('status', 'ban_reason', 'ban_until')) as
        | { status: string; ban_reason: string | null; ban_until: Date | null }
        | undefined;
      return row?.status === 'auto_disabled' ? row : undefined;
    });
    expect(banned.value.ban_reason, 'the ban names its cause').to.be.a('string').and.match(/401/);
    expect(banned.value.ban_reason).to.not.include(BAD_SECRET);
    const good = (await testEnv().knex('api_keys').where({ id: goodKeyId }).first('status')) as { status: string };
    expect(good.status, 'the healthy key is untouched').to.equal('active');

    const audits = (await testEnv().knex('audit_events').where({ object_type: 'api_key', object_id: String(badKeyId) })) as Array<{
      action: string;
      actor_type: string;
      actor_id: string;
      metadata: Record<string, unknown>;
    }>;
    expect(audits.map((a) => a.action), 'one audit event for the ban').to.deep.equal(['api_key.auto_ban']);
    expect(audits[0]).to.deep.include({ actor_type: 'system', actor_id: 'gateway' });
    expect(audits[0]!.metadata).to.deep.include({ status_code: 401 });
    expect(JSON.stringify(audits[0]!.metadata)).to.not.include(BAD_SECRET);

    // 3. A routing outbox row was written with the ban and gets applied (status done).
    const outbox = await eventually('the routing outbox row applied', async () => {
      const rows = (await testEnv().knex('sync_outbox').where('id', '>', outboxBefore).andWhere({ resource: 'routing' }).select('id', 'status')) as Array<{
        id: number;
        status: string;
      }>;
      return rows.length > 0 && rows.every((r) => r.status === 'done') ? rows : undefined;
    });
    expect(outbox.value.length, 'routing outbox rows written by the ban').to.be.at.least(1);

    // 4. Redis now carries the new status, for every gateway to read.
    const synced = await eventually('config:providers shows auto_disabled', async () => {
      const snapshot = await providerInRedis(badKeyId);
      return snapshot?.status === 'auto_disabled' ? snapshot : undefined;
    });
    expect(synced.value.id).to.equal(badKeyId);
    expect((await providerInRedis(goodKeyId))?.status).to.equal('active');
    console.log(`      401 → PG auto_disabled in ${banned.ms} ms after the first failover; Redis status in a further ${synced.ms} ms`);

    // 5. The key is no longer used: not by this gateway, and not by a fresh one whose in-memory
    //    health never saw the 401 (so it is the synced config that excludes the key).
    const badAfterBan = calls().bad;
    for (let i = 0; i < 20; i++) expect((await chatOnce(gateway!.url, clientKey, MODEL)).status, `request ${i} after the ban`).to.equal(200);
    const freshRedis = createRedis({ url: testEnv().redisUrl, defaulted: false }, 'worker', 'autoban-fresh-gateway');
    await waitForRedis(freshRedis);
    const fresh = await startGateway({ config, secrets: { master: TEST_SECRET }, redis: freshRedis, logger, port: 0, host: '127.0.0.1' });
    try {
      const goodBefore = calls().good;
      for (let i = 0; i < 20; i++) expect((await chatOnce(fresh.url, clientKey, MODEL)).status, `fresh gateway request ${i}`).to.equal(200);
      expect(calls().good - goodBefore, 'the fresh gateway sent everything to the healthy key').to.equal(20);
    } finally {
      await fresh.close();
      await closeRedis(freshRedis);
    }
    expect(calls().bad, 'no request reached the banned key after the ban').to.equal(badAfterBan);
  });
});
