import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createQueues } from '../../jobs/queues.js';
import { write, type WriteContext } from '../../src/domain/write-context.js';
import { closeRedis, createRedis, waitForRedis } from '../../src/lib/redis.js';
import { RedisKeys } from '../../src/lib/redis-layout.js';
import { LimitKeys } from '../../src/gateway/limits/limit-keys.js';
import { publish, seedGroup, seedKey, seedMaster } from '../support/gateway-fixtures.js';
import { chatOnce, startGatewayProcess, waitForConfigVersion, type GatewayProcess } from '../support/gateway-process.js';
import { resetDatabase, testEnv } from '../support/hooks.js';
import { startMockUpstream, type MockUpstream } from '../support/mock-upstream.js';
import { syncNow } from '../support/sync.js';

/**
 * Two real gateway processes over one Redis (DESIGN §9): a revoked or disabled key, or a
 * suspended master, is refused by every gateway within 1 s (invariant 3), and a master's QPS limit
 * holds across both replicas instead of multiplying per process (invariant 5).
 */
describe('several gateway processes', function () {
  this.timeout(90_000);
  const MODEL = 'gpt-4o-mini';
  const prefix = `ez-multi-${randomUUID().slice(0, 8)}`;
  const ctx: WriteContext = { actor: { type: 'admin', id: 'multi-gateway-test' } };
  const deps = () => ({ knex: testEnv().knex, nudge: async () => {} });
  let mock: MockUpstream;
  let redis: Redis;
  let gateways: GatewayProcess[] = [];
  type Case = 'disable' | 'epoch' | 'suspend' | 'qps';
  const masters: Record<Case, number> = { disable: 0, epoch: 0, suspend: 0, qps: 0 };
  const keys = {} as Record<Case, { id: number; key: string; digest: string }>;

  before(async function () {
    this.timeout(120_000);
    await resetDatabase();
    mock = await startMockUpstream();
    redis = createRedis({ url: testEnv().redisUrl, defaulted: false }, 'worker', 'multi-gateway-test');
    await waitForRedis(redis);
    await redis.flushdb();
    await seedGroup({ name: 'oa', type: 'openai', base_url: `${mock.url}/v1`, models: [MODEL], keys: ['sk-upstream-multi-0000000000'] });
    for (const name of ['disable', 'epoch', 'suspend', 'qps'] as const) {
      masters[name] = await seedMaster(`multi-${name}`, { global_qps: name === 'qps' ? 10 : 0 });
      keys[name] = await seedKey(masters[name], `ezk_multi-${name}-client-key-${'0'.repeat(20)}`);
    }
    await publish(redis);
    const version = Number(await redis.get(RedisKeys.configVersion));
    gateways = await Promise.all([0, 1].map(() => startGatewayProcess({ redisUrl: testEnv().redisUrl, queuePrefix: prefix })));
    await Promise.all(gateways.map((g) => waitForConfigVersion(g.url, version)));
  });

  after(async function () {
    this.timeout(60_000);
    // Graceful stop on SIGTERM, asserted: a replica that hangs or crashes on shutdown is a bug.
    const codes = await Promise.all(gateways.map((g) => g.stop('SIGTERM').catch((err: unknown) => (err as Error).message)));
    const queues = createQueues({ url: testEnv().redisUrl, defaulted: false }, prefix, ['logs', 'provider-events']);
    for (const queue of queues.list()) await queue.obliterate({ force: true }).catch(() => undefined);
    await queues.close();
    await mock?.close();
    await closeRedis(redis);
    expect(codes, `gateway exit codes after SIGTERM:\n${gateways.map((g) => g.proc.output().slice(-1500)).join('\n---\n')}`).to.deep.equal(
      gateways.map(() => 0),
    );
  });

  /** Both gateways serve the key now. */
  async function expectServedByBoth(key: string): Promise<void> {
    for (const [i, g] of gateways.entries()) {
      const res = await chatOnce(g.url, key, MODEL);
      expect(res.status, `gateway ${i} serves the key before the change: ${res.body}`).to.equal(200);
    }
  }

  /**
   * Applies the outbox (as the sync worker does), then polls both gateways every ~20 ms until each
   * answers 401 (bounded at 3 s). Returns the ms from syncNow() returning to each first refusal.
   */
  async function msUntilBothRefuse(key: string): Promise<number[]> {
    await syncNow(redis);
    const applied = Date.now();
    const refusedAfter: Array<number | undefined> = gateways.map(() => undefined);
    const last: string[] = gateways.map(() => '');
    while (refusedAfter.some((ms) => ms === undefined) && Date.now() - applied < 3_000) {
      await Promise.all(
        gateways.map(async (g, i) => {
          if (refusedAfter[i] !== undefined) return;
          const res = await chatOnce(g.url, key, MODEL);
          last[i] = `${res.status} ${res.body.slice(0, 200)}`;
          if (res.status === 401) refusedAfter[i] = Date.now() - applied;
        }),
      );
      await sleep(20);
    }
    const measured = refusedAfter.map((ms) => ms ?? Infinity);
    for (const [i, ms] of measured.entries()) {
      expect(ms, `gateway ${i} refused the key ${ms} ms after the sync applied (limit 1,000 ms); last answer: ${last[i]}`).to.be.below(1_000);
    }
    // And it stays refused (no flapping back from a stale cache).
    for (const [i, g] of gateways.entries()) {
      expect((await chatOnce(g.url, key, MODEL)).status, `gateway ${i} keeps refusing`).to.equal(401);
    }
    return measured;
  }

  describe('refusal within one second on every gateway (invariant 3)', () => {
    it('a disabled key', async () => {
      const { id, key, digest } = keys.disable;
      await expectServedByBoth(key);
      await write(deps(), ctx, async (unit) => {
        await unit.trx('keys').where({ id }).update({ status: 'disabled', updated_at: new Date() });
        await unit.sync({ resource: 'key', id, digest, action: 'upsert' });
      });
      const ms = await msUntilBothRefuse(key);
      console.log(`      disabled key refused after ${ms.join(' ms / ')} ms (gateway 0 / 1)`);
    });

    it('a revoked key (the master epoch moved past the key)', async () => {
      const masterId = masters.epoch;
      const { key } = keys.epoch;
      await expectServedByBoth(key);
      await write(deps(), ctx, async (unit) => {
        await unit.trx('masters').where({ id: masterId }).increment('epoch', 1);
        await unit.sync({ resource: 'master', id: masterId, action: 'upsert' });
      });
      const ms = await msUntilBothRefuse(key);
      console.log(`      revoked key refused after ${ms.join(' ms / ')} ms (gateway 0 / 1)`);
      // A key issued at the new epoch works again on both: the refusal was the epoch, nothing else.
      const fresh = await seedKey(masterId, `ezk_multi-epoch-fresh-key-${'0'.repeat(20)}`, { issued_at_epoch: 1 });
      await syncNow(redis);
      const deadline = Date.now() + 2_000;
      const statuses = async () => Promise.all(gateways.map(async (g) => (await chatOnce(g.url, fresh.key, MODEL)).status));
      let seen = await statuses();
      while (seen.some((s) => s !== 200) && Date.now() < deadline) {
        await sleep(20);
        seen = await statuses();
      }
      expect(seen, 'a key issued at the new epoch is served by both gateways').to.deep.equal([200, 200]);
    });

    it('a suspended master', async () => {
      const masterId = masters.suspend;
      const { key } = keys.suspend;
      await expectServedByBoth(key);
      await write(deps(), ctx, async (unit) => {
        await unit.trx('masters').where({ id: masterId }).update({ status: 'suspended' });
        await unit.sync({ resource: 'master', id: masterId, action: 'upsert' });
      });
      const ms = await msUntilBothRefuse(key);
      console.log(`      suspended master's key refused after ${ms.join(' ms / ')} ms (gateway 0 / 1)`);
    });
  });

  it('a master QPS limit holds across both gateways (invariant 5)', async function () {
    this.timeout(30_000);
    const { key } = keys.qps;
    const LIMIT = 10;
    const DURATION_MS = 3_000;
    const LOOPS = 8;
    interface Sample {
      gateway: number;
      /** ms since the start, when the answer arrived */
      at: number;
      status: number;
      retryAfter: string | null;
    }
    const samples: Sample[] = [];
    // The limiter's own log (member → Redis TIME ms of the admission), read every 50 ms while the
    // load runs: entries stay ≥ 1 s, so the union is every admission with its exact instant.
    const admissions = new Map<string, number>();
    const logKey = LimitKeys.masterQps('', masters.qps);
    const readLog = async () => {
      const flat = await redis.zrange(logKey, 0, -1, 'WITHSCORES');
      for (let i = 0; i + 1 < flat.length; i += 2) admissions.set(flat[i]!, Number(flat[i + 1]));
    };
    let loading = true;
    const sampler = (async () => {
      while (loading) {
        await readLog();
        await sleep(50);
      }
      await readLog();
    })();
    const started = Date.now();
    await Promise.all(
      Array.from({ length: LOOPS }, async (_, loop) => {
        const gateway = loop % gateways.length;
        // Bounded: every loop stops issuing requests at DURATION_MS.
        while (Date.now() - started < DURATION_MS) {
          const res = await chatOnce(gateways[gateway]!.url, key, MODEL);
          samples.push({ gateway, at: Date.now() - started, status: res.status, retryAfter: res.retryAfter });
          if (res.status !== 200) await sleep(10);
        }
      }),
    );
    loading = false;
    await sampler;

    const admitted = samples.filter((s) => s.status === 200);
    const refused = samples.filter((s) => s.status !== 200);
    const perSecond: number[] = [];
    for (const s of admitted) perSecond[Math.floor(s.at / 1_000)] = (perSecond[Math.floor(s.at / 1_000)] ?? 0) + 1;
    const buckets = Array.from(perSecond, (n) => n ?? 0);
    // The sliding maximum over any 1,000 ms of answer times, for the report.
    const slidingMax = (instants: number[]) => {
      const times = [...instants].sort((a, b) => a - b);
      let max = 0;
      for (let i = 0, j = 0; i < times.length; i++) {
        while (times[i]! - times[j]! >= 1_000) j++;
        max = Math.max(max, i - j + 1);
      }
      return max;
    };
    const serverMax = slidingMax([...admissions.values()]);
    const perGateway = gateways.map((_, i) => admitted.filter((s) => s.gateway === i).length);
    const report =
      `admitted per wall-clock second ${JSON.stringify(buckets)}, per gateway ${JSON.stringify(perGateway)}, ` +
      `total ${admitted.length} admitted / ${refused.length} refused; limiter log: ${admissions.size} admissions, ` +
      `max ${serverMax} in any 1,000 ms of Redis time`;
    console.log(`      ${report}`);

    expect(new Set(refused.map((s) => s.status)), `refusals are 429 only (${report})`).to.satisfy((set: Set<number>) => [...set].every((s) => s === 429));
    expect(refused.length, `the limit was actually reached (${report})`).to.be.above(0);
    for (const s of refused) expect(s.retryAfter, 'a 429 carries a Retry-After in whole seconds').to.match(/^[1-9]\d*$/);
    // The limiter is a sliding log over Redis TIME, so any 1,000 ms of admissions holds at most 10
    // across every gateway. The test buckets by the client's arrival time, which trails the
    // admission by the upstream round trip (a few ms, varying per request): a fixed client-side
    // second therefore spans slightly more than 1,000 ms of admission time, and one admission from
    // the edge of the neighbouring window can land in it. Hence 10 + 1. Without a shared limit
    // (each process counting alone) two gateways would admit ~20 per second.
    for (const [second, n] of buckets.entries()) {
      expect(n, `second ${second}: ${n} admitted across both gateways (limit ${LIMIT} + 1 edge); ${report}`).to.be.at.most(LIMIT + 1);
    }
    // Exact, server side: the admissions the limiter logged (Redis TIME) are one per 200, and no
    // half-open 1,000 ms span of them holds more than the limit.
    expect(admissions.size, `one limiter admission per 200 (${report})`).to.equal(admitted.length);
    expect(serverMax, `admissions in any 1,000 ms of Redis time (${report})`).to.be.at.most(LIMIT);
    expect(admitted.length, `at least ~20 admitted over 3 s (${report})`).to.be.at.least(20);
    for (const [i, n] of perGateway.entries()) expect(n, `gateway ${i} admitted some (${report})`).to.be.above(0);
  });
});
