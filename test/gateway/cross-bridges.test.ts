import Anthropic from '@anthropic-ai/sdk';
import { expect } from 'chai';
import type { Redis } from 'ioredis';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type QueueSet } from '../../jobs/queues.js';
import type { RunningServer } from '../../src/lib/http-server.js';
import { closeRedis, createRedis, waitForRedis } from '../../src/lib/redis.js';
import { publish, seedFeatures, seedGroup, seedKey, seedMaster } from '../support/gateway-fixtures.js';
import { resetDatabase, testEnv } from '../support/hooks.js';
import { startMockUpstream, type MockUpstream } from '../support/mock-upstream.js';
import { CODEX_ARGS, CODEX_TEXT, startCodexMock, type CodexMock } from '../support/codex-mock.js';
import { queuedLogRecord, startTestGateway, stopTestGateway } from '../support/test-gateway.js';

/**
 * The cross-dialect bridges of docs/bridges.md added for Gemini: the official Anthropic SDK on a
 * Gemini upstream (behind dp_claude_cross_upstream), and a Gemini REST client (plain fetch: no
 * official Gemini SDK is installed) on OpenAI and Anthropic upstreams (behind
 * dp_gemini_cross_upstream). Upstreams are loopback mocks; log rows are read from the logs queue.
 */

type Json = Record<string, unknown>;

interface GeminiToolMock {
  url: string;
  requests: Array<{ path: string; json: Json }>;
  close(): Promise<void>;
}

/** Gemini's usage for the tool mock's answers: cached prompt tokens and thinking tokens included. */
const TOOL_USAGE = { promptTokenCount: 20, candidatesTokenCount: 6, cachedContentTokenCount: 8, thoughtsTokenCount: 3, totalTokenCount: 29 };

/**
 * A Gemini upstream that uses tools (the shared mock's Gemini route only talks): a request whose
 * last turn carries a functionResponse is answered `Tool said: <response JSON>`, any other request
 * with tools calls the first declared function with `{"city":"Paris"}` (streamed: a text event,
 * then the call with finishReason and usage).
 */
async function startGeminiToolMock(): Promise<GeminiToolMock> {
  const requests: GeminiToolMock['requests'] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const json = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Json;
      const path = req.url ?? '';
      requests.push({ path, json });
      const contents = (json.contents as Array<{ parts: Json[] }> | undefined) ?? [];
      const answered = contents[contents.length - 1]?.parts.find((p) => p.functionResponse) as { functionResponse: { response: unknown } } | undefined;
      const declared = (json.tools as Array<{ functionDeclarations: Array<{ name: string }> }> | undefined)?.[0]?.functionDeclarations[0]?.name ?? 'none';
      const parts: Json[] = answered ? [{ text: `Tool said: ${JSON.stringify(answered.functionResponse.response)}` }] : [{ functionCall: { name: declared, args: { city: 'Paris' } } }];
      const whole = { candidates: [{ content: { role: 'model', parts }, finishReason: 'STOP', index: 0 }], usageMetadata: TOOL_USAGE, modelVersion: 'gemini-tools' };
      if (!path.includes(':streamGenerateContent')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify(whole));
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: ${JSON.stringify({ candidates: [{ content: { role: 'model', parts: [{ text: 'Let me check. ' }] }, index: 0 }], modelVersion: 'gemini-tools' })}\n\n`);
      res.end(`data: ${JSON.stringify(whole)}\n\n`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const WEATHER_TOOL = { name: 'get_weather', description: 'Current weather', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] } };
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg==';

interface GeminiAnswer {
  candidates: Array<{ content: { role: string; parts: Json[] }; finishReason?: string }>;
  usageMetadata?: Record<string, number>;
  modelVersion?: string;
}

describe('cross-dialect bridges: Anthropic → Gemini, Gemini → OpenAI / Anthropic', function () {
  this.timeout(30_000);
  let mock: MockUpstream;
  let toolMock: GeminiToolMock;
  let codex: CodexMock;
  let redis: Redis;
  let gateway: RunningServer;
  let queues: QueueSet;
  let clientKey: string;
  const prefix = `ez-cross-${randomUUID().slice(0, 8)}`;

  before(async () => {
    await resetDatabase();
    mock = await startMockUpstream();
    toolMock = await startGeminiToolMock();
    codex = await startCodexMock();
    redis = createRedis({ url: testEnv().redisUrl, defaulted: false }, 'worker', 'cross-bridges-test');
    await waitForRedis(redis);
    await redis.flushdb();
    const masterId = await seedMaster('cross');
    clientKey = (await seedKey(masterId, 'ezk_cross-bridges-client-0000000000')).key;
    await seedGroup({ name: 'oa', type: 'openai', base_url: `${mock.url}/v1`, models: ['gpt-4o-mini', 'text-embedding-3-small'], keys: ['sk-upstream-openai-0000000000'] });
    await seedGroup({ name: 'an', type: 'anthropic', base_url: mock.url, models: ['claude-sonnet-4-5'], keys: ['sk-ant-upstream-000000000000'] });
    await seedGroup({ name: 'gm', type: 'gemini', base_url: mock.url, models: ['gemini-2.5-flash'], keys: ['AIza-upstream-gemini-000000000000'] });
    await seedGroup({ name: 'gt', type: 'gemini', base_url: toolMock.url, models: ['gemini-tools'], keys: ['AIza-upstream-gemini-tools-0000000'] });
    await seedGroup({ name: 'cx', type: 'codex', base_url: `${codex.url}/backend-api/codex`, models: ['gpt-5-codex'], keys: ['codex-access-token-2222222222222222'] });
    await publish(redis);
    ({ gateway, queues } = await startTestGateway(redis, prefix, ['logs']));
  });

  after(async () => {
    await stopTestGateway(gateway, queues);
    await mock?.close();
    await toolMock?.close();
    await codex?.close();
    await closeRedis(redis);
  });

  beforeEach(() => {
    mock.requests.length = 0;
    mock.faults.length = 0;
    toolMock.requests.length = 0;
    codex.requests.length = 0;
  });

  const anthropic = () => new Anthropic({ apiKey: clientKey, baseURL: gateway.url, maxRetries: 0 });
  const gemini = (model: string, body: Json, options: { stream?: boolean; requestId?: string } = {}) =>
    fetch(`${gateway.url}/v1beta/models/${model}:${options.stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', 'x-goog-api-key': clientKey, ...(options.requestId ? { 'x-request-id': options.requestId } : {}) },
    });
  /** The data of each SSE event of a Gemini stream. */
  const geminiEvents = async (res: Response): Promise<Json[]> =>
    (await res.text())
      .split('\n\n')
      .filter((frame) => frame.startsWith('data: '))
      .map((frame) => JSON.parse(frame.slice('data: '.length)) as Json);
  const textOf = (events: Json[]) => events.map((e) => ((e as unknown as GeminiAnswer).candidates?.[0]?.content.parts ?? []).map((p) => p.text ?? '').join('')).join('');
  const setFlags = async (flags: Record<string, string>) => {
    await seedFeatures(flags);
    await publish(redis);
  };
  /** Polls until the gateway's replica applied the flags (a probe request stops answering 503). */
  const untilServed = async (probe: () => Promise<Response>, served: boolean) => {
    for (let i = 0; i < 100; i++) {
      const res = await probe();
      await res.arrayBuffer();
      if ((res.status !== 503) === served) return;
      await sleep(50);
    }
    throw new Error('the feature flags did not reach the gateway in time');
  };
  const hi = { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] };

  it('with the flags off, the models bound only to another dialect answer no_upstream in the client’s format', async () => {
    const claude = await fetch(`${gateway.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': clientKey, 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'gemini-2.5-flash', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(claude.status).to.equal(503);
    expect(await claude.json()).to.deep.include({ type: 'error' });
    for (const model of ['gpt-4o-mini', 'claude-sonnet-4-5']) {
      const res = await gemini(model, hi);
      expect(res.status).to.equal(503);
      expect(((await res.json()) as { error: Json }).error).to.include({ code: 503, status: 'UNAVAILABLE' });
    }
    expect(mock.requests).to.have.length(0);
  });

  describe('with dp_claude_cross_upstream and dp_gemini_cross_upstream on', () => {
    before(async () => {
      await setFlags({ dp_claude_cross_upstream: 'true', dp_gemini_cross_upstream: 'true' });
      await untilServed(() => gemini('gpt-4o-mini', hi), true);
    });

    describe('Anthropic SDK on a Gemini upstream', () => {
      it('messages.create: system, image and sampling reach Gemini; text, stop reason and usage come back; the log row has the usage', async () => {
        const requestId = `cross-an-gm-${randomUUID()}`;
        // temperature, top_k and stop_sequences are Messages API fields this SDK build does not type.
        const params = {
          model: 'gemini-2.5-flash',
          max_tokens: 64,
          system: 'Be brief.',
          temperature: 0.4,
          top_k: 12,
          stop_sequences: ['END'],
          messages: [{ role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } }] }],
        } as Anthropic.MessageCreateParamsNonStreaming;
        const message = await anthropic().messages.create(params, { headers: { 'x-request-id': requestId } });
        expect(message).to.deep.include({ id: `msg_${requestId}`, model: 'gemini-2.5-flash', stop_reason: 'end_turn', content: [{ type: 'text', text: 'Hello from the mock upstream' }] });
        expect(message.usage).to.deep.include({ input_tokens: 5, output_tokens: 4 });

        const seen = mock.requests[0]!;
        expect(seen.path).to.equal('/v1beta/models/gemini-2.5-flash:generateContent');
        expect(seen.headers['x-goog-api-key']).to.equal('AIza-upstream-gemini-000000000000');
        expect(JSON.stringify(seen.headers)).to.not.include(clientKey);
        expect(seen.json).to.deep.equal({
          contents: [{ role: 'user', parts: [{ text: 'What is this?' }, { inlineData: { mimeType: 'image/png', data: PNG } }] }],
          systemInstruction: { parts: [{ text: 'Be brief.' }] },
          generationConfig: { temperature: 0.4, maxOutputTokens: 64, stopSequences: ['END'], topK: 12 },
        });

        const record = await queuedLogRecord(queues, requestId);
        expect(record).to.include({ status_code: 200, stream: false, format_in: 'anthropic', format_out: 'gemini', usage_source: 'upstream', prompt_tokens: 5, completion_tokens: 4, error_code: null });
      });

      it('messages.stream: the Gemini stream arrives as Anthropic events, usage in message_delta and the log row', async () => {
        const requestId = `cross-an-gm-stream-${randomUUID()}`;
        const stream = anthropic().messages.stream({ model: 'gemini-2.5-flash', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-request-id': requestId } });
        const deltas: string[] = [];
        stream.on('text', (text) => deltas.push(text));
        const final = await stream.finalMessage();
        expect(final.content.map((b) => (b.type === 'text' ? b.text : b.type))).to.deep.equal(['Hello from the mock upstream']);
        expect(deltas.length).to.be.greaterThan(1);
        expect(final.stop_reason).to.equal('end_turn');
        expect(final.usage).to.deep.include({ input_tokens: 5, output_tokens: 4 });
        expect(mock.requests[0]!.path).to.equal('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
        const record = await queuedLogRecord(queues, requestId);
        expect(record).to.include({ status_code: 200, stream: true, format_in: 'anthropic', format_out: 'gemini', usage_source: 'upstream', prompt_tokens: 5, completion_tokens: 4 });
      });

      it('a tool round trip: tool_use from a functionCall, tool_result as a functionResponse; cached tokens reach usage and the log', async () => {
        const first = await anthropic().messages.create({ model: 'gemini-tools', max_tokens: 64, tools: [WEATHER_TOOL], messages: [{ role: 'user', content: 'Weather in Paris?' }] });
        expect(first.stop_reason).to.equal('tool_use');
        const call = first.content.find((b) => b.type === 'tool_use');
        expect(call).to.deep.include({ name: 'get_weather', input: { city: 'Paris' } });
        expect(first.usage).to.deep.include({ input_tokens: 12, output_tokens: 9, cache_read_input_tokens: 8 });
        expect(toolMock.requests[0]!.json.tools).to.deep.equal([
          { functionDeclarations: [{ name: 'get_weather', description: 'Current weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }] },
        ]);

        const requestId = `cross-an-gm-tool-${randomUUID()}`;
        const second = anthropic().messages.stream(
          {
            model: 'gemini-tools',
            max_tokens: 64,
            tools: [WEATHER_TOOL],
            messages: [
              { role: 'user', content: 'Weather in Paris?' },
              { role: 'assistant', content: first.content },
              { role: 'user', content: [{ type: 'tool_result', tool_use_id: call!.type === 'tool_use' ? call!.id : '', content: '{"temp":18}' }] },
            ],
          },
          { headers: { 'x-request-id': requestId } },
        );
        const answer = await second.finalMessage();
        expect(answer.content.map((b) => (b.type === 'text' ? b.text : '')).join('')).to.equal('Let me check. Tool said: {"temp":18}');
        expect(toolMock.requests[1]!.json.contents).to.deep.equal([
          { role: 'user', parts: [{ text: 'Weather in Paris?' }] },
          { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } } }] },
          { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { temp: 18 } } }] },
        ]);
        const record = await queuedLogRecord(queues, requestId);
        expect(record).to.include({ stream: true, format_out: 'gemini', prompt_tokens: 20, completion_tokens: 9, cache_read_tokens: 8, usage_source: 'upstream' });
      });

      it('streams a function call as a tool_use block', async () => {
        const stream = anthropic().messages.stream({ model: 'gemini-tools', max_tokens: 64, tools: [WEATHER_TOOL], messages: [{ role: 'user', content: 'Weather in Paris?' }] });
        const final = await stream.finalMessage();
        expect(final.stop_reason).to.equal('tool_use');
        expect(final.content.map((b) => b.type)).to.deep.equal(['text', 'tool_use']);
        expect(final.content[1]).to.deep.include({ name: 'get_weather', input: { city: 'Paris' } });
      });

      it('refusals name the client’s field; count_tokens has no bridge', async () => {
        const err = await anthropic()
          .messages.create({ model: 'gemini-2.5-flash', max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } }] }] })
          .then(() => undefined, (e: unknown) => e);
        expect(err).to.be.instanceOf(Anthropic.BadRequestError);
        expect((err as InstanceType<typeof Anthropic.BadRequestError>).message).to.contain('messages[0].content[0].source');
        const count = await anthropic().messages.countTokens({ model: 'gemini-2.5-flash', messages: [{ role: 'user', content: 'hi' }] }).then(() => undefined, (e: unknown) => e);
        expect(count).to.be.instanceOf(Anthropic.APIError);
        expect((count as InstanceType<typeof Anthropic.APIError>).status).to.equal(503);
        expect(mock.requests).to.have.length(0);
      });
    });

    describe('Gemini REST client on an OpenAI upstream', () => {
      it('generateContent: a chat request goes up, a GenerateContentResponse comes back, usage in the log row', async () => {
        const requestId = `cross-gm-oa-${randomUUID()}`;
        const res = await gemini(
          'gpt-4o-mini',
          { systemInstruction: { parts: [{ text: 'Be brief.' }] }, contents: [{ role: 'user', parts: [{ text: 'hi' }] }], generationConfig: { temperature: 0.5, maxOutputTokens: 32, responseMimeType: 'application/json' } },
          { requestId },
        );
        expect(res.status).to.equal(200);
        const body = (await res.json()) as GeminiAnswer;
        expect(body.candidates[0]).to.deep.equal({ content: { role: 'model', parts: [{ text: 'Hello from the mock upstream' }] }, finishReason: 'STOP', index: 0 });
        expect(body.usageMetadata).to.deep.equal({ promptTokenCount: 11, candidatesTokenCount: 7, totalTokenCount: 18 });
        expect(body.modelVersion).to.equal('gpt-4o-mini');
        const seen = mock.requests[0]!;
        expect(seen.path).to.equal('/v1/chat/completions');
        expect(seen.headers.authorization).to.equal('Bearer sk-upstream-openai-0000000000');
        expect(seen.json).to.deep.equal({
          model: 'gpt-4o-mini',
          messages: [
            { role: 'system', content: 'Be brief.' },
            { role: 'user', content: 'hi' },
          ],
          temperature: 0.5,
          max_tokens: 32,
          response_format: { type: 'json_object' },
        });
        const record = await queuedLogRecord(queues, requestId);
        expect(record).to.include({ status_code: 200, stream: false, format_in: 'gemini', format_out: 'openai', usage_source: 'upstream', prompt_tokens: 11, completion_tokens: 7 });
      });

      it('streamGenerateContent: text events as they arrive, finishReason and usageMetadata last', async () => {
        const requestId = `cross-gm-oa-stream-${randomUUID()}`;
        const res = await gemini('gpt-4o-mini', hi, { stream: true, requestId });
        expect(res.status).to.equal(200);
        expect(res.headers.get('content-type')).to.match(/text\/event-stream/);
        const events = await geminiEvents(res);
        expect(events.length).to.be.greaterThan(2);
        expect(textOf(events)).to.equal('Hello from the mock upstream');
        const last = events[events.length - 1] as unknown as GeminiAnswer;
        expect(last.candidates[0]?.finishReason).to.equal('STOP');
        expect(last.usageMetadata).to.deep.equal({ promptTokenCount: 11, candidatesTokenCount: 7, totalTokenCount: 18 });
        expect(mock.requests[0]!.json).to.deep.include({ stream: true, stream_options: { include_usage: true } });
        const record = await queuedLogRecord(queues, requestId);
        expect(record).to.include({ stream: true, format_in: 'gemini', format_out: 'openai', usage_source: 'upstream', prompt_tokens: 11, completion_tokens: 7 });
      });

      it('a tool round trip: functionCall from tool_calls, functionResponse as a tool message', async () => {
        const tools = [{ functionDeclarations: [{ name: 'get_weather', parameters: { type: 'OBJECT', properties: { city: { type: 'STRING' } } } }] }];
        const first = (await (await gemini('gpt-4o-mini', { ...hi, tools }, { stream: true })).text()).split('\n\n').filter(Boolean);
        const call = (JSON.parse(first[first.length - 1]!.slice(6)) as GeminiAnswer).candidates[0]!.content.parts[0];
        expect(call).to.deep.equal({ functionCall: { id: 'call_mock_1', name: 'get_weather', args: { city: 'Paris' } } });
        expect((mock.requests[0]!.json?.tools as unknown[])[0]).to.deep.equal({ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } });

        const res = await gemini('gpt-4o-mini', {
          contents: [...hi.contents, { role: 'model', parts: [call] }, { role: 'user', parts: [{ functionResponse: { id: 'call_mock_1', name: 'get_weather', response: { temp: 18 } } }] }],
          tools,
        });
        const body = (await res.json()) as GeminiAnswer;
        expect(body.candidates[0]!.content.parts[0]!.text).to.equal('Tool said: {"temp":18}');
        expect((mock.requests[1]!.json?.messages as Json[]).slice(1)).to.deep.equal([
          { role: 'assistant', content: null, tool_calls: [{ id: 'call_mock_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
          { role: 'tool', tool_call_id: 'call_mock_1', content: '{"temp":18}' },
        ]);
      });

      it('an upstream failure and a refused field answer in the Gemini error shape', async () => {
        mock.faults.push({ kind: 'status', status: 400, body: { error: { message: 'bad things', type: 'invalid_request_error' } } });
        const upstream400 = await gemini('gpt-4o-mini', hi);
        expect(upstream400.status).to.equal(400);
        expect(((await upstream400.json()) as { error: Json }).error).to.deep.include({ code: 400, status: 'INVALID_ARGUMENT' });
        const refused = await gemini('gpt-4o-mini', { ...hi, generationConfig: { candidateCount: 3 } });
        expect(refused.status).to.equal(400);
        const error = ((await refused.json()) as { error: { message: string; status: string } }).error;
        expect(error.status).to.equal('INVALID_ARGUMENT');
        expect(error.message).to.contain('generationConfig.candidateCount');
        expect(mock.requests).to.have.length(1);
      });

      it('a stream the upstream cuts short ends with a Gemini error event and is billed as delivered', async () => {
        const requestId = `cross-gm-oa-cut-${randomUUID()}`;
        mock.faults.push({ kind: 'cut-stream', after: 2 });
        const events = await geminiEvents(await gemini('gpt-4o-mini', hi, { stream: true, requestId }));
        expect(textOf(events)).to.equal('Hello from ');
        expect(events[events.length - 1]).to.have.nested.property('error.status', 'UNAVAILABLE');
        const record = await queuedLogRecord(queues, requestId);
        expect(record).to.include({ usage_source: 'estimated', error_code: 'upstream_stream_failed' });
        expect(record.completion_tokens).to.be.greaterThan(0);
      });
    });

    describe('Gemini REST client on an Anthropic upstream', () => {
      it('generateContent: a Messages request goes up (max_tokens defaulted), cached usage comes back and is logged', async () => {
        const requestId = `cross-gm-an-${randomUUID()}`;
        const res = await gemini('claude-sonnet-4-5', { ...hi, systemInstruction: { parts: [{ text: 'Sys' }] }, generationConfig: { topK: 3 } }, { requestId });
        expect(res.status).to.equal(200);
        const body = (await res.json()) as GeminiAnswer;
        expect(body.candidates[0]).to.deep.equal({ content: { role: 'model', parts: [{ text: 'Hello from the mock upstream' }] }, finishReason: 'STOP', index: 0 });
        expect(body.usageMetadata).to.deep.equal({ promptTokenCount: 15, candidatesTokenCount: 9, cachedContentTokenCount: 2, totalTokenCount: 24 });
        const seen = mock.requests[0]!;
        expect(seen.path).to.equal('/v1/messages');
        expect(seen.headers['anthropic-version']).to.equal('2023-06-01');
        expect(seen.json).to.deep.equal({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }], max_tokens: 4096, system: 'Sys', top_k: 3 });
        const record = await queuedLogRecord(queues, requestId);
        expect(record).to.include({ format_in: 'gemini', format_out: 'anthropic', prompt_tokens: 15, completion_tokens: 9, cache_read_tokens: 2, usage_source: 'upstream' });
      });

      it('streamGenerateContent: Anthropic events arrive as Gemini events; a tool call as a whole functionCall', async () => {
        const requestId = `cross-gm-an-stream-${randomUUID()}`;
        const events = await geminiEvents(await gemini('claude-sonnet-4-5', hi, { stream: true, requestId }));
        expect(textOf(events)).to.equal('Hello from the mock upstream');
        const last = events[events.length - 1] as unknown as GeminiAnswer;
        expect(last.candidates[0]?.finishReason).to.equal('STOP');
        expect(last.usageMetadata).to.deep.include({ promptTokenCount: 15, candidatesTokenCount: 9 });
        expect(mock.requests[0]!.json).to.include({ stream: true });
        const record = await queuedLogRecord(queues, requestId);
        expect(record).to.include({ stream: true, format_out: 'anthropic', prompt_tokens: 15, completion_tokens: 9, usage_source: 'upstream' });

        const tools = [{ functionDeclarations: [{ name: 'get_weather', parameters: { type: 'OBJECT', properties: { city: { type: 'STRING' } } } }] }];
        const toolEvents = await geminiEvents(await gemini('claude-sonnet-4-5', { ...hi, tools }, { stream: true }));
        const parts = toolEvents.flatMap((e) => (e as unknown as GeminiAnswer).candidates[0]?.content.parts ?? []);
        expect(parts.filter((p) => p.functionCall)).to.deep.equal([{ functionCall: { id: 'toolu_mock_1', name: 'get_weather', args: { city: 'Paris' } } }]);
      });

      it('refuses what Anthropic cannot honour, naming the Gemini field, before any upstream call', async () => {
        const res = await gemini('claude-sonnet-4-5', { ...hi, generationConfig: { temperature: 1.5 } });
        expect(res.status).to.equal(400);
        const error = ((await res.json()) as { error: { message: string; code: number } }).error;
        expect(error.code).to.equal(400);
        expect(error.message).to.contain('generationConfig.temperature');
        expect(mock.requests).to.have.length(0);
      });
    });

    describe('Gemini REST client on a Codex (Responses-only, always streaming) upstream', () => {
      it('generateContent gets the folded stream; streamGenerateContent the translated events', async () => {
        const requestId = `cross-gm-cx-${randomUUID()}`;
        const res = await gemini('gpt-5-codex', hi, { requestId });
        expect(res.status).to.equal(200);
        const body = (await res.json()) as GeminiAnswer;
        expect(body.candidates[0]?.content.parts).to.deep.equal([{ text: CODEX_TEXT }, { functionCall: { id: 'call_codex_1', name: 'get_weather', args: JSON.parse(CODEX_ARGS) as Json } }]);
        expect(body.candidates[0]?.finishReason).to.equal('STOP');
        expect(body.usageMetadata).to.deep.equal({ promptTokenCount: 21, candidatesTokenCount: 13, cachedContentTokenCount: 5, totalTokenCount: 34 });
        const seen = codex.requests[0]!;
        expect(seen.path).to.equal('/backend-api/codex/responses');
        expect(seen.json).to.deep.include({ model: 'gpt-5-codex', instructions: 'You are a helpful assistant.', stream: true, store: false });
        const record = await queuedLogRecord(queues, requestId);
        expect(record).to.include({ stream: false, format_in: 'gemini', format_out: 'openai', prompt_tokens: 21, completion_tokens: 13, cache_read_tokens: 5, usage_source: 'upstream' });

        const events = await geminiEvents(await gemini('gpt-5-codex', hi, { stream: true }));
        expect(textOf(events)).to.equal(CODEX_TEXT);
        expect((events[events.length - 1] as unknown as GeminiAnswer).candidates[0]?.content.parts).to.deep.equal([
          { functionCall: { id: 'call_codex_1', name: 'get_weather', args: JSON.parse(CODEX_ARGS) as Json } },
        ]);
      });
    });

    after(async () => {
      await setFlags({ dp_claude_cross_upstream: 'false', dp_gemini_cross_upstream: 'false' });
      await untilServed(() => gemini('gpt-4o-mini', hi), false);
    });
  });
});
