import Anthropic from '@anthropic-ai/sdk';
import { expect } from 'chai';
import type { Redis } from 'ioredis';
import OpenAI from 'openai';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { createQueues } from '../../jobs/queues.js';
import { startWorker, type RunningWorker } from '../../jobs/worker.js';
import { UsageKeys } from '../../src/lib/budgets.js';
import { loadConfig, type Config } from '../../src/lib/config.js';
import { createLogger } from '../../src/lib/logger.js';
import { costOf, usdToMicros } from '../../src/lib/pricing.js';
import { closeRedis, createRedis, waitForRedis } from '../../src/lib/redis.js';
import { RedisKeys } from '../../src/lib/redis-layout.js';
import { estimateTokens } from '../../src/gateway/translate/usage.js';
import { publish, seedGroup, seedKey, seedMaster, seedModel } from '../support/gateway-fixtures.js';
import { startGatewayProcess, waitForConfigVersion, type GatewayProcess } from '../support/gateway-process.js';
import { resetDatabase, testEnv } from '../support/hooks.js';
import { startMockUpstream, type MockUpstream } from '../support/mock-upstream.js';

/**
 * Budgets at the gateway (issue #6, docs/budgets.md), with two real gateway processes over one
 * Redis, a real `logs` worker writing request_logs, and a mock upstream on loopback: quotas hold
 * across replicas, the settled spend equals the logged cost, aborted streams pay for what was
 * delivered, and what never produced output is not billed.
 */
describe('gateway budgets (two gateway processes)', function () {
  this.timeout(120_000);
  const prefix = `ez-budgets-${randomUUID().slice(0, 8)}`;
  /** $0.001 per request, no token prices; the upstream key's multiplier is 2 → 2,000 µ$ a request. */
  const PER_REQUEST = 'per-request-model';
  const PER_REQUEST_MICROS = 2_000;
  /** $10 / $100 per 1M input / output tokens (10 / 100 µ$ a token at multiplier 1). */
  const PER_TOKEN = 'per-token-model';
  const PRICES = { input_per_1m: 10, output_per_1m: 100, cache_read_per_1m: 0, cache_write_per_1m: 0, per_request: 0 };
  let mock: MockUpstream;
  let redis: Redis;
  let gateways: GatewayProcess[] = [];
  let worker: RunningWorker;
  let masterId: number;
  const keys = {} as Record<'quota' | 'metered' | 'rpm' | 'exhausted' | 'budget' | 'masterQuota', { id: number; key: string }>;
  let poorMasterId: number;

  before(async function () {
    this.timeout(120_000);
    await resetDatabase();
    mock = await startMockUpstream();
    redis = createRedis({ url: testEnv().redisUrl, defaulted: false }, 'worker', 'budgets-test');
    await waitForRedis(redis);
    await redis.flushdb();
    await seedModel(PER_REQUEST, { price_per_request: 0.001 });
    await seedModel(PER_TOKEN, { price_input: 10, price_output: 100 });
    await seedGroup({ name: 'oa-x2', type: 'openai', base_url: `${mock.url}/v1`, models: [PER_REQUEST], keys: ['sk-upstream-budget-x2-000000000'], rate_multiplier: 2 });
    await seedGroup({ name: 'oa-x1', type: 'openai', base_url: `${mock.url}/v1`, models: [PER_TOKEN], keys: ['sk-upstream-budget-x1-000000000'] });
    masterId = await seedMaster('budgets');
    poorMasterId = await seedMaster('budgets-poor', { quota_limit: 0 });
    const key = (name: string) => `ezk_budgets-${name}-client-key-${'0'.repeat(20)}`;
    keys.quota = await seedKey(masterId, key('quota'), { quota_limit: 10 * PER_REQUEST_MICROS });
    keys.metered = await seedKey(masterId, key('metered'), { quota_limit: 1_000_000_000 });
    keys.rpm = await seedKey(masterId, key('rpm'), { quota_limit: 1_000_000_000, rpm_limit: 1 });
    keys.exhausted = await seedKey(masterId, key('exhausted'), { status: 'exhausted', quota_limit: 100, quota_used: 100 });
    keys.budget = await seedKey(masterId, key('budget'), { budgets: JSON.stringify({ minute: { requests: 2 } }) });
    keys.masterQuota = await seedKey(poorMasterId, key('poor'));
    await publish(redis);
    const version = Number(await redis.get(RedisKeys.configVersion));
    const env = { EZ_LOG_FLUSH_MS: '50' };
    gateways = await Promise.all([0, 1].map(() => startGatewayProcess({ redisUrl: testEnv().redisUrl, queuePrefix: prefix, env })));
    await Promise.all(gateways.map((g) => waitForConfigVersion(g.url, version)));
    const config: Config = { ...loadConfig({ env: { EZ_ENV: 'test', EZ_QUEUE_PREFIX: prefix }, cwd: tmpdir() }), redis: { url: testEnv().redisUrl, defaulted: false } };
    worker = await startWorker({ config, secrets: { master: 'w'.repeat(40) }, knex: testEnv().knex, logger: createLogger({ level: 'silent' }), queueNames: ['logs'] });
  });

  after(async function () {
    this.timeout(60_000);
    await worker?.close();
    await Promise.all(gateways.map((g) => g.stop('SIGTERM').catch(() => undefined)));
    const queues = createQueues({ url: testEnv().redisUrl, defaulted: false }, prefix, ['logs', 'provider-events']);
    for (const queue of queues.list()) await queue.obliterate({ force: true }).catch(() => undefined);
    await queues.close();
    await mock?.close();
    await closeRedis(redis);
  });

  beforeEach(() => {
    mock.faults.length = 0;
    mock.chunkIntervalMs = 0;
    mock.reply = 'Hello from the mock upstream';
  });

  const chat = (url: string, key: string, body: Record<string, unknown>, requestId = randomUUID(), signal?: AbortSignal) =>
    fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'x-request-id': requestId },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], ...body }),
      signal: signal ?? AbortSignal.timeout(10_000),
    });

  const spentOf = async (keyId: number) => Number((await redis.get(UsageKeys.keySpent('', keyId))) ?? 0);

  /** Polls until `read()` returns `want` (bounded); returns the last value read. */
  async function eventually<T>(read: () => Promise<T>, want: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let value = await read();
    while (!want(value) && Date.now() < deadline) {
      await sleep(50);
      value = await read();
    }
    return value;
  }

  interface LogRow {
    request_id: string;
    status_code: number;
    error_code: string | null;
    cost_list: string;
    cost_actual: string;
    prompt_tokens: number;
    completion_tokens: number;
    usage_source: string | null;
    abort_reason: string | null;
  }
  const logRows = (keyId: number) => testEnv().knex('request_logs').where({ key_id: keyId }).select<LogRow[]>('*');
  async function logRow(requestId: string): Promise<LogRow> {
    const rows = await eventually(() => testEnv().knex('request_logs').where({ request_id: requestId }).select<LogRow[]>('*'), (r) => r.length === 1);
    expect(rows, `the log row of ${requestId} reached PostgreSQL`).to.have.length(1);
    return rows[0]!;
  }

  it('a 10-request quota under 50 concurrent requests over both gateways admits 10 (≤ 11), refuses the rest with insufficient_quota, and the settled spend equals the logged cost', async () => {
    const results = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const res = await chat(gateways[i % 2]!.url, keys.quota.key, { model: PER_REQUEST });
        return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as { error?: { code?: string; type?: string } } };
      }),
    );
    const ok = results.filter((r) => r.status === 200).length;
    expect(ok, JSON.stringify(results.map((r) => r.status))).to.be.within(10, 11);
    const refused = results.filter((r) => r.status !== 200);
    expect(refused).to.have.length(50 - ok);
    for (const r of refused) {
      expect(r.status).to.equal(429);
      expect(r.body.error).to.include({ code: 'insufficient_quota', type: 'insufficient_quota' });
      expect(r.retryAfter, 'a used-up quota has no Retry-After').to.equal(null);
    }
    // Every request is logged (refusals cost 0); the live counter settles to the sum of the logged costs.
    const rows = await eventually(() => logRows(keys.quota.id), (r) => r.length === 50);
    expect(rows).to.have.length(50);
    const loggedMicros = rows.reduce((sum, row) => sum + usdToMicros(Number(row.cost_actual)), 0);
    expect(loggedMicros).to.equal(ok * PER_REQUEST_MICROS);
    for (const row of rows.filter((r) => r.status_code === 200)) expect(Number(row.cost_list)).to.equal(0.001);
    expect(await eventually(() => spentOf(keys.quota.id), (v) => v === loggedMicros)).to.equal(loggedMicros);
    expect(await redis.sismember(UsageKeys.dirtyKeys(''), String(keys.quota.id))).to.equal(1);
    // The refusal was reported to the control plane, at most once per gateway process.
    const queues = createQueues({ url: testEnv().redisUrl, defaulted: false }, prefix, ['provider-events']);
    try {
      const jobs = await queues.get('provider-events').getJobs(['waiting', 'delayed', 'prioritized', 'active', 'completed', 'failed']);
      const reports = jobs.map((j) => j.data as { type: string; subject?: string; id?: number; spent_micros?: number }).filter((d) => d.type === 'quota_exhausted');
      expect(reports.length).to.be.within(1, 2);
      for (const r of reports) expect(r).to.include({ subject: 'key', id: keys.quota.id }).and.to.have.property('spent_micros').that.is.at.least(10 * PER_REQUEST_MICROS);
    } finally {
      await queues.close();
    }
  });

  it('an aborted stream is billed for the prompt and the delivered text only, and logs why it ended', async () => {
    mock.reply = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');
    mock.chunkIntervalMs = 40;
    const before = await spentOf(keys.metered.id);
    const requestId = randomUUID();
    const controller = new AbortController();
    const res = await chat(gateways[0]!.url, keys.metered.key, { model: PER_TOKEN, stream: true }, requestId, controller.signal);
    expect(res.status).to.equal(200);
    const reader = res.body!.getReader();
    let text = '';
    while ((text.match(/"content":"word/g) ?? []).length < 5) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    controller.abort();
    const row = await logRow(requestId);
    expect(row.abort_reason).to.equal('client_disconnected');
    expect(row.usage_source).to.equal('estimated');
    expect(row.prompt_tokens, 'the prompt estimate is billed too').to.be.above(0);
    expect(row.completion_tokens).to.be.above(0).and.below(estimateTokens(mock.reply));
    const cost = Number(row.cost_actual);
    const delivered = costOf({ prompt_tokens: row.prompt_tokens, completion_tokens: row.completion_tokens, cache_read_tokens: 0, cache_write_tokens: 0 }, PRICES);
    const full = costOf({ prompt_tokens: row.prompt_tokens, completion_tokens: estimateTokens(mock.reply), cache_read_tokens: 0, cache_write_tokens: 0 }, PRICES);
    expect(cost).to.equal(delivered.actual).and.be.above(0).and.below(full.actual);
    expect(await eventually(() => spentOf(keys.metered.id), (v) => v === before + usdToMicros(cost))).to.equal(before + usdToMicros(cost));
  });

  it('a request whose upstream fails on every attempt is not billed: cost 0 and the reservation refunded', async () => {
    const before = await spentOf(keys.metered.id);
    mock.faults.push(...Array.from({ length: 4 }, () => ({ kind: 'status' as const, status: 500 })));
    const requestId = randomUUID();
    const res = await chat(gateways[1]!.url, keys.metered.key, { model: PER_TOKEN }, requestId);
    expect(res.status).to.equal(502);
    const row = await logRow(requestId);
    expect(Number(row.cost_actual)).to.equal(0);
    expect(Number(row.cost_list)).to.equal(0);
    expect(await eventually(() => spentOf(keys.metered.id), (v) => v === before)).to.equal(before);
  });

  it('requests refused before the upstream (rpm, unknown model) reserve nothing', async () => {
    const first = await chat(gateways[0]!.url, keys.rpm.key, { model: PER_TOKEN });
    expect(first.status).to.equal(200);
    const spent = await eventually(() => spentOf(keys.rpm.id), (v) => v > 0);
    // Let the first request settle (its estimate was larger than its cost) before comparing.
    const settled = await eventually(
      async () => [await spentOf(keys.rpm.id), (await logRows(keys.rpm.id)).length] as const,
      ([, n]) => n === 1,
    );
    const after = settled[0];
    expect(spent).to.be.at.least(after);
    const rpm = await chat(gateways[1]!.url, keys.rpm.key, { model: PER_TOKEN });
    expect(rpm.status).to.equal(429);
    expect(((await rpm.json()) as { error: { code: string } }).error.code).to.equal('rate_limited');
    const unknown = await chat(gateways[0]!.url, keys.rpm.key, { model: 'no-such-model' });
    expect(unknown.status).to.equal(404);
    await eventually(() => logRows(keys.rpm.id), (r) => r.length === 3);
    expect(await spentOf(keys.rpm.id)).to.equal(after);
  });

  it('a periodic budget answers 429 budget_exceeded with Retry-After until the window ends', async () => {
    // Two requests per minute; if the minute turns over mid-test, a third may pass: retry once.
    for (let round = 0; round < 2; round++) {
      const statuses: number[] = [];
      let refusal: Response | undefined;
      for (let i = 0; i < 3; i++) {
        const res = await chat(gateways[i % 2]!.url, keys.budget.key, { model: PER_REQUEST });
        statuses.push(res.status);
        if (res.status === 429) refusal = res;
        else await res.arrayBuffer();
      }
      if (!refusal) continue;
      expect(statuses.filter((s) => s === 200).length).to.be.at.most(2);
      const body = (await refusal.json()) as { error: { code: string; message: string } };
      expect(body.error.code).to.equal('budget_exceeded');
      expect(body.error.message).to.include('minute').and.include('2 requests');
      expect(Number(refusal.headers.get('retry-after'))).to.be.within(1, 60);
      return;
    }
    expect.fail('the third request within a minute was never refused');
  });

  it('the official OpenAI and Anthropic clients get a proper 429 insufficient_quota error (exhausted key, used-up master quota)', async () => {
    const openai = new OpenAI({ apiKey: keys.exhausted.key, baseURL: `${gateways[0]!.url}/v1`, maxRetries: 2 });
    const err = await openai.chat.completions.create({ model: PER_REQUEST, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(OpenAI.RateLimitError);
    const apiErr = err as InstanceType<typeof OpenAI.RateLimitError>;
    expect(apiErr.status).to.equal(429);
    expect(apiErr.code).to.equal('insufficient_quota');
    expect(apiErr.type).to.equal('insufficient_quota');
    expect(apiErr.message).to.include('quota');

    const anthropic = new Anthropic({ apiKey: keys.exhausted.key, baseURL: gateways[1]!.url, maxRetries: 2 });
    const aerr = await anthropic.messages.create({ model: PER_REQUEST, max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(aerr).to.be.instanceOf(Anthropic.RateLimitError);
    expect((aerr as InstanceType<typeof Anthropic.RateLimitError>).status).to.equal(429);
    expect((aerr as InstanceType<typeof Anthropic.RateLimitError>).error).to.deep.include({ type: 'error' });
    expect(JSON.stringify((aerr as InstanceType<typeof Anthropic.RateLimitError>).error)).to.include('quota');

    // x-should-retry: false means the SDKs did not retry a refusal that waiting cannot cure.
    const poor = new OpenAI({ apiKey: keys.masterQuota.key, baseURL: `${gateways[1]!.url}/v1`, maxRetries: 2 });
    const perr = (await poor.chat.completions.create({ model: PER_REQUEST, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.RateLimitError>;
    expect(perr).to.be.instanceOf(OpenAI.RateLimitError);
    expect(perr.code).to.equal('insufficient_quota');
    expect(perr.message).to.include('master');
    const rows = await eventually(() => logRows(keys.masterQuota.id), (r) => r.length >= 1);
    expect(rows, 'one request, no SDK retries').to.have.length(1);
  });
});
