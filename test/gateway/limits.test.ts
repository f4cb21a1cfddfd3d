import { expect } from 'chai';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { createLimiter, LimiterUnavailableError, LimitKeys, type AdmitRequest, type Limiter, type Reservation } from '../../src/gateway/limits/index.js';
import { testEnv } from '../support/hooks.js';

/** One gateway's connection, configured like the gateway's producer connection. */
function gatewayRedis(url = testEnv().redisUrl): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: true });
  redis.on('error', () => {});
  return redis;
}

async function deleteByPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}

function request(overrides: Partial<AdmitRequest> = {}): AdmitRequest {
  return { masterId: 1, masterQps: 0, keyId: 2, keyRpm: 0, keyTpm: 0, estimatedTokens: 0, requestId: randomUUID(), ...overrides };
}

function reservationOf(result: Awaited<ReturnType<Limiter['admit']>>): Reservation {
  if (!result.ok) throw new Error(`expected an admission, got ${result.reason}`);
  return result.reservation;
}

describe('limiter (Redis, two gateways)', () => {
  let prefix: string;
  let redisA: Redis;
  let redisB: Redis;

  beforeEach(() => {
    prefix = `test:${randomUUID()}:`;
    redisA = gatewayRedis();
    redisB = gatewayRedis();
  });

  afterEach(async () => {
    await deleteByPrefix(redisA, prefix);
    redisA.disconnect();
    redisB.disconnect();
  });

  it('a 100-per-minute key admits exactly 100 of 400 requests arriving at both gateways at once', async () => {
    const a = createLimiter(redisA, { prefix });
    const b = createLimiter(redisB, { prefix });
    const req = () => request({ keyRpm: 100, masterQps: 0 });
    const results = await Promise.all(Array.from({ length: 400 }, (_, i) => (i % 2 === 0 ? a : b).admit(req())));
    expect(results.filter((r) => r.ok)).to.have.length(100);
    const refused = results.filter((r) => !r.ok);
    expect(refused).to.have.length(300);
    for (const r of refused) {
      expect(r).to.include({ reason: 'key_rpm', limit: 100 });
      if (!r.ok) expect(r.retryAfterMs).to.be.within(1, 60_000);
    }
    expect(await redisA.zcard(LimitKeys.keyRpm(prefix, 2))).to.equal(100);
  });

  it('a 10-per-second master admits at most 10 in every 1 s window across both gateways over 3 s', async function () {
    this.timeout(15_000);
    const limiters = [createLimiter(redisA, { prefix }), createLimiter(redisB, { prefix })];
    const admittedAt: number[] = [];
    let attempts = 0;
    const deadline = Date.now() + 3_000;
    await Promise.all(
      limiters.flatMap((limiter) =>
        // 4 concurrent callers per gateway, each looping until the deadline (bounded by time).
        Array.from({ length: 4 }, async () => {
          while (Date.now() < deadline) {
            attempts++;
            const r = await limiter.admit(request({ masterId: 7, masterQps: 10 }));
            if (r.ok) admittedAt.push(r.reservation.atMs);
            else expect(r.retryAfterMs).to.be.within(1, 1_000);
          }
        }),
      ),
    );
    admittedAt.sort((x, y) => x - y);
    // Every window [t, t + 1 s) that starts at an admission holds at most 10 admissions.
    let worst = 0;
    for (let i = 0, j = 0; i < admittedAt.length; i++) {
      while (j < admittedAt.length && (admittedAt[j] ?? 0) < (admittedAt[i] ?? 0) + 1_000) j++;
      worst = Math.max(worst, j - i);
    }
    expect(attempts).to.be.greaterThan(200); // the limiter really was hammered
    expect(worst).to.be.at.most(10);
    expect(admittedAt.length).to.be.within(20, 40); // and it kept admitting, about 10 per second
  });

  it('a refusal says which limit and how long to wait', async () => {
    let now = 1_700_000_000_000;
    const sut = createLimiter(redisA, { prefix, clock: () => now });
    const req = () => request({ masterQps: 2, keyRpm: 1_000 });
    reservationOf(await sut.admit(req()));
    now += 100;
    reservationOf(await sut.admit(req()));
    now += 200;
    expect(await sut.admit(req())).to.deep.equal({ ok: false, reason: 'master_qps', limit: 2, retryAfterMs: 700 });
    now += 700;
    reservationOf(await sut.admit(req()));

    const rpm = () => request({ keyId: 3, keyRpm: 1 });
    reservationOf(await sut.admit(rpm()));
    now += 15_000;
    expect(await sut.admit(rpm())).to.deep.equal({ ok: false, reason: 'key_rpm', limit: 1, retryAfterMs: 45_000 });
  });

  it('a refused request consumes no capacity in any window', async () => {
    let now = 1_700_000_000_000;
    const sut = createLimiter(redisA, { prefix, clock: () => now });
    const req = (estimatedTokens: number) => request({ masterQps: 100, keyRpm: 3, keyTpm: 1_000, estimatedTokens });
    reservationOf(await sut.admit(req(400)));
    reservationOf(await sut.admit(req(400)));
    // TPM refuses (800 + 300 > 1 000): nothing may be written to the QPS or RPM logs.
    for (let i = 0; i < 5; i++) expect(await sut.admit(req(300))).to.include({ ok: false, reason: 'key_tpm' });
    expect(await redisA.zcard(LimitKeys.masterQps(prefix, 1))).to.equal(2);
    expect(await redisA.zcard(LimitKeys.keyRpm(prefix, 2))).to.equal(2);
    expect(Object.values(await redisA.hgetall(LimitKeys.keyTpm(prefix, 2))).map(Number)).to.deep.equal([800]);
    // So the third request of the minute still fits.
    now += 10;
    reservationOf(await sut.admit(req(200)));
    expect(await sut.admit(req(0))).to.include({ ok: false, reason: 'key_rpm' });
  });

  it('settle corrects the TPM window by actual − estimated', async () => {
    let now = 1_700_000_000_000;
    const sut = createLimiter(redisA, { prefix, clock: () => now });
    const req = (estimatedTokens: number) => request({ keyTpm: 1_000, estimatedTokens });
    const first = reservationOf(await sut.admit(req(900)));
    expect(await sut.admit(req(200))).to.include({ ok: false, reason: 'key_tpm' });
    now += 500;
    await sut.settle(first, 150); // refunds 750
    const second = reservationOf(await sut.admit(req(200)));
    now += 2_000;
    await sut.settle(second, 1_000); // 800 more than charged, in the current bucket
    const refused = await sut.admit(req(0));
    expect(refused).to.include({ ok: false, reason: 'key_tpm' });
    // 350 tokens sit in the first request's bucket, the 800 overshoot in the current one: once the
    // first bucket leaves the window (61 s after it began) 800 remain, which fits.
    if (!refused.ok) expect(refused.retryAfterMs).to.equal((Math.floor(first.atMs / 1_000) + 61) * 1_000 - now);
    const buckets = await redisA.hgetall(LimitKeys.keyTpm(prefix, 2));
    expect(Object.values(buckets).map(Number).reduce((x, y) => x + y, 0)).to.equal(150 + 200 + 800);
  });

  it('a request larger than the whole TPM budget is admitted into an empty window only', async () => {
    const sut = createLimiter(redisA, { prefix });
    const first = reservationOf(await sut.admit(request({ keyTpm: 1_000, estimatedTokens: 5_000 })));
    expect(first.chargedTokens).to.equal(1_000);
    expect(await sut.admit(request({ keyTpm: 1_000, estimatedTokens: 5_000 }))).to.include({ ok: false, reason: 'key_tpm' });
  });

  it('counts admitted and refused requests and settled tokens per second', async () => {
    const now = 1_700_000_123_456;
    const second = Math.floor(now / 1_000);
    const sut = createLimiter(redisA, { prefix, clock: () => now });
    const r = reservationOf(await sut.admit(request({ masterId: 5, keyRpm: 1 })));
    await sut.admit(request({ masterId: 5, keyRpm: 1 }));
    await sut.settle(r, 42);
    const read = (key: string) => redisA.get(key).then(Number);
    expect(await read(LimitKeys.statsRequests(prefix, second))).to.equal(1);
    expect(await read(LimitKeys.statsMasterRequests(prefix, 5, second))).to.equal(1);
    expect(await read(LimitKeys.statsLimited(prefix, second))).to.equal(1);
    expect(await read(LimitKeys.statsMasterLimited(prefix, 5, second))).to.equal(1);
    expect(await read(LimitKeys.statsTokens(prefix, second))).to.equal(42);
    expect(await read(LimitKeys.statsMasterTokens(prefix, 5, second))).to.equal(42);
    expect(await redisA.ttl(LimitKeys.statsRequests(prefix, second))).to.be.within(1, 120);
    expect(await redisA.pttl(LimitKeys.keyRpm(prefix, 2))).to.be.within(1, 61_000);
  });

  it('a repeated client request id cannot slip past the RPM log', async () => {
    const sut = createLimiter(redisA, { prefix });
    const same = () => request({ keyRpm: 2, requestId: 'client-chosen-id' });
    reservationOf(await sut.admit(same()));
    reservationOf(await sut.admit(same()));
    expect(await sut.admit(same())).to.include({ ok: false, reason: 'key_rpm' });
  });

  it('keeps working after the script cache is flushed (EVALSHA → NOSCRIPT → EVAL)', async () => {
    const sut = createLimiter(redisA, { prefix });
    await sut.warmUp();
    reservationOf(await sut.admit(request({ keyRpm: 2 })));
    await redisA.script('FLUSH');
    reservationOf(await sut.admit(request({ keyRpm: 2 })));
    expect(await sut.admit(request({ keyRpm: 2 }))).to.include({ ok: false, reason: 'key_rpm' });
  });

  describe('when Redis is unreachable', () => {
    let down: Redis;
    beforeEach(() => {
      // Nothing listens on port 1: every command fails at once.
      down = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
      down.on('error', () => {});
    });
    afterEach(() => down.disconnect());

    it('enforces the same limits per process by default, and reports the failure', async () => {
      const errors: string[] = [];
      const sut = createLimiter(down, { prefix, onError: (_err, op) => errors.push(op) });
      const results = await Promise.all(Array.from({ length: 5 }, () => sut.admit(request({ keyRpm: 3 }))));
      expect(results.map((r) => r.ok)).to.deep.equal([true, true, true, false, false]);
      expect(sut.degraded).to.equal(true);
      expect(errors).to.have.length(5);
      await sut.settle(reservationOf(results[0]!), 10); // local, never rejects
    });

    it('fails closed when asked to', async () => {
      const sut = createLimiter(down, { prefix, onRedisFailure: 'closed' });
      let caught: unknown;
      await sut.admit(request({ keyRpm: 3 })).catch((err: unknown) => (caught = err));
      expect(caught).to.be.instanceOf(LimiterUnavailableError);
    });

    it('fails open when asked to', async () => {
      const sut = createLimiter(down, { prefix, onRedisFailure: 'open' });
      const results = await Promise.all(Array.from({ length: 5 }, () => sut.admit(request({ keyRpm: 1 }))));
      expect(results.every((r) => r.ok)).to.equal(true);
    });
  });
});
