import { expect } from 'chai';
import type { Redis } from 'ioredis';
import OpenAI from 'openai';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type QueueSet } from '../../jobs/queues.js';
import { CONFIG_VERSION_KEY } from '../../src/gateway/server.js';
import type { RunningServer } from '../../src/lib/http-server.js';
import { closeRedis, createRedis, waitForRedis } from '../../src/lib/redis.js';
import { queuedLogRecord, startTestGateway, stopTestGateway } from '../support/test-gateway.js';
import { until } from '../support/until.js';
import { publish, seedFeatures, seedGroup, seedKey, seedMaster } from '../support/gateway-fixtures.js';
import { resetDatabase, testEnv } from '../support/hooks.js';
import { startMockUpstream, type MockUpstream } from '../support/mock-upstream.js';

/** The value of one series in Prometheus text, matched on the given labels (any order, others ignored). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let total: number | undefined;
  for (const line of text.split('\n')) {
    const match = /^([a-z_:][a-z0-9_:]*)(?:\{(.*)\})? (\S+)$/i.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/gi)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) total = (total ?? 0) + Number(match[3]);
  }
  return total;
}

/**
 * More of the gateway end to end (DESIGN §6, §7, §9): tool calls through translation, client
 * disconnects before the first byte, request bodies in logs, the Responses ingress rule and the
 * Prometheus series. Same setup as proxy.test.ts: real sync path, official SDK, loopback mock.
 */
describe('gateway proxy (tools, disconnects, body logs, responses ingress, metrics)', function () {
  this.timeout(30_000);
  let mock: MockUpstream;
  let redis: Redis;
  let gateway: RunningServer;
  let queues: QueueSet;
  let clientKey: string;
  const prefix = `ez-proxy-extra-${randomUUID().slice(0, 8)}`;
  const upstreamSecrets = ['sk-extra-openai-00000000000000', 'sk-ant-extra-anthropic-0000000000', 'sk-extra-banned-0000000000000'];

  before(async () => {
    await resetDatabase();
    mock = await startMockUpstream();
    redis = createRedis({ url: testEnv().redisUrl, defaulted: false }, 'worker', 'proxy-extra-test');
    await waitForRedis(redis);
    await redis.flushdb();
    const masterId = await seedMaster('extra');
    clientKey = (await seedKey(masterId, 'ezk_proxy-extra-client-key-0000000000')).key;
    await seedGroup({ name: 'x-oa', type: 'openai', base_url: `${mock.url}/v1`, models: ['tool-gpt', 'gpt-resp'], keys: [upstreamSecrets[0]!] });
    await seedGroup({ name: 'x-an', type: 'anthropic', base_url: mock.url, models: ['tool-claude'], keys: [upstreamSecrets[1]!] });
    await seedGroup({ name: 'x-ban', type: 'openai', base_url: `${mock.url}/v1`, models: ['ban-model'], keys: [upstreamSecrets[2]!] });
    await publish(redis);

    ({ gateway, queues } = await startTestGateway(redis, prefix, ['logs', 'provider-events']));
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
  const raw = (path: string, init: { body: string; headers?: Record<string, string>; signal?: AbortSignal; method?: string }) =>
    fetch(`${gateway.url}${path}`, {
      method: init.method ?? 'POST',
      body: init.body,
      signal: init.signal ?? null,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${clientKey}`, ...init.headers },
    });
  const scrape = async () => (await fetch(`${gateway.url}/metrics`)).text();

  /** Applies feature flags through the real sync path and waits until the gateway has loaded them. */
  async function setFeatures(flags: Record<string, string>): Promise<void> {
    await seedFeatures(flags);
    await publish(redis);
    const version = Number(await redis.get(CONFIG_VERSION_KEY));
    await until(async () => {
      const health = (await (await fetch(`${gateway.url}/health`)).json()) as { loaded_config_version: number };
      return health.loaded_config_version >= version;
    });
  }

  const logRecord = (requestId: string) => queuedLogRecord(queues, requestId);

  describe('tool calls make the round trip (openai SDK)', () => {
    const tools: OpenAI.Chat.ChatCompletionTool[] = [
      {
        type: 'function',
        function: { name: 'get_weather', description: 'Current weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
      },
    ];
    const question: OpenAI.Chat.ChatCompletionMessageParam = { role: 'user', content: 'Weather in Paris?' };
    const functionCall = (message: OpenAI.Chat.ChatCompletionMessage) => {
      const call = message.tool_calls?.[0];
      if (call?.type !== 'function') throw new Error('expected a function tool call');
      return call;
    };

    for (const [upstream, model] of [
      ['an OpenAI', 'tool-gpt'],
      ['an Anthropic', 'tool-claude'],
    ] as const) {
      it(`on ${upstream} upstream, without streaming`, async () => {
        const first = await openai().chat.completions.create({ model, messages: [question], tools });
        expect(first.choices[0]?.finish_reason).to.equal('tool_calls');
        const call = functionCall(first.choices[0]!.message);
        expect(call.function.name).to.equal('get_weather');
        expect(JSON.parse(call.function.arguments)).to.deep.equal({ city: 'Paris' });

        const second = await openai().chat.completions.create({
          model,
          tools,
          messages: [question, first.choices[0]!.message, { role: 'tool', tool_call_id: call.id, content: 'sunny, 21 C' }],
        });
        expect(second.choices[0]?.message.content).to.equal('Tool said: sunny, 21 C');
        expect(second.choices[0]?.finish_reason).to.equal('stop');

        if (model === 'tool-claude') {
          // Translated both ways: Anthropic tools and a tool_result answering the upstream's own id.
          expect(mock.requests[0]!.json?.tools).to.deep.equal([
            { name: 'get_weather', description: 'Current weather', input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
          ]);
          const messages = mock.requests[1]!.json?.messages as Array<{ role: string; content: unknown }>;
          expect(messages[1]).to.deep.include({ role: 'assistant' });
          expect(messages[2]!.content).to.deep.equal([{ type: 'tool_result', tool_use_id: 'toolu_mock_1', content: 'sunny, 21 C' }]);
        } else {
          expect(mock.requests[1]!.json?.messages).to.have.length(3);
        }
      });

      it(`on ${upstream} upstream, streaming`, async () => {
        const first = await openai().chat.completions.stream({ model, messages: [question], tools }).finalChatCompletion();
        expect(first.choices[0]?.finish_reason).to.equal('tool_calls');
        const call = functionCall(first.choices[0]!.message);
        expect(call.function.name).to.equal('get_weather');
        expect(JSON.parse(call.function.arguments)).to.deep.equal({ city: 'Paris' });

        const stream = await openai().chat.completions.create({
          model,
          tools,
          stream: true,
          messages: [question, { role: 'assistant', content: null, tool_calls: [call] }, { role: 'tool', tool_call_id: call.id, content: 'rainy' }],
        });
        let text = '';
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
        expect(text).to.equal('Tool said: rainy');
      });
    }
  });

  it('a client that disconnects while the gateway waits for the first byte closes the upstream request within a second', async () => {
    mock.faults.push({ kind: 'hang' });
    const controller = new AbortController();
    const pending = raw('/v1/chat/completions', { body: JSON.stringify({ model: 'tool-gpt', messages: [{ role: 'user', content: 'hi' }] }), signal: controller.signal }).catch(
      (err: unknown) => err,
    );
    await until(() => mock.requests.length === 1);
    const abortedAt = Date.now();
    controller.abort();
    const closedAt = await Promise.race([mock.requests[0]!.closed, sleep(2_000).then(() => Infinity)]);
    expect(closedAt - abortedAt).to.be.below(1_000);
    expect(await pending).to.be.instanceOf(Error);
    // Recorded as aborted, with the attempt marked the same way.
    const text = await until(async () => {
      const t = await scrape();
      return (sample(t, 'ez_gateway_proxy_requests_total', { status: 'aborted', model: 'tool-gpt' }) ?? 0) >= 1 ? t : undefined;
    });
    expect(sample(text, 'ez_gateway_upstream_attempts_total', { provider_type: 'openai', outcome: 'aborted' })).to.be.at.least(1);
  });

  describe('request bodies in logs (log_request_body_enabled)', () => {
    const secretBody = () =>
      JSON.stringify({
        model: 'tool-gpt',
        messages: [{ role: 'user', content: 'log me please; my old key was sk-proj-abcdefghijklmnopqrstuvwxyz' }],
        metadata: { api_key: 'plain-secret-value', note: 'kept' },
        max_tokens: 12,
      });

    it('are not logged while the flag is off', async () => {
      const requestId = `body-off-${randomUUID()}`;
      const res = await raw('/v1/chat/completions', { body: secretBody(), headers: { 'x-request-id': requestId } });
      expect(res.status).to.equal(200);
      expect(await logRecord(requestId)).to.include({ request_body: null, status_code: 200 });
    });

    it('are logged redacted while it is on, and no longer once it is off again', async () => {
      await setFeatures({ log_request_body_enabled: 'true' });
      try {
        const requestId = `body-on-${randomUUID()}`;
        const res = await raw('/v1/chat/completions', { body: secretBody(), headers: { 'x-request-id': requestId } });
        expect(res.status).to.equal(200);
        const record = await logRecord(requestId);
        const body = record.request_body;
        expect(body).to.be.a('string');
        const logged = JSON.parse(body as string) as { model: string; messages: Array<{ content: string }>; metadata: Record<string, string>; max_tokens: number };
        expect(logged).to.deep.include({ model: 'tool-gpt', max_tokens: 12 });
        expect(logged.metadata).to.deep.equal({ api_key: '[REDACTED]', note: 'kept' });
        expect(logged.messages[0]!.content).to.equal('log me please; my old key was [REDACTED]');
        expect(JSON.stringify(record)).to.not.include('plain-secret-value').and.not.include('abcdefghijklmnop').and.not.include(clientKey);

        const bad = `body-bad-json-${randomUUID()}`;
        expect((await raw('/v1/chat/completions', { body: '{"model": "tool-gpt", "password": "hunter2hunter2", ', headers: { 'x-request-id': bad } })).status).to.equal(400);
        expect((await logRecord(bad)).request_body).to.equal('{"model": "tool-gpt", "password": "[REDACTED]", ');
      } finally {
        await setFeatures({ log_request_body_enabled: 'false' });
      }
      const requestId = `body-off-again-${randomUUID()}`;
      await raw('/v1/chat/completions', { body: secretBody(), headers: { 'x-request-id': requestId } });
      expect((await logRecord(requestId)).request_body).to.equal(null);
    });
  });

  describe('Responses API ingress', () => {
    it('refuses a stateful field with 400 unsupported field "x" in the OpenAI shape, before any upstream call', async () => {
      const res = await raw('/v1/responses', { body: JSON.stringify({ model: 'gpt-resp', input: 'hi', previous_response_id: 'resp_123' }) });
      expect(res.status).to.equal(400);
      expect(await res.json()).to.deep.equal({
        error: { message: 'unsupported field "previous_response_id"', type: 'invalid_request_error', param: 'previous_response_id', code: 'invalid_request' },
      });
      try {
        await openai().responses.create({ model: 'gpt-resp', input: 'hi', reasoning: { effort: 'low' } });
        expect.fail('the gateway should refuse `reasoning`');
      } catch (err) {
        expect(err).to.be.instanceOf(OpenAI.BadRequestError);
        expect(err).to.include({ status: 400, param: 'reasoning' });
        expect((err as Error).message).to.include('unsupported field "reasoning"');
      }
      expect(mock.requests).to.have.length(0);
    });

    it('forwards only the allowed fields, streaming or not', async () => {
      const response = await openai().responses.create({ model: 'gpt-resp', input: 'hi', instructions: 'be brief', store: false, service_tier: 'auto', temperature: 0.2 });
      expect(response.output_text).to.equal('Hello from the mock upstream');
      expect(mock.requests[0]!.path).to.equal('/v1/responses');
      expect(mock.requests[0]!.json).to.deep.equal({ model: 'gpt-resp', input: 'hi', instructions: 'be brief', temperature: 0.2 });

      const stream = await openai().responses.create({ model: 'gpt-resp', input: 'hi', stream: true, store: false });
      let text = '';
      let completed = false;
      for await (const event of stream) {
        if (event.type === 'response.output_text.delta') text += event.delta;
        if (event.type === 'response.completed') completed = true;
      }
      expect(text).to.equal('Hello from the mock upstream');
      expect(completed).to.equal(true);
      expect(mock.requests[1]!.json).to.deep.equal({ model: 'gpt-resp', input: 'hi', stream: true });
    });
  });

  it('/metrics shows the proxy series with sane values and no secret', async () => {
    const requestId = `metrics-${randomUUID()}`;
    const ask = (model: string, extra: Record<string, unknown> = {}) =>
      raw('/v1/chat/completions', { body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], ...extra }), headers: { 'x-request-id': requestId } });
    expect((await ask('tool-gpt')).status).to.equal(200);
    expect((await ask('tool-claude')).status).to.equal(200);
    const streamed = await ask('tool-gpt', { stream: true });
    expect(await streamed.text()).to.include('[DONE]');
    expect((await ask('no-such-model-xyz')).status).to.equal(404);
    mock.faults.push({ kind: 'status', status: 500 });
    expect((await ask('tool-gpt')).status).to.equal(502);
    mock.faults.push({ kind: 'status', status: 401 });
    expect((await ask('ban-model')).status).to.equal(502); // upstream refused the credential: banned locally

    const text = await scrape();
    const proxied = (labels: Record<string, string>) => sample(text, 'ez_gateway_proxy_requests_total', labels) ?? 0;
    expect(proxied({ status: '200', model: 'tool-gpt', provider_type: 'openai', format_in: 'openai' })).to.be.at.least(2);
    expect(proxied({ status: '200', model: 'tool-claude', provider_type: 'anthropic', format_in: 'openai' })).to.be.at.least(1);
    expect(proxied({ status: '404', model: 'other', provider_type: 'none', format_in: 'openai' })).to.be.at.least(1);
    expect(proxied({ status: '502', model: 'tool-gpt', provider_type: 'openai' })).to.be.at.least(1);
    const attempts = (outcome: string) => sample(text, 'ez_gateway_upstream_attempts_total', { provider_type: 'openai', outcome }) ?? 0;
    expect(attempts('success')).to.be.at.least(2);
    expect(attempts('status_5xx')).to.be.at.least(1);
    expect(attempts('status_401_403')).to.be.at.least(1);

    const upstreamCount = sample(text, 'ez_gateway_upstream_duration_seconds_count', { provider_type: 'openai' }) ?? 0;
    const upstreamSum = sample(text, 'ez_gateway_upstream_duration_seconds_sum', { provider_type: 'openai' }) ?? Infinity;
    expect(upstreamCount).to.be.at.least(3);
    expect(upstreamSum / upstreamCount).to.be.below(1);
    const overheadCount = sample(text, 'ez_gateway_overhead_seconds_count') ?? 0;
    const overheadSum = sample(text, 'ez_gateway_overhead_seconds_sum') ?? Infinity;
    expect(overheadCount).to.be.at.least(3);
    expect(overheadSum).to.be.at.least(0);
    expect(overheadSum / overheadCount).to.be.below(0.25);
    expect(sample(text, 'ez_gateway_ttft_seconds_count', { format_in: 'openai' })).to.be.at.least(1);
    expect(sample(text, 'ez_gateway_breaker_open')).to.be.at.least(1); // the banned key
    expect(sample(text, 'ez_gateway_log_buffer_depth')).to.be.a('number');

    // Invariant 6 and label hygiene: no key, no request id, no raw path, no unknown model name.
    for (const secret of [clientKey, ...upstreamSecrets, requestId, 'no-such-model-xyz', '/v1/chat/completions']) expect(text).to.not.include(secret);
  });
});
