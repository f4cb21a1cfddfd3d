import { expect } from 'chai';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { createHealthStore, HealthKeys, type HealthStore } from '../../src/gateway/health/index.js';
import { testEnv } from '../support/hooks.js';

function connect(): Redis {
  const redis = new Redis(testEnv().redisUrl, { maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  return redis;
}

/** Resolves when `store` reports a change of `keyId` after which `predicate` holds (or it already does). */
function until(store: HealthStore, keyId: number, predicate: () => boolean, timeoutMs = 1_000): Promise<number> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    if (predicate()) return resolve(0);
    const timer = setTimeout(() => {
      off();
      reject(new Error(`key ${keyId} did not reach the expected state within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = store.onChange((changed) => {
      if (changed !== keyId || !predicate()) return;
      clearTimeout(timer);
      off();
      resolve(Date.now() - started);
    });
  });
}

describe('RedisHealthStore (two gateways)', () => {
  let prefix: string;
  const connections: Redis[] = [];
  const stores: HealthStore[] = [];

  async function gateway(options: { pollMs?: number } = {}): Promise<HealthStore> {
    const redis = connect();
    connections.push(redis);
    const store = createHealthStore({ backend: 'redis', redis, prefix, ...options });
    stores.push(store);
    await store.start();
    return store;
  }

  beforeEach(() => {
    prefix = `test:${randomUUID()}:`;
  });

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    const redis = connections[0];
    if (redis) await redis.del(HealthKeys.breakers(prefix), HealthKeys.cooldowns(prefix), HealthKeys.bans(prefix));
    for (const c of connections.splice(0)) c.disconnect();
  });

  it('a breaker opened by one gateway is open on the other within a second', async () => {
    const a = await gateway();
    const b = await gateway();
    expect(a.backend).to.equal('redis');
    const seen = until(b, 11, () => !b.isAvailable(11));
    for (let i = 0; i < 5; i++) a.record(11, false);
    expect(a.isAvailable(11)).to.equal(false);
    expect(await seen).to.be.below(1_000);
    expect(b.inspect(11)).to.include({ breaker: 'open', breakerUntilMs: a.inspect(11).breakerUntilMs });
  });

  it('a ban and a cool-down reach the other gateway, and so does lifting the ban', async () => {
    const a = await gateway();
    const b = await gateway();
    const banned = until(b, 12, () => !b.isAvailable(12));
    await a.ban(12, 'upstream 401', Date.now() + 60_000);
    await banned;
    expect(b.inspect(12).ban).to.deep.include({ reason: 'upstream 401' });

    const lifted = until(b, 12, () => b.isAvailable(12));
    await a.unban(12);
    await lifted;

    const cooled = until(b, 13, () => !b.isAvailable(13));
    await a.coolDown(13, 30_000);
    await cooled;
    expect(b.inspect(13).coolingUntilMs).to.equal(a.inspect(13).coolingUntilMs);
  });

  it('a gateway started later learns the current state from Redis', async () => {
    const a = await gateway();
    for (let i = 0; i < 5; i++) a.record(14, false);
    await a.ban(15, 'upstream 403', Number.POSITIVE_INFINITY);
    await a.flush();
    const late = await gateway();
    expect(late.isAvailable(14)).to.equal(false);
    expect(late.isAvailable(15)).to.equal(false);
    expect(late.inspect(15).ban).to.deep.equal({ reason: 'upstream 403', untilMs: null });
  });

  it('a missed message is caught up by the poll', async () => {
    const a = await gateway();
    const b = await gateway({ pollMs: 200 });
    // Write behind both stores' backs, as if b's subscriber had been disconnected at the time.
    const value = { state: 'open', untilMs: Date.now() + 30_000, reopens: 0, at: Date.now(), origin: 'elsewhere' };
    const seen = until(b, 16, () => !b.isAvailable(16));
    await connections[0]!.hset(HealthKeys.breakers(prefix), '16', JSON.stringify(value));
    expect(await seen).to.be.below(1_000);
    await until(a, 16, () => !a.isAvailable(16), 2_000); // a polls every second
  });

  it('the newest decision wins when two gateways disagree', async () => {
    const a = await gateway();
    const b = await gateway();
    for (let i = 0; i < 5; i++) a.record(17, false);
    await a.flush();
    await until(b, 17, () => !b.isAvailable(17));
    // Later, b's probe succeeds and closes the breaker everywhere.
    const closedOnA = until(a, 17, () => a.isAvailable(17));
    const later = Date.now() + 31_000;
    expect(b.tryAcquire(17, later)).to.equal(true);
    b.record(17, true, later);
    await closedOnA;
    expect(JSON.parse((await connections[0]!.hget(HealthKeys.breakers(prefix), '17')) ?? '{}')).to.include({ state: 'closed' });
  });
});
