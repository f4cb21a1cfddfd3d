import { expect } from 'chai';
import type { Job } from 'bullmq';
import { Redis } from 'ioredis';
import { tmpdir } from 'node:os';
import type { ProcessorContext } from '../../jobs/processor-context.js';
import { processStats } from '../../jobs/stats/processor.js';
import { applyUpstreamCounters } from '../../src/db/stats.repository.js';
import { drainUpstreamCounters, finishBatch, flushUpstreamStats } from '../../src/domain/stats-flush.service.js';
import { upstreamStatsPort } from '../../src/gateway/proxy/wiring.js';
import { loadConfig } from '../../src/lib/config.js';
import { createLogger } from '../../src/lib/logger.js';
import { SecretBox } from '../../src/lib/secret-box.js';
import { UpstreamStatsKeys } from '../../src/lib/stats-keys.js';
import { seedGroup } from '../support/gateway-fixtures.js';
import { resetDatabase, testEnv } from '../support/hooks.js';

/** The `stats` flush: gateway counters in Redis → api_keys and provider_groups, exactly once. */
describe('stats flush', function () {
  this.timeout(20_000);
  const logger = createLogger({ level: 'silent' });
  const config = loadConfig({ env: { EZ_ENV: 'test' }, cwd: tmpdir() });
  const knex = () => testEnv().knex;
  let redis: Redis;
  let ctx: ProcessorContext;
  let group: { groupId: number; apiKeyIds: number[] };
  let other: { groupId: number; apiKeyIds: number[] };
  const port = () => upstreamStatsPort(redis, logger);
  const job = (id = 'stats-1') => ({ id, data: { reason: 'tick' }, attemptsMade: 0, opts: {} }) as unknown as Job<unknown>;

  before(() => {
    redis = new Redis(testEnv().redisUrl);
  });
  after(() => redis.disconnect());

  beforeEach(async () => {
    await resetDatabase();
    const stale = await redis.keys('stats:apikey:*');
    if (stale.length) await redis.del(...stale);
    group = await seedGroup({ name: 'g', type: 'openai', base_url: 'http://127.0.0.1:9/v1', models: ['m'], keys: ['sk-1-0000000000', 'sk-2-0000000000'] });
    other = await seedGroup({ name: 'h', type: 'openai', base_url: 'http://127.0.0.1:9/v1', models: ['m'], keys: ['sk-3-0000000000'] });
    // A known updated_at, to prove the flush leaves it alone.
    await knex()('api_keys').update({ updated_at: new Date('2026-01-01T00:00:00Z') });
    ctx = { config, knex: knex(), redis, secretBox: new SecretBox('s'.repeat(40)), logger, now: () => new Date() };
  });

  async function counters() {
    const rows = await knex()('api_keys').select('id', 'request_count', 'success_count', 'failure_count', 'token_count', 'last_used_at', 'updated_at').orderBy('id');
    return rows as Array<{ id: number; request_count: number; success_count: number; failure_count: number; token_count: number; last_used_at: Date | null; updated_at: Date }>;
  }
  async function groupCounters(id: number) {
    return knex()('provider_groups').where({ id }).first('request_count', 'success_count', 'failure_count', 'token_count', 'last_used_at');
  }
  async function recorded(): Promise<void> {
    // The port does not wait; the pipeline is on the same connection, so a PING after it is ordered.
    await redis.ping();
  }

  const [t1, t2] = [Date.parse('2026-03-01T10:00:00Z'), Date.parse('2026-03-01T10:05:00Z')];

  it('moves the gateway counters to api_keys and their groups, leaves updated_at alone and empties Redis', async () => {
    const [k1, k2] = group.apiKeyIds as [number, number];
    const [k3] = other.apiKeyIds as [number];
    port().record([{ apiKeyId: k1, requests: 2, success: 1, failure: 1, faults: 1, tokens: 30 }, { apiKeyId: k2, requests: 1, success: 1, failure: 0, faults: 0, tokens: 12 }], t1);
    port().record([{ apiKeyId: k1, requests: 1, success: 1, failure: 0, faults: 0, tokens: 8 }], t2);
    port().record([{ apiKeyId: k3, requests: 1, success: 0, failure: 1, faults: 1, tokens: 0 }], t1);
    await recorded();

    const result = await processStats(job(), ctx);
    expect(result.applied).to.have.length(1);
    expect(result).to.include({ api_keys: 3, requests: 5, tokens: 50 });
    const rows = await counters();
    expect(rows.map((r) => [r.id, r.request_count, r.success_count, r.failure_count, r.token_count, r.last_used_at?.toISOString() ?? null])).to.deep.equal([
      [k1, 3, 2, 1, 38, new Date(t2).toISOString()],
      [k2, 1, 1, 0, 12, new Date(t1).toISOString()],
      [k3, 1, 0, 1, 0, new Date(t1).toISOString()],
    ]);
    for (const r of rows) expect(r.updated_at.toISOString()).to.equal('2026-01-01T00:00:00.000Z');
    expect(await groupCounters(group.groupId)).to.deep.include({ request_count: 4, success_count: 3, failure_count: 1, token_count: 50 });
    expect((await groupCounters(group.groupId))!.last_used_at.toISOString()).to.equal(new Date(t2).toISOString());
    expect(await groupCounters(other.groupId)).to.deep.include({ request_count: 1, success_count: 0, failure_count: 1, token_count: 0 });
    expect(await redis.keys('stats:apikey:*')).to.deep.equal([]);

    // The same job again (a retry after BullMQ lost the completion): nothing left, nothing added.
    const again = await processStats(job(), ctx);
    expect(again.applied).to.deep.equal([]);
    expect((await counters()).map((r) => r.request_count)).to.deep.equal([3, 1, 1]);
  });

  it('a run that crashed after its commit: the retry skips the applied batch, counts nothing twice, loses nothing new', async () => {
    const [k1] = group.apiKeyIds as [number];
    port().record([{ apiKeyId: k1, requests: 4, success: 4, failure: 0, faults: 0, tokens: 100 }], t1);
    await recorded();
    // Attempt 1: drain + commit, then "crash" before deleting the batch from Redis.
    const batch = (await drainUpstreamCounters({ knex: knex(), redis }))!;
    expect(await applyUpstreamCounters(knex(), batch.batchId, batch.deltas)).to.equal(true);
    // Meanwhile the gateway keeps counting into a fresh hash.
    port().record([{ apiKeyId: k1, requests: 1, success: 0, failure: 1, faults: 1, tokens: 0 }], t2);
    await recorded();

    // Attempt 2 (the job retried).
    const retry = await processStats(job(), ctx);
    expect(retry.skipped).to.deep.equal([batch.batchId]);
    expect(retry.applied).to.have.length(1);
    const [row] = await counters();
    expect([row!.request_count, row!.success_count, row!.failure_count, row!.token_count]).to.deep.equal([5, 4, 1, 100]);
    expect(await redis.keys('stats:apikey:*')).to.deep.equal([]);
  });

  it('a run that crashed after draining, before its commit: the next run applies the waiting batch once', async () => {
    const [k1, k2] = group.apiKeyIds as [number, number];
    port().record([{ apiKeyId: k1, requests: 2, success: 2, failure: 0, faults: 0, tokens: 10 }, { apiKeyId: k2, requests: 3, success: 1, failure: 2, faults: 2, tokens: 7 }], t1);
    await recorded();
    const drained = (await drainUpstreamCounters({ knex: knex(), redis }))!;
    expect(drained.resumed).to.equal(false);
    // A second drain (the retry) gets the same batch back, not an empty one.
    const resumed = (await drainUpstreamCounters({ knex: knex(), redis }))!;
    expect(resumed).to.deep.equal({ ...drained, resumed: true });
    const result = await flushUpstreamStats({ knex: knex(), redis });
    expect(result.applied).to.deep.equal([drained.batchId]);
    expect((await counters()).map((r) => [r.request_count, r.success_count, r.failure_count, r.token_count])).to.deep.equal([[2, 2, 0, 10], [3, 1, 2, 7], [0, 0, 0, 0]]);
    // Finishing a batch that is already gone does nothing.
    await finishBatch({ knex: knex(), redis }, drained.batchId);
  });

  it('concurrent flushes (the tick and POST /internal/stats/flush) count every request exactly once', async () => {
    const [k1, k2] = group.apiKeyIds as [number, number];
    let expectedRequests = 0;
    const runs: Array<Promise<unknown>> = [];
    for (let round = 0; round < 20; round++) {
      port().record([{ apiKeyId: round % 2 ? k1 : k2, requests: 1, success: 1, failure: 0, faults: 0, tokens: round }], t1 + round);
      expectedRequests++;
      if (round % 4 === 0) runs.push(flushUpstreamStats({ knex: knex(), redis }), processStats(job(`stats-${round}`), ctx));
    }
    await Promise.all(runs);
    await recorded();
    await flushUpstreamStats({ knex: knex(), redis });
    const rows = await counters();
    expect(rows[0]!.request_count + rows[1]!.request_count).to.equal(expectedRequests);
    expect(rows[0]!.token_count + rows[1]!.token_count).to.equal((19 * 20) / 2);
    expect(await redis.keys('stats:apikey:*')).to.deep.equal([]);
  });

  it('drops counters of a deleted upstream key without failing the batch', async () => {
    const [k1, k2] = group.apiKeyIds as [number, number];
    port().record([{ apiKeyId: k1, requests: 1, success: 1, failure: 0, faults: 0, tokens: 1 }, { apiKeyId: k2, requests: 1, success: 1, failure: 0, faults: 0, tokens: 1 }], t1);
    await recorded();
    await knex()('api_keys').where({ id: k2 }).delete();
    const result = await flushUpstreamStats({ knex: knex(), redis });
    expect(result.applied).to.have.length(1);
    expect((await counters()).find((r) => r.id === k1)!.request_count).to.equal(1);
    expect(await groupCounters(group.groupId)).to.deep.include({ request_count: 1 });
    expect(await redis.exists(UpstreamStatsKeys.flushing(''))).to.equal(0);
  });
});
