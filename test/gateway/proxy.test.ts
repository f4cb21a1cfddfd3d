import Anthropic from '@anthropic-ai/sdk';
import { expect } from 'chai';
import type { Redis } from 'ioredis';
import OpenAI from 'openai';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type QueueSet } from '../../jobs/queues.js';
import type { RunningServer } from '../../src/lib/http-server.js';
import { freePort } from '../../src/lib/local-services.js';
import { closeRedis, createRedis, waitForRedis } from '../../src/lib/redis.js';
import { queuedLogRecord, startTestGateway, stopTestGateway } from '../support/test-gateway.js';
import { publish, seedBinding, seedFeatures, seedGroup, seedKey, seedMaster } from '../support/gateway-fixtures.js';
import { resetDatabase, testEnv } from '../support/hooks.js';
import { startMockUpstream, type MockUpstream } from '../support/mock-upstream.js';

/**
 * The gateway end to end: real Redis snapshot written by the real sync code, official SDKs as
 * clients, mock upstreams on loopback (DESIGN §6 "Proxy request").
 */
describe('gateway proxy', function () {
  this.timeout(30_000);
  let mock: MockUpstream;
  let redis: Redis;
  let gateway: RunningServer;
  let queues: QueueSet;
  let clientKey: string;
  const prefix = `ez-proxy-${randomUUID().slice(0, 8)}`;

  before(async () => {
    await resetDatabase();
    mock = await startMockUpstream();
    redis = createRedis({ url: testEnv().redisUrl, defaulted: false }, 'worker', 'proxy-test');
    await waitForRedis(redis);
    await redis.flushdb();
    const masterId = await seedMaster('acme', { namespaces: ['default', 'team'] });
    clientKey = (await seedKey(masterId, 'ezk_proxy-test-client-key-000000000')).key;
    const deadPort = await freePort();
    await seedGroup({ name: 'oa', type: 'openai', base_url: `${mock.url}/v1`, models: ['gpt-4o-mini', 'text-embedding-3-small', 'gpt-3.5-turbo-instruct'], keys: ['sk-upstream-openai-0000000000'] });
    // A second group for the same model whose upstream refuses connections: failover material.
    await seedGroup({ name: 'oa-dead', type: 'openai', base_url: `http://127.0.0.1:${deadPort}/v1`, models: ['flaky-model'], keys: ['sk-dead-0000000000000000'] });
    await seedGroup({ name: 'oa-live', type: 'openai', base_url: `${mock.url}/v1`, models: ['flaky-model'], keys: ['sk-live-0000000000000000'] });
    const anthropic = await seedGroup({ name: 'an', type: 'anthropic', base_url: mock.url, models: ['claude-sonnet-4-5'], keys: ['sk-ant-upstream-000000000000'] });
    await seedGroup({ name: 'gm', type: 'gemini', base_url: mock.url, models: ['gemini-2.5-flash'], keys: ['AIza-upstream-gemini-000000000000'] });
    await seedBinding('team', 'smart', [{ group_id: anthropic.groupId, selector_type: 'exact', selector_value: 'claude-sonnet-4-5' }]);
    await publish(redis);

    ({ gateway, queues } = await startTestGateway(redis, prefix, ['logs'], { EZ_GATEWAY_BODY_LIMIT_BYTES: String(256 * 1024) }));
  });

  after(async () => {
    await stopTestGateway(gateway, queues);
    await mock?.close();
    await closeRedis(redis);
  });

  beforeEach(() => {
    mock.requests.length = 0;
    mock.faults.length = 0;
    mock.chunkIntervalMs = 0;
  });

  const openai = () => new OpenAI({ apiKey: clientKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
  const anthropicClient = () => new Anthropic({ apiKey: clientKey, baseURL: gateway.url, maxRetries: 0 });
  const raw = (path: string, init: RequestInit & { key?: string | null } = {}) =>
    fetch(`${gateway.url}${path}`, {
      method: init.method ?? 'POST',
      body: init.body,
      signal: init.signal ?? null,
      headers: { 'content-type': 'application/json', ...(init.key === null ? {} : { authorization: `Bearer ${init.key ?? clientKey}` }), ...(init.headers as Record<string, string>) },
    });

  describe('OpenAI clients', () => {
    it('chat completions pass through with the upstream key, never the client key', async () => {
      const completion = await openai().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
      expect(completion.choices[0]?.message.content).to.equal('Hello from the mock upstream');
      expect(completion.usage?.total_tokens).to.equal(18);
      const seen = mock.requests[0]!;
      expect(seen.path).to.equal('/v1/chat/completions');
      expect(seen.headers.authorization).to.equal('Bearer sk-upstream-openai-0000000000');
      expect(JSON.stringify(seen.headers)).to.not.include(clientKey);
      expect(seen.json?.model).to.equal('gpt-4o-mini');
    });

    it('streams chunk by chunk, asks the upstream for usage, and strips it when the client did not ask', async () => {
      const stream = await openai().chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'hi' }] });
      let text = '';
      let usageChunks = 0;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? '';
        if (chunk.usage) usageChunks++;
      }
      expect(text).to.equal('Hello from the mock upstream');
      expect(usageChunks).to.equal(0);
      expect(mock.requests[0]!.json?.stream_options).to.deep.equal({ include_usage: true });
    });

    it('keeps the usage chunk when the client asked for it', async () => {
      const stream = await openai().chat.completions.create({ model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] });
      let usage: OpenAI.CompletionUsage | undefined;
      for await (const chunk of stream) usage = chunk.usage ?? usage;
      expect(usage?.completion_tokens).to.equal(7);
    });

    it('embeddings and legacy completions', async () => {
      const embedding = await openai().embeddings.create({ model: 'text-embedding-3-small', input: 'hello' });
      expect(embedding.data[0]?.embedding.map((x) => Math.round(x * 10) / 10)).to.deep.equal([0.1, 0.2, 0.3]);
      const completion = await openai().completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'say hi' });
      expect(completion.choices[0]?.text).to.equal('Hello from the mock upstream');
    });

    it('reaches an Anthropic upstream through an explicit binding, translated both ways', async () => {
      const completion = await openai().chat.completions.create({ model: 'team.smart', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }] });
      expect(completion.choices[0]?.message.content).to.equal('Hello from the mock upstream');
      expect(completion.model).to.equal('team.smart');
      const seen = mock.requests[0]!;
      expect(seen.path).to.equal('/v1/messages');
      expect(seen.headers['x-api-key']).to.equal('sk-ant-upstream-000000000000');
      expect(seen.json).to.include({ model: 'claude-sonnet-4-5', system: 'be brief' });

      const stream = await openai().chat.completions.create({ model: 'team.smart', stream: true, messages: [{ role: 'user', content: 'hi' }] });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      expect(text).to.equal('Hello from the mock upstream');
    });

    it('reaches a Gemini upstream, translated, streaming too', async () => {
      const completion = await openai().chat.completions.create({ model: 'gemini-2.5-flash', messages: [{ role: 'user', content: 'hi' }] });
      expect(completion.choices[0]?.message.content).to.equal('Hello from the mock upstream');
      expect(mock.requests[0]!.path).to.equal('/v1beta/models/gemini-2.5-flash:generateContent');
      expect(mock.requests[0]!.headers['x-goog-api-key']).to.equal('AIza-upstream-gemini-000000000000');
      const stream = await openai().chat.completions.create({ model: 'gemini-2.5-flash', stream: true, messages: [{ role: 'user', content: 'hi' }] });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      expect(text).to.equal('Hello from the mock upstream');
    });

    it('lists only the models the key may use', async () => {
      const list = await openai().models.list();
      const ids = list.data.map((m) => m.id);
      expect(ids).to.include.members(['gpt-4o-mini', 'claude-sonnet-4-5', 'gemini-2.5-flash', 'team.smart']);
    });
  });

  describe('Anthropic clients', () => {
    it('messages pass through natively, streaming too', async () => {
      const message = await anthropicClient().messages.create({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
      expect(message.content[0]).to.deep.include({ type: 'text', text: 'Hello from the mock upstream' });
      expect(mock.requests[0]!.headers['anthropic-version']).to.equal('2023-06-01');
      const stream = anthropicClient().messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
      const final = await stream.finalMessage();
      expect(final.content[0]).to.deep.include({ text: 'Hello from the mock upstream' });
      expect(final.usage.output_tokens).to.equal(9);
    });

    it('count_tokens passes through', async () => {
      const count = await anthropicClient().messages.countTokens({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'hi' }] });
      expect(count.input_tokens).to.equal(42);
    });

    it('reach an OpenAI upstream only when dp_claude_cross_upstream is on', async () => {
      const refused = await raw('/v1/messages', { body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }), key: null, headers: { 'x-api-key': clientKey } });
      expect(refused.status).to.equal(503);
      expect(await refused.json()).to.have.nested.property('type', 'error');
      await seedFeatures({ dp_claude_cross_upstream: 'true' });
      await publish(redis);
      await sleep(100);
      const message = await anthropicClient().messages.create({ model: 'gpt-4o-mini', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
      expect(message.content[0]).to.deep.include({ type: 'text', text: 'Hello from the mock upstream' });
      const stream = anthropicClient().messages.stream({ model: 'gpt-4o-mini', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
      expect((await stream.finalMessage()).content[0]).to.deep.include({ text: 'Hello from the mock upstream' });
      await seedFeatures({ dp_claude_cross_upstream: 'false' });
      await publish(redis);
    });
  });

  describe('Gemini clients', () => {
    it('generateContent and streamGenerateContent pass through with the key in x-goog-api-key or ?key=', async () => {
      const body = JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] });
      const res = await raw('/v1beta/models/gemini-2.5-flash:generateContent', { body, key: null, headers: { 'x-goog-api-key': clientKey } });
      expect(res.status).to.equal(200);
      expect(((await res.json()) as { candidates: Array<{ content: { parts: Array<{ text: string }> } }> }).candidates[0]!.content.parts[0]!.text).to.equal('Hello from the mock upstream');
      const streamed = await raw(`/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=${clientKey}`, { body, key: null });
      expect(streamed.headers.get('content-type')).to.match(/text\/event-stream/);
      const text = await streamed.text();
      expect(text.match(/^data: /gm)?.length).to.be.greaterThan(2);
      expect(mock.requests[1]!.path).to.equal('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
      expect(mock.requests[1]!.path).to.not.include(clientKey);
    });
  });

  describe('failover and upstream faults', () => {
    it('20 of 20 requests succeed when one of two upstreams refuses connections', async () => {
      for (let i = 0; i < 20; i++) {
        const completion = await openai().chat.completions.create({ model: 'flaky-model', messages: [{ role: 'user', content: `hi ${i}` }] });
        expect(completion.choices[0]?.message.content).to.equal('Hello from the mock upstream');
      }
    });

    it('retries a 500 on the next attempt and honours a 429 Retry-After by cooling the key', async () => {
      mock.faults.push({ kind: 'status', status: 500 });
      const ok = await raw('/v1/chat/completions', { body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }) });
      // One upstream key only: the 500 is retried on it (the plan has one entry), so the client sees the failure.
      expect([200, 502]).to.include(ok.status);
      mock.faults.push({ kind: 'status', status: 429, headers: { 'retry-after': '7' } });
      const limited = await raw('/v1/chat/completions', { body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }) });
      expect(limited.status).to.equal(429);
      expect(Number(limited.headers.get('retry-after'))).to.be.greaterThan(0);
    });

    it('passes a 400 from the upstream to the client without retrying', async () => {
      mock.faults.push({ kind: 'status', status: 400, body: { error: { message: 'max_tokens is too large', type: 'invalid_request_error' } } });
      const res = await raw('/v1/chat/completions', { body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }) });
      expect(res.status).to.equal(400);
      expect(await res.json()).to.have.nested.property('error.message', 'max_tokens is too large');
      expect(mock.requests).to.have.length(1);
    });

    it('ends a stream cut mid-way with an error event in the client format', async () => {
      mock.faults.push({ kind: 'cut-stream', after: 2 });
      const res = await raw('/v1/chat/completions', { body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'hi' }] }) });
      expect(res.status).to.equal(200);
      const text = await res.text();
      expect(text).to.include('"error"');
    });

    it('a client that disconnects mid-stream closes the upstream request within a second', async () => {
      mock.chunkIntervalMs = 300;
      mock.reply = 'one two three four five six seven eight';
      const controller = new AbortController();
      const res = await raw('/v1/chat/completions', { body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'hi' }] }), signal: controller.signal } as RequestInit);
      const reader = res.body!.getReader();
      await reader.read();
      const abortedAt = Date.now();
      controller.abort();
      const closedAt = await Promise.race([mock.requests[0]!.closed, sleep(2_000).then(() => Infinity)]);
      expect(closedAt - abortedAt).to.be.below(1_000);
      mock.reply = 'Hello from the mock upstream';
    });
  });

  describe('bad input gets a 4xx in the client format, and the gateway keeps serving', () => {
    const cases: Array<[string, string, Record<string, string>, string | Buffer, number, string]> = [
      ['malformed JSON', '/v1/chat/completions', {}, '{"model": ', 400, 'error.code'],
      ['a JSON array', '/v1/chat/completions', {}, '[]', 400, 'error.code'],
      ['missing model', '/v1/chat/completions', {}, '{"messages":[]}', 400, 'error.param'],
      ['a model of the wrong type', '/v1/chat/completions', {}, '{"model": 7}', 400, 'error.param'],
      ['an unknown model', '/v1/chat/completions', {}, '{"model": "no-such-model"}', 404, 'error.code'],
      ['100,000-deep JSON', '/v1/chat/completions', {}, `${'['.repeat(100_000)}${']'.repeat(100_000)}`, 400, 'error.code'],
      ['an oversized body', '/v1/chat/completions', {}, Buffer.alloc(300 * 1024, 'a'), 413, 'error.code'],
      ['Anthropic: malformed JSON', '/v1/messages', {}, '{', 400, 'error.type'],
      ['Gemini: unknown model', '/v1beta/models/nope:generateContent', {}, '{"contents":[]}', 404, 'error.status'],
    ];
    for (const [name, path, headers, body, status, field] of cases) {
      it(`${name} → ${status}`, async () => {
        const res = await raw(path, { body, headers });
        expect(res.status).to.equal(status);
        expect(await res.json()).to.have.nested.property(field);
      });
    }

    it('an unknown key is 401 in each format, and the gateway still serves afterwards', async () => {
      expect((await raw('/v1/chat/completions', { body: '{}', key: 'ezk_not-a-real-key-0000' })).status).to.equal(401);
      const completion = await openai().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'still there?' }] });
      expect(completion.choices[0]?.message.content).to.be.a('string');
    });
  });

  it('records one log record per request on the logs queue', async () => {
    const requestId = `log-check-${randomUUID()}`;
    await raw('/v1/chat/completions', { body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'log me' }] }), headers: { 'x-request-id': requestId } });
    const found = await queuedLogRecord(queues, requestId);
    expect(found).to.include({ status_code: 200, model: 'gpt-4o-mini', upstream_model: 'gpt-4o-mini', format_in: 'openai', usage_source: 'upstream', prompt_tokens: 11, completion_tokens: 7 });
    expect(JSON.stringify(found)).to.not.include(clientKey);
  });
});
