import { expect } from 'chai';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { periodWindow, UsageKeys, type Budgets } from '../../../src/lib/budgets.js';
import { createLimiter, PERIOD_TTL_MARGIN_MS, type AdmitRequest, type Limiter, type Reservation, type SpendLimits } from '../../../src/gateway/limits/index.js';
import { testEnv } from '../../support/hooks.js';

/**
 * Quotas and budgets in the admission script (docs/budgets.md), through createLimiter against the
 * test Redis: seed floor, refusal at the limit, reservation and settle, refunds, calendar windows.
 */

const KEY = 21;
const MASTER = 7;
const NONE: SpendLimits = { quotaLimitMicros: -1, quotaUsedMicros: 0, budgets: {} };
/** An injected clock in the future (window hashes expire at an absolute time): next hour + 7 min 15 s. */
const future = () => (Math.floor(Date.now() / 3_600_000) + 1) * 3_600_000 + 7 * 60_000 + 15_000;

function request(spend: { estimatedMicros?: number; estimatedTokens?: number; key?: Partial<SpendLimits>; master?: Partial<SpendLimits> } = {}): AdmitRequest {
  return {
    masterId: MASTER,
    masterQps: 0,
    keyId: KEY,
    keyRpm: 0,
    keyTpm: 0,
    estimatedTokens: 0,
    requestId: randomUUID(),
    spend: {
      estimatedMicros: spend.estimatedMicros ?? 30,
      estimatedTokens: spend.estimatedTokens ?? 100,
      key: { ...NONE, ...spend.key },
      master: { ...NONE, ...spend.master },
    },
  };
}

function admitted(result: Awaited<ReturnType<Limiter['admit']>>): Reservation {
  if (!result.ok) throw new Error(`expected an admission, got ${result.reason}`);
  return result.reservation;
}

describe('limiter: quotas and budgets (Redis)', () => {
  let prefix: string;
  let redis: Redis;
  let other: Redis;

  beforeEach(() => {
    prefix = `test:${randomUUID()}:`;
    redis = new Redis(testEnv().redisUrl, { maxRetriesPerRequest: 1 });
    other = new Redis(testEnv().redisUrl, { maxRetriesPerRequest: 1 });
  });

  afterEach(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    other.disconnect();
  });

  const spent = async (which: 'key' | 'master') => Number(await redis.get(which === 'key' ? UsageKeys.keySpent(prefix, KEY) : UsageKeys.masterSpent(prefix, MASTER)));

  /** Every key under the prefix with its content, except the per-second stats counters. */
  async function dump(): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const key of (await redis.keys(`${prefix}*`)).sort()) {
      if (key.startsWith(`${prefix}stats:`)) continue;
      const type = await redis.type(key);
      out[key] = type === 'string' ? await redis.get(key) : type === 'hash' ? await redis.hgetall(key) : type === 'set' ? (await redis.smembers(key)).sort() : await redis.zrange(key, 0, -1);
    }
    return out;
  }

  it('seeds the spent counter from quota_used, reserves the estimate and marks key and master dirty', async () => {
    const sut = createLimiter(redis, { prefix });
    const r = admitted(await sut.admit(request({ estimatedMicros: 30, key: { quotaLimitMicros: 100, quotaUsedMicros: 40 }, master: { quotaLimitMicros: 10_000, quotaUsedMicros: 500 } })));
    expect(r.spend).to.deep.equal({ subjects: 'km', reservedMicros: 30, reservedTokens: 100, periods: [] });
    expect(await spent('key')).to.equal(70);
    expect(await spent('master')).to.equal(530);
    expect(await redis.smembers(UsageKeys.dirtyKeys(prefix))).to.deep.equal([String(KEY)]);
    expect(await redis.smembers(UsageKeys.dirtyMasters(prefix))).to.deep.equal([String(MASTER)]);
  });

  it('never lowers a live counter to the seed floor', async () => {
    await redis.set(UsageKeys.keySpent(prefix, KEY), '90');
    const sut = createLimiter(redis, { prefix });
    admitted(await sut.admit(request({ estimatedMicros: 30, key: { quotaLimitMicros: 100, quotaUsedMicros: 40 } })));
    expect(await spent('key')).to.equal(120);
  });

  it('an existing counter below the floor stays authoritative (an admin reset is not undone by a stale record)', async () => {
    await redis.set(UsageKeys.keySpent(prefix, KEY), '0');
    const sut = createLimiter(redis, { prefix });
    admitted(await sut.admit(request({ estimatedMicros: 30, key: { quotaLimitMicros: 100, quotaUsedMicros: 95 } })));
    expect(await spent('key')).to.equal(30);
  });

  it('refuses when the counter reached the quota (insufficient quota), naming the subject and the spend, and writes nothing', async () => {
    const sut = createLimiter(redis, { prefix });
    await redis.set(UsageKeys.keySpent(prefix, KEY), '100');
    const before = await dump();
    const r = await sut.admit(request({ key: { quotaLimitMicros: 100, quotaUsedMicros: 0 }, master: { budgets: { day: { requests: 5 } } } }));
    expect(r).to.deep.equal({ ok: false, reason: 'key_quota', retryAfterMs: 0, limit: 100, spentMicros: 100 });
    expect(await dump()).to.deep.equal(before);
  });

  it('a seed floor at the quota refuses without writing the counter', async () => {
    const sut = createLimiter(redis, { prefix });
    const r = await sut.admit(request({ master: { quotaLimitMicros: 1_000, quotaUsedMicros: 1_000 } }));
    expect(r).to.deep.include({ ok: false, reason: 'master_quota', limit: 1_000, spentMicros: 1_000 });
    expect(await dump()).to.deep.equal({});
  });

  it('a lifetime quota refusal wins over a rate limit (waiting would not help)', async () => {
    const sut = createLimiter(redis, { prefix });
    admitted(await sut.admit({ ...request({ key: { quotaLimitMicros: 30 } }), keyRpm: 1 }));
    const r = await sut.admit({ ...request({ key: { quotaLimitMicros: 30 } }), keyRpm: 1 });
    expect(r).to.deep.include({ ok: false, reason: 'key_quota' });
  });

  it('50 concurrent requests on two gateways for a 10-request quota: exactly 10 admitted', async () => {
    const [a, b] = [createLimiter(redis, { prefix }), createLimiter(other, { prefix })];
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).admit(request({ estimatedMicros: 25, key: { quotaLimitMicros: 250 } }))));
    expect(results.filter((r) => r.ok)).to.have.length(10);
    for (const r of results.filter((x) => !x.ok)) expect(r).to.deep.include({ reason: 'key_quota', limit: 250 });
    expect(await spent('key')).to.equal(250);
  });

  it('settle moves spent and the admission windows by actual − reserved', async () => {
    const now = future();
    const sut = createLimiter(redis, { prefix, clock: () => now });
    const budgets: Budgets = { hour: { cost_usd: 1 }, month: { tokens: 1_000_000 } };
    const r = admitted(await sut.admit(request({ estimatedMicros: 30, estimatedTokens: 100, key: { quotaLimitMicros: 1_000, budgets } })));
    const hour = UsageKeys.keyPeriod(prefix, KEY, 'hour', String(Math.floor(now / 3_600_000)));
    const month = UsageKeys.keyPeriod(prefix, KEY, 'month', periodWindow('month', now).bucket);
    expect(await redis.hgetall(hour)).to.deep.equal({ requests: '1', tokens: '100', cost: '30' });
    await sut.settle(r, 150, { costMicros: 45, billed: true });
    expect(await spent('key')).to.equal(45);
    expect(await redis.exists(UsageKeys.masterSpent(prefix, MASTER)), 'a master without quota or budget keeps no counter').to.equal(0);
    for (const k of [hour, month]) expect(await redis.hgetall(k)).to.deep.equal({ requests: '1', tokens: '150', cost: '45' });
  });

  it('a request not billed is refunded entirely: spend, tokens and its request count', async () => {
    const sut = createLimiter(redis, { prefix });
    await redis.set(UsageKeys.keySpent(prefix, KEY), '500');
    const r = admitted(await sut.admit(request({ estimatedMicros: 30, key: { quotaLimitMicros: 1_000, budgets: { day: { requests: 10 } } } })));
    expect(await spent('key')).to.equal(530);
    await sut.settle(r, 0, { costMicros: 0, billed: false });
    expect(await spent('key')).to.equal(500);
    const [day] = r.spend!.periods;
    expect(await redis.hgetall(UsageKeys.keyPeriod(prefix, KEY, 'day', day!.bucket))).to.deep.equal({ requests: '0', tokens: '0', cost: '0' });
  });

  it('a periodic budget refuses until its calendar window ends (Retry-After), and the next window starts empty', async () => {
    let now = future(); // 45 s before the minute ends
    const sut = createLimiter(redis, { prefix, clock: () => now });
    const budgets: Budgets = { minute: { requests: 2 } };
    for (let i = 0; i < 2; i++) admitted(await sut.admit(request({ master: { budgets } })));
    const bucket = String(Math.floor(now / 60_000));
    const key = UsageKeys.masterPeriod(prefix, MASTER, 'minute', bucket);
    expect(await redis.pexpiretime(key)).to.equal((Number(bucket) + 1) * 60_000 + PERIOD_TTL_MARGIN_MS);
    const before = await dump();
    const refused = await sut.admit(request({ master: { budgets } }));
    expect(refused).to.deep.equal({ ok: false, reason: 'master_budget', retryAfterMs: 45_000, limit: 2, period: 'minute', metric: 'requests' });
    expect(await dump()).to.deep.equal(before);
    now += 45_000;
    const next = admitted(await sut.admit(request({ master: { budgets } })));
    expect(next.spend?.periods[0]).to.include({ subject: 'master', period: 'minute', bucket: String(Number(bucket) + 1) });
  });

  it('a cost budget counts µ$ and overshoots by at most one reservation', async () => {
    const sut = createLimiter(redis, { prefix });
    const budgets: Budgets = { day: { cost_usd: 0.0001 } }; // 100 µ$
    const results = [];
    for (let i = 0; i < 6; i++) results.push(await sut.admit(request({ estimatedMicros: 40, key: { budgets } })));
    expect(results.map((r) => r.ok)).to.deep.equal([true, true, true, false, false, false]);
    expect(results[3]).to.deep.include({ reason: 'key_budget', period: 'day', metric: 'cost_usd', limit: 100 });
  });

  it('when several budgets refuse, the one with the longest wait is named', async () => {
    const now = future();
    const sut = createLimiter(redis, { prefix, clock: () => now });
    const budgets: Budgets = { minute: { requests: 1 }, day: { requests: 1 } };
    admitted(await sut.admit(request({ key: { budgets } })));
    const r = await sut.admit(request({ key: { budgets } }));
    expect(r).to.deep.include({ ok: false, reason: 'key_budget', period: 'day', retryAfterMs: periodWindow('day', now).endMs - now });
  });

  it('only a subject with a quota or a budget keeps a spent counter (none is ever partial)', async () => {
    const sut = createLimiter(redis, { prefix });
    const r = admitted(await sut.admit(request({ estimatedMicros: 30, master: { budgets: { month: { cost_usd: 5 } } } })));
    expect(r.spend?.subjects).to.equal('m');
    await sut.settle(r, 0, { costMicros: 50, billed: true });
    expect(await spent('master')).to.equal(50);
    expect(await redis.exists(UsageKeys.keySpent(prefix, KEY))).to.equal(0);
    expect(await redis.smembers(UsageKeys.dirtyKeys(prefix))).to.deep.equal([]);
    expect(await redis.smembers(UsageKeys.dirtyMasters(prefix))).to.deep.equal([String(MASTER)]);
  });

  it('a request without spend touches no usage counter', async () => {
    const sut = createLimiter(redis, { prefix });
    const req = request();
    delete req.spend;
    const r = admitted(await sut.admit(req));
    expect(r.spend).to.equal(undefined);
    await sut.settle(r, 10);
    expect(Object.keys(await dump()).filter((k) => k.includes('usage:'))).to.deep.equal([]);
  });
});
