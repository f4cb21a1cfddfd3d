import { expect } from 'chai';
import type { Redis } from 'ioredis';
import OpenAI from 'openai';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type QueueSet } from '../../jobs/queues.js';
import { collectFigures } from '../../src/domain/alerts/figures.js';
import { DEFAULT_THRESHOLDS } from '../../src/domain/alerts/thresholds.js';
import { flushUpstreamStats } from '../../src/domain/stats-flush.service.js';
import { upstreamKeyUsage } from '../../src/gateway/proxy/engine.js';
import type { RunningServer } from '../../src/lib/http-server.js';
import { closeRedis, createRedis, waitForRedis } from '../../src/lib/redis.js';
import { UpstreamStatsKeys } from '../../src/lib/stats-keys.js';
import { startTestGateway, stopTestGateway } from '../support/test-gateway.js';
import { publish, seedGroup, seedKey, seedMaster } from '../support/gateway-fixtures.js';
import { resetDatabase, testEnv } from '../support/hooks.js';
import { startMockUpstream, type MockUpstream } from '../support/mock-upstream.js';

/** The gateway's per upstream key counters, after real proxied requests, through to the flush. */
describe('gateway upstream key counters', function () {
  this.timeout(30_000);
  let mock: MockUpstream;
  let redis: Redis;
  let gateway: RunningServer;
  let queues: QueueSet;
  let clientKey: string;
  let apiKeyIds: number[];
  let groupId: number;
  const prefix = `ez-ustats-${randomUUID().slice(0, 8)}`;

  before(async () => {
    await resetDatabase();
    mock = await startMockUpstream();
    redis = createRedis({ url: testEnv().redisUrl, defaulted: false }, 'worker', 'upstream-stats-test');
    await waitForRedis(redis);
    await redis.flushdb();
    const masterId = await seedMaster('acme');
    clientKey = (await seedKey(masterId, 'ezk_upstream-stats-client-key-00000')).key;
    ({ apiKeyIds, groupId } = await seedGroup({ name: 'oa', type: 'openai', base_url: `${mock.url}/v1`, models: ['gpt-4o-mini'], keys: ['sk-one-000000000000', 'sk-two-000000000000'] }));
    await publish(redis);
    ({ gateway, queues } = await startTestGateway(redis, prefix, ['logs']));
  });

  after(async () => {
    await stopTestGateway(gateway, queues);
    await mock?.close();
    await closeRedis(redis);
  });

  const openai = () => new OpenAI({ apiKey: clientKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
  async function hashes(): Promise<Map<number, Record<string, string>>> {
    const out = new Map<number, Record<string, string>>();
    for (const id of apiKeyIds) {
      const h = await redis.hgetall(UpstreamStatsKeys.apiKey('', id));
      if (Object.keys(h).length) out.set(id, h);
    }
    return out;
  }
  const total = (m: Map<number, Record<string, string>>, field: string) => [...m.values()].reduce((n, h) => n + Number(h[field] ?? 0), 0);

  it('counts each upstream call on its key (a failover counts on both), tokens on the key that served, then flushes them', async () => {
    const before = Date.now();
    await openai().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    // The next request's first upstream call fails (500): the gateway fails over to the other key.
    mock.faults.push({ kind: 'status', status: 500 });
    await openai().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    const stream = await openai().chat.completions.create({ model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] });
    for await (const chunk of stream) void chunk;

    // Written after the response, without being awaited: poll briefly.
    let seen = new Map<number, Record<string, string>>();
    for (let i = 0; i < 50 && total(seen, 'requests') < 4; i++) {
      await sleep(20);
      seen = await hashes();
    }
    expect(total(seen, 'requests')).to.equal(4);
    expect(total(seen, 'success')).to.equal(3);
    expect(total(seen, 'failure')).to.equal(1);
    expect(total(seen, 'tokens')).to.equal(3 * 18);
    for (const h of seen.values()) {
      expect(Number(h.tokens ?? 0)).to.equal(18 * Number(h.success ?? 0)); // tokens only where a 2xx served
      expect(Number(h.last_used_ms)).to.be.within(before, Date.now());
    }
    expect((await redis.smembers(UpstreamStatsKeys.dirty(''))).map(Number).sort()).to.deep.equal([...seen.keys()].sort());

    const flushed = await flushUpstreamStats({ knex: testEnv().knex, redis });
    expect(flushed).to.include({ requests: 4, tokens: 54 });
    const rows = await testEnv().knex('api_keys').whereIn('id', apiKeyIds).select('id', 'request_count', 'success_count', 'failure_count', 'token_count');
    for (const row of rows as Array<{ id: number; request_count: number; success_count: number; failure_count: number; token_count: number }>) {
      const h = seen.get(row.id) ?? {};
      expect([row.request_count, row.success_count, row.failure_count, row.token_count]).to.deep.equal(['requests', 'success', 'failure', 'tokens'].map((f) => Number(h[f] ?? 0)));
    }
    expect(await testEnv().knex('provider_groups').where({ id: groupId }).first('request_count', 'token_count')).to.deep.equal({ request_count: 4, token_count: 54 });
  });

  it('a failed-over attempt reaches the provider-down figures of its key and group (the log row names only the key that answered)', async () => {
    await redis.del(...(await redis.keys('stats:upstream:minute:*')), 'none');
    mock.faults.push({ kind: 'status', status: 503 });
    await openai().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    mock.faults.push({ kind: 'status', status: 400 }); // the request's own fault: not the provider's
    await openai().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).catch(() => undefined);
    const figures = async () => collectFigures({ knex: testEnv().knex, redis, now: () => new Date() }, DEFAULT_THRESHOLDS);
    let measured = await figures();
    const calls = () => measured.failuresByApiKey.reduce((n, f) => n + f.requests, 0);
    for (let i = 0; i < 50 && calls() < 3; i++) {
      await sleep(20);
      measured = await figures();
    }
    expect(calls(), 'three upstream calls: 503, the failover, the 400').to.equal(3);
    expect(measured.failuresByApiKey.reduce((n, f) => n + f.errors, 0), 'one provider fault (the 503)').to.equal(1);
    expect(measured.failuresByApiKey.map((f) => Number(f.id)).every((id) => apiKeyIds.includes(id))).to.equal(true);
    expect(measured.failuresByProviderGroup).to.deep.equal([{ id: String(groupId), requests: 3, errors: 1 }]);
  });

  it('upstreamKeyUsage: every call a request, 2xx a success, a client abort neither, tokens on the last 2xx call; faults are the provider\'s failures only', () => {
    type Outcome = 'success' | 'status_5xx' | 'aborted' | 'timeout' | 'status_4xx' | 'status_429' | 'status_401_403' | 'connect_error';
    const call = (apiKeyId: number, outcome: Outcome) => ({ apiKeyId, outcome, providerType: 'openai', headersSeconds: null });
    expect(upstreamKeyUsage([call(1, 'status_5xx'), call(2, 'timeout'), call(1, 'success')], 30)).to.deep.equal([
      { apiKeyId: 1, requests: 2, success: 1, failure: 1, faults: 1, tokens: 30 },
      { apiKeyId: 2, requests: 1, success: 0, failure: 1, faults: 1, tokens: 0 },
    ]);
    expect(upstreamKeyUsage([call(3, 'aborted')], 5)).to.deep.equal([{ apiKeyId: 3, requests: 1, success: 0, failure: 0, faults: 0, tokens: 0 }]);
    // A bad request (4xx) and rate limiting (429) are failures of the call, not faults of the provider.
    expect(upstreamKeyUsage([call(4, 'status_4xx'), call(4, 'status_429'), call(4, 'status_401_403'), call(4, 'connect_error')], 0)).to.deep.equal([
      { apiKeyId: 4, requests: 4, success: 0, failure: 4, faults: 2, tokens: 0 },
    ]);
    expect(upstreamKeyUsage([], 5)).to.deep.equal([]);
  });
});
