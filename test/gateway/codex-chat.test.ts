import Anthropic from '@anthropic-ai/sdk';
import { expect } from 'chai';
import type { Redis } from 'ioredis';
import OpenAI from 'openai';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type QueueSet } from '../../jobs/queues.js';
import type { RunningServer } from '../../src/lib/http-server.js';
import { CODEX_ARGS, CODEX_ERROR_MESSAGE, CODEX_TEXT, startCodexGateway, type CodexGateway, type CodexMock } from '../support/codex-mock.js';
import { publish, seedFeatures } from '../support/gateway-fixtures.js';
import { queuedLogRecord } from '../support/test-gateway.js';
import { until } from '../support/until.js';

/**
 * Chat Completions clients on a Codex upstream, which serves only the Responses API and always
 * streams (docs/bridges.md): the official `openai` SDK's chat.completions.create, streamed or not,
 * reaches the mock backend as a Responses request and gets chat completions back.
 */

const WEATHER_TOOL: OpenAI.Chat.Completions.ChatCompletionTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'Current weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
};

describe('Codex upstream, chat completions clients', function () {
  this.timeout(30_000);
  let mock: CodexMock;
  let redis: Redis;
  let gateway: RunningServer;
  let queues: QueueSet;
  let clientKey: string;
  const ACCESS_TOKEN = 'codex-access-token-1111111111111111';

  let rig: CodexGateway | undefined;

  before(async () => {
    rig = await startCodexGateway('codex-chat', ACCESS_TOKEN);
    ({ mock, redis, gateway, queues, clientKey } = rig);
  });

  after(async () => rig?.close());

  beforeEach(() => {
    mock.requests.length = 0;
    mock.scenario = 'answer';
  });

  const openai = () => new OpenAI({ apiKey: clientKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });

  const logRecord = (requestId: string) => queuedLogRecord(queues, requestId);

  it('answers chat.completions.create without stream: content, tool call, finish_reason and usage', async () => {
    const requestId = `codex-chat-ok-${randomUUID()}`;
    const completion = await openai().chat.completions.create(
      { model: 'gpt-5-codex', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'weather in Paris?' }], tools: [WEATHER_TOOL], max_tokens: 100 },
      { headers: { 'x-request-id': requestId } },
    );

    expect(completion).to.include({ object: 'chat.completion', id: `chatcmpl-${requestId}`, model: 'gpt-5-codex' });
    const choice = completion.choices[0]!;
    expect(choice.finish_reason).to.equal('tool_calls');
    expect(choice.message.content).to.equal(CODEX_TEXT);
    expect(choice.message.tool_calls).to.deep.equal([{ id: 'call_codex_1', type: 'function', function: { name: 'get_weather', arguments: CODEX_ARGS } }]);
    expect(completion.usage).to.deep.include({ prompt_tokens: 21, completion_tokens: 13, total_tokens: 34 });
    expect(completion.usage?.prompt_tokens_details?.cached_tokens).to.equal(5);

    // The upstream got a Responses request: system → instructions, flat tools, streamed, not stored.
    const seen = mock.requests[0]!;
    expect(seen.path).to.equal('/backend-api/codex/responses');
    expect(seen.headers.authorization).to.equal(`Bearer ${ACCESS_TOKEN}`);
    expect(JSON.stringify(seen.headers)).to.not.include(clientKey);
    expect(seen.json).to.include({ model: 'gpt-5-codex', instructions: 'Be brief.', stream: true, store: false });
    expect(seen.json).to.not.have.any.keys('messages', 'max_tokens', 'max_output_tokens');
    expect(seen.json.input).to.deep.equal([{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'weather in Paris?' }] }]);
    expect(seen.json.tools).to.deep.equal([
      { type: 'function', name: 'get_weather', description: 'Current weather', parameters: WEATHER_TOOL.function.parameters, strict: false },
    ]);

    const record = await logRecord(requestId);
    expect(record).to.include({ status_code: 200, stream: false, format_in: 'openai', format_out: 'openai', usage_source: 'upstream', prompt_tokens: 21, completion_tokens: 13, cache_read_tokens: 5, error_code: null });
  });

  it('sends a tool call round trip on as function_call and function_call_output items', async () => {
    await openai().chat.completions.create({
      model: 'gpt-5-codex',
      messages: [
        { role: 'user', content: 'weather in Paris?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_codex_1', type: 'function', function: { name: 'get_weather', arguments: CODEX_ARGS } }] },
        { role: 'tool', tool_call_id: 'call_codex_1', content: '{"temp":18}' },
      ],
      tools: [WEATHER_TOOL],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    const seen = mock.requests[0]!;
    expect(seen.json.input).to.deep.equal([
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'weather in Paris?' }] },
      { type: 'function_call', call_id: 'call_codex_1', name: 'get_weather', arguments: CODEX_ARGS },
      { type: 'function_call_output', call_id: 'call_codex_1', output: '{"temp":18}' },
    ]);
    expect(seen.json.tool_choice).to.deep.equal({ type: 'function', name: 'get_weather' });
    // No system message: the default instructions the Codex backend requires.
    expect(seen.json.instructions).to.be.a('string').and.not.equal('');
  });

  it('streams chat.completion.chunk events with the usage chunk when stream_options.include_usage is set', async () => {
    const requestId = `codex-chat-stream-${randomUUID()}`;
    const stream = await openai().chat.completions.create(
      { model: 'gpt-5-codex', messages: [{ role: 'user', content: 'weather in Paris?' }], tools: [WEATHER_TOOL], stream: true, stream_options: { include_usage: true } },
      { headers: { 'x-request-id': requestId } },
    );
    let content = '';
    let args = '';
    const finishReasons: string[] = [];
    const usages: OpenAI.CompletionUsage[] = [];
    let toolHead: { id?: string; name?: string } = {};
    for await (const chunk of stream) {
      if (chunk.usage) usages.push(chunk.usage);
      for (const choice of chunk.choices) {
        content += choice.delta.content ?? '';
        for (const call of choice.delta.tool_calls ?? []) {
          if (call.id) toolHead = { id: call.id, ...(call.function?.name ? { name: call.function.name } : {}) };
          args += call.function?.arguments ?? '';
        }
        if (choice.finish_reason) finishReasons.push(choice.finish_reason);
      }
    }
    expect(content).to.equal(CODEX_TEXT);
    expect(toolHead).to.deep.equal({ id: 'call_codex_1', name: 'get_weather' });
    expect(args).to.equal(CODEX_ARGS);
    expect(finishReasons).to.deep.equal(['tool_calls']);
    expect(usages).to.have.length(1);
    expect(usages[0]).to.deep.include({ prompt_tokens: 21, completion_tokens: 13, total_tokens: 34 });

    const record = await logRecord(requestId);
    expect(record).to.include({ status_code: 200, stream: true, usage_source: 'upstream', prompt_tokens: 21, completion_tokens: 13, cache_read_tokens: 5, abort_reason: null });
  });

  it('sends no usage chunk to a streaming client that did not ask for one, and still logs the usage', async () => {
    const requestId = `codex-chat-nousage-${randomUUID()}`;
    const stream = await openai().chat.completions.create({ model: 'gpt-5-codex', messages: [{ role: 'user', content: 'hi' }], stream: true }, { headers: { 'x-request-id': requestId } });
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      expect(chunk.usage ?? null, 'no usage in any chunk').to.equal(null);
      expect(chunk.choices, 'every chunk has its choice').to.have.length(1);
    }
    expect(chunks).to.be.above(3);
    expect(await logRecord(requestId)).to.include({ usage_source: 'upstream', prompt_tokens: 21, completion_tokens: 13 });
  });

  it('maps response.incomplete (max_output_tokens) to finish_reason "length"', async () => {
    mock.scenario = 'incomplete';
    const completion = await openai().chat.completions.create({ model: 'gpt-5-codex', messages: [{ role: 'user', content: 'hi' }] });
    expect(completion.choices[0]).to.deep.include({ finish_reason: 'length' });
    expect(completion.choices[0]?.message.content).to.equal(CODEX_TEXT);
  });

  it('an error event mid-stream ends the stream with an error frame the SDK raises', async () => {
    mock.scenario = 'error';
    const stream = await openai().chat.completions.create({ model: 'gpt-5-codex', messages: [{ role: 'user', content: 'hi' }], stream: true });
    let content = '';
    let caught: unknown;
    try {
      for await (const chunk of stream) content += chunk.choices[0]?.delta.content ?? '';
    } catch (err) {
      caught = err;
    }
    expect(content).to.equal(CODEX_TEXT);
    expect(caught).to.be.instanceOf(OpenAI.APIError);
    expect((caught as Error).message).to.include(CODEX_ERROR_MESSAGE);
  });

  it('an error event fails a non-stream chat request with 502 naming the upstream message', async () => {
    mock.scenario = 'error';
    let caught: unknown;
    try {
      await openai().chat.completions.create({ model: 'gpt-5-codex', messages: [{ role: 'user', content: 'hi' }] });
    } catch (err) {
      caught = err;
    }
    expect(caught).to.be.instanceOf(OpenAI.APIError);
    expect((caught as InstanceType<typeof OpenAI.APIError>).status).to.equal(502);
    expect((caught as Error).message).to.include(CODEX_ERROR_MESSAGE);
  });

  it('refuses a field the Responses API cannot honour with a 400 naming it, before any upstream call', async () => {
    let caught: unknown;
    try {
      await openai().chat.completions.create({ model: 'gpt-5-codex', messages: [{ role: 'user', content: 'hi' }], stop: ['END'] });
    } catch (err) {
      caught = err;
    }
    expect(caught).to.be.instanceOf(OpenAI.BadRequestError);
    expect(caught).to.include({ param: 'stop' });
    expect((caught as Error).message).to.include('unsupported field "stop"');
    expect(mock.requests).to.have.length(0);
  });

  it('a streaming client that leaves closes the upstream within 1 s and is billed for what it received', async () => {
    mock.scenario = 'hang';
    const requestId = `codex-chat-leave-${randomUUID()}`;
    const controller = new AbortController();
    const res = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      signal: controller.signal,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${clientKey}`, 'x-request-id': requestId },
      body: JSON.stringify({ model: 'gpt-5-codex', messages: [{ role: 'user', content: 'weather in Paris?' }], stream: true }),
    });
    expect(res.status).to.equal(200);
    const reader = res.body!.getReader();
    let text = '';
    for (let reads = 0; reads < 50 && !text.includes('in Paris.'); reads++) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text).to.include('in Paris.');
    const seen = mock.requests[0]!;
    controller.abort();
    const closedInTime = await Promise.race([seen.closed.then(() => true), sleep(1_000).then(() => false)]);
    expect(closedInTime, 'the upstream connection was closed within 1 s').to.equal(true);
    const record = await logRecord(requestId);
    expect(record).to.include({ stream: true, abort_reason: 'client_disconnected', usage_source: 'estimated' });
    expect(record.prompt_tokens, 'the prompt estimate is billed').to.be.above(0);
    expect(record.completion_tokens, 'the delivered text is billed').to.be.above(0);
  });

  it('a non-stream client that leaves is logged 499 and not billed', async () => {
    mock.scenario = 'hang';
    const requestId = `codex-chat-leave-json-${randomUUID()}`;
    const controller = new AbortController();
    const pending = fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      signal: controller.signal,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${clientKey}`, 'x-request-id': requestId },
      body: JSON.stringify({ model: 'gpt-5-codex', messages: [{ role: 'user', content: 'hi' }] }),
    }).catch((err: unknown) => err);
    const seen = await until(async () => mock.requests[0]);
    controller.abort();
    expect(await pending).to.be.instanceOf(Error);
    const closedInTime = await Promise.race([seen.closed.then(() => true), sleep(1_000).then(() => false)]);
    expect(closedInTime, 'the upstream connection was closed within 1 s').to.equal(true);
    expect(await logRecord(requestId)).to.include({ status_code: 499, abort_reason: 'client_disconnected', prompt_tokens: 0, completion_tokens: 0 });
  });

  describe('Anthropic clients (dp_claude_cross_upstream)', () => {
    const anthropic = () => new Anthropic({ apiKey: clientKey, baseURL: gateway.url, maxRetries: 0 });
    const ask = (extra: Partial<Anthropic.MessageCreateParamsNonStreaming> = {}) => ({
      model: 'gpt-5-codex',
      max_tokens: 256,
      system: 'Be brief.',
      messages: [{ role: 'user' as const, content: 'weather in Paris?' }],
      tools: [{ name: 'get_weather', description: 'Current weather', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } } } }],
      ...extra,
    });

    after(async () => {
      await seedFeatures({ dp_claude_cross_upstream: 'false' });
      await publish(redis);
    });

    it('are refused while the flag is off, and served through Responses once it is on: text, tool_use, usage', async () => {
      const refused = await fetch(`${gateway.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': clientKey, 'anthropic-version': '2023-06-01' },
        body: JSON.stringify(ask()),
      });
      expect(refused.status).to.equal(503);
      expect(mock.requests).to.have.length(0);

      await seedFeatures({ dp_claude_cross_upstream: 'true' });
      await publish(redis);
      // A fresh id per try: the tries before the gateway saw the flag are logged too (503).
      let requestId = '';
      const message = await until(() => {
        requestId = `codex-anthropic-${randomUUID()}`;
        return anthropic().messages.create(ask(), { headers: { 'x-request-id': requestId } }).catch(() => undefined);
      });
      expect(message).to.include({ type: 'message', role: 'assistant', stop_reason: 'tool_use', model: 'gpt-5-codex' });
      expect(message.content.map((b) => b.type)).to.deep.equal(['text', 'tool_use']);
      expect(message.content[0]).to.include({ text: CODEX_TEXT });
      expect(message.content[1]).to.deep.include({ id: 'call_codex_1', name: 'get_weather', input: JSON.parse(CODEX_ARGS) });
      // input_tokens is the uncached part (21 - 5 cached).
      expect(message.usage).to.include({ input_tokens: 16, output_tokens: 13, cache_read_input_tokens: 5 });
      const seen = mock.requests[mock.requests.length - 1]!;
      expect(seen.json).to.include({ instructions: 'Be brief.', stream: true, store: false });
      expect(await logRecord(requestId)).to.include({ status_code: 200, format_in: 'anthropic', format_out: 'openai', prompt_tokens: 21, completion_tokens: 13 });
    });

    it('stream, with a tool_result round trip reaching the upstream as function_call_output', async () => {
      await seedFeatures({ dp_claude_cross_upstream: 'true' });
      await publish(redis);
      const params = ask({
        messages: [
          { role: 'user', content: 'weather in Paris?' },
          { role: 'assistant', content: [{ type: 'tool_use', id: 'call_codex_1', name: 'get_weather', input: { city: 'Paris' } }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_codex_1', content: '18 degrees' }] },
        ],
      });
      const final = await until(() => anthropic().messages.stream(params).finalMessage().catch(() => undefined));
      expect(final.stop_reason).to.equal('tool_use');
      expect(final.content[0]).to.include({ type: 'text', text: CODEX_TEXT });
      expect(final.content[1]).to.deep.include({ type: 'tool_use', name: 'get_weather', input: JSON.parse(CODEX_ARGS) });
      expect(final.usage).to.include({ output_tokens: 13 });
      const seen = mock.requests[mock.requests.length - 1]!;
      expect(seen.json.input).to.deep.equal([
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'weather in Paris?' }] },
        { type: 'function_call', call_id: 'call_codex_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { type: 'function_call_output', call_id: 'call_codex_1', output: '18 degrees' },
      ]);
    });
  });
});
