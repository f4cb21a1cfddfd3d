import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { createAnthropicToOpenaiStream } from '../../../src/gateway/translate/anthropic-to-openai.stream.js';
import { createGeminiToOpenaiStream } from '../../../src/gateway/translate/gemini-to-openai.stream.js';
import { createOpenaiToAnthropicStream } from '../../../src/gateway/translate/openai-to-anthropic.stream.js';
import type { StreamTranslator } from '../../../src/gateway/types.js';
import { fixture, randomChunks, replay } from './replay.js';

/**
 * The official SDKs must accept what the translators write: a local node:http server answers each
 * SDK request with a recorded upstream stream translated into the SDK's dialect, written in small
 * random pieces.
 */

type Route = { provider: 'openai' | 'anthropic' | 'gemini'; name: string; make: () => StreamTranslator };

describe('translated streams read by the official SDKs', () => {
  let server: http.Server;
  let baseUrl: string;
  let route: Route;

  before(async () => {
    server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const text = replay(fixture(route.provider, `${route.name}.sse`), route.make(), 7);
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        const pieces = randomChunks(Buffer.from(text), 13, 64);
        const write = (): void => {
          const next = pieces.shift();
          if (!next) return void res.end();
          res.write(next);
          setImmediate(write);
        };
        write();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  describe('openai', () => {
    const client = () => new OpenAI({ apiKey: 'test-key', baseURL: `${baseUrl}/v1`, maxRetries: 0 });
    const params = { model: 'client-model', messages: [{ role: 'user' as const, content: 'Hi' }], stream: true as const, stream_options: { include_usage: true } };
    const head = { id: 'chatcmpl-sdk', created: 1700000000, model: 'client-model', includeUsage: true };

    it('reads an Anthropic text stream as chunks, text and usage', async () => {
      route = { provider: 'anthropic', name: 'text', make: () => createAnthropicToOpenaiStream(head) };
      let text = '';
      let usage: OpenAI.CompletionUsage | null | undefined;
      let finish: string | null | undefined;
      for await (const chunk of await client().chat.completions.create(params)) {
        text += chunk.choices[0]?.delta.content ?? '';
        finish = chunk.choices[0]?.finish_reason ?? finish;
        if (chunk.usage) usage = chunk.usage;
      }
      expect(text).to.equal('Héllo, 世界! How can I help? 👋');
      expect(finish).to.equal('stop');
      expect(usage).to.deep.include({ prompt_tokens: 1056, completion_tokens: 15, total_tokens: 1071 });
    });

    it('assembles an Anthropic tool-call stream into a final completion', async () => {
      route = { provider: 'anthropic', name: 'tool-call', make: () => createAnthropicToOpenaiStream(head) };
      const final = await client().chat.completions.stream(params).finalChatCompletion();
      const message = final.choices[0]?.message;
      expect(message?.content).to.equal('Okay, let me check the weather for San Francisco, CA:');
      expect(message?.tool_calls).to.have.length(1);
      const call = message?.tool_calls?.[0];
      expect(call?.id).to.equal('toolu_01T1x1fJ34qAmk2tNTrN7Up6');
      expect(call?.type === 'function' ? JSON.parse(call.function.arguments) : undefined).to.deep.equal({ location: 'San Francisco, CA', unit: 'fahrenheit' });
      expect(final.choices[0]?.finish_reason).to.equal('tool_calls');
    });

    it('assembles a Gemini tool-call stream with two parallel calls', async () => {
      route = { provider: 'gemini', name: 'tool-call', make: () => createGeminiToOpenaiStream(head) };
      const final = await client().chat.completions.stream(params).finalChatCompletion();
      const calls = final.choices[0]?.message.tool_calls ?? [];
      expect(calls.map((c) => (c.type === 'function' ? c.function.name : ''))).to.deep.equal(['get_weather', 'get_time']);
      expect(final.usage).to.deep.include({ prompt_tokens: 82, completion_tokens: 24 });
    });

    it('raises an APIError for an upstream error mid-stream', async () => {
      route = { provider: 'anthropic', name: 'error', make: () => createAnthropicToOpenaiStream(head) };
      let text = '';
      let error: unknown;
      try {
        for await (const chunk of await client().chat.completions.create(params)) text += chunk.choices[0]?.delta.content ?? '';
      } catch (err) {
        error = err;
      }
      expect(text).to.equal('Partial answer');
      expect(error).to.be.instanceOf(OpenAI.APIError);
      expect((error as Error).message).to.include('Overloaded');
    });
  });

  describe('anthropic', () => {
    const client = () => new Anthropic({ apiKey: 'test-key', baseURL: baseUrl, maxRetries: 0 });
    const params = { model: 'client-model', max_tokens: 100, messages: [{ role: 'user' as const, content: 'Hi' }] };

    it('assembles an OpenAI text stream into a final message with usage', async () => {
      route = { provider: 'openai', name: 'text', make: () => createOpenaiToAnthropicStream({ model: 'client-model', id: 'msg_sdk' }) };
      const stream = client().messages.stream(params);
      let text = '';
      stream.on('text', (delta) => (text += delta));
      const final = await stream.finalMessage();
      expect(text).to.equal('Héllo, 世界! How can I help? 👋');
      expect(final.id).to.equal('msg_sdk');
      expect(final.content).to.deep.equal([{ type: 'text', text: 'Héllo, 世界! How can I help? 👋' }]);
      expect(final.stop_reason).to.equal('end_turn');
      expect(final.usage).to.deep.include({ input_tokens: 93, output_tokens: 15, cache_read_input_tokens: 1024 });
    });

    it('assembles an OpenAI tool-call stream into tool_use blocks with parsed input', async () => {
      route = { provider: 'openai', name: 'tool-call', make: () => createOpenaiToAnthropicStream({ model: 'client-model', id: 'msg_sdk' }) };
      const final = await client().messages.stream(params).finalMessage();
      expect(final.content).to.deep.equal([
        { type: 'tool_use', id: 'call_DdmO9pD3xa9XTPNJ32zg2hcA', name: 'get_weather', input: { location: 'Paris' } },
        { type: 'tool_use', id: 'call_Q8eZ2d2ZNUNwvM5Qnxh5K1mR', name: 'get_time', input: { tz: 'Europe/Paris' } },
      ]);
      expect(final.stop_reason).to.equal('tool_use');
    });

    it('raises an APIError for an upstream error mid-stream', async () => {
      route = { provider: 'openai', name: 'error', make: () => createOpenaiToAnthropicStream({ model: 'client-model', id: 'msg_sdk' }) };
      let error: unknown;
      try {
        for await (const _event of await client().messages.create({ ...params, stream: true })) {
          // consume
        }
      } catch (err) {
        error = err;
      }
      expect(error).to.be.instanceOf(Anthropic.APIError);
      expect((error as Error).message).to.include('The server had an error');
    });
  });
});
