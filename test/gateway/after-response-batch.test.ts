import { expect } from 'chai';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { LuaScript } from '../../src/gateway/limits/lua-script.js';
import { createAfterResponseBatch } from '../../src/gateway/proxy/after-response-batch.js';
import { UPSTREAM_MINUTE_TTL_SECONDS, UpstreamStatsKeys } from '../../src/lib/stats-keys.js';
import { testEnv } from '../support/hooks.js';

/**
 * The gateway's after-response writes (settles, upstream key counters) share one pipeline per
 * flush: replies reach each caller, counters are summed, a flushed script cache is reloaded.
 */
describe('after-response batch', () => {
  const prefix = `ez-batch-${randomUUID().slice(0, 8)}:`;
  const incr = new LuaScript(`return redis.call('INCRBY', KEYS[1], ARGV[1])`);
  let redis: Redis;
  let commands: string[] = [];

  before(() => {
    redis = new Redis(testEnv().redisUrl);
  });
  after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  async function monitored<T>(fn: () => Promise<T>): Promise<T> {
    const monitor = await redis.monitor();
    commands = [];
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args.some((a) => a.includes(prefix))) commands.push(args[0]!.toLowerCase());
    });
    try {
      return await fn();
    } finally {
      monitor.disconnect();
    }
  }

  it('sends queued scripts in one flush, each caller getting its own reply in order', async () => {
    const batch = createAfterResponseBatch(redis, { flushMs: 20, prefix });
    const key = `${prefix}counter`;
    const replies = await Promise.all([1, 2, 3, 4].map((n) => batch.script(incr, [key], [n])));
    expect(replies).to.deep.equal([1, 3, 6, 10]);
    await batch.close();
  });

  it('sums upstream key counters of many requests into one set of commands per key', async () => {
    const batch = createAfterResponseBatch(redis, { flushMs: 20, prefix });
    await monitored(async () => {
      for (let i = 0; i < 50; i++) batch.upstream([{ apiKeyId: 7, requests: 1, success: i % 5 === 0 ? 0 : 1, failure: i % 5 === 0 ? 1 : 0, faults: i % 5 === 0 ? 1 : 0, tokens: 10 }], 1_000 + i);
      await batch.flush();
      await redis.ping();
    });
    expect(await redis.hgetall(UpstreamStatsKeys.apiKey(prefix, 7))).to.deep.equal({ requests: '50', success: '40', failure: '10', tokens: '500', last_used_ms: '1049' });
    expect(await redis.smembers(UpstreamStatsKeys.dirty(prefix))).to.deep.equal(['7']);
    // Four cumulative fields and the minute window's requests and faults (stats:upstream:minute:*).
    expect(commands.filter((c) => c === 'hincrby').length, 'one HINCRBY per field, not per request').to.equal(6);
    expect(await redis.hgetall(UpstreamStatsKeys.minute(prefix, 0))).to.deep.equal({ '7:requests': '50', '7:faults': '10' });
    expect(await redis.ttl(UpstreamStatsKeys.minute(prefix, 0))).to.be.within(1, UPSTREAM_MINUTE_TTL_SECONDS);
    await batch.close();
  });

  it('re-sends a script alone when Redis lost its script cache (NOSCRIPT)', async () => {
    const batch = createAfterResponseBatch(redis, { flushMs: 5, prefix });
    const fresh = new LuaScript(`return redis.call('INCRBY', KEYS[1], ARGV[1]) -- ${randomUUID()}`);
    await redis.script('FLUSH');
    expect(await batch.script(fresh, [`${prefix}noscript`], [5])).to.equal(5);
    expect(await batch.script(fresh, [`${prefix}noscript`], [5])).to.equal(10);
    await batch.close();
  });

  it('flushes on close and runs later work at once', async () => {
    const batch = createAfterResponseBatch(redis, { flushMs: 60_000, prefix });
    const pending = batch.script(incr, [`${prefix}close`], [1]);
    await batch.close();
    expect(await pending).to.equal(1);
    expect(await batch.script(incr, [`${prefix}close`], [1])).to.equal(2);
  });
});
