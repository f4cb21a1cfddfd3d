import { expect } from 'chai';
import type { BridgeResponseContext } from '../../../src/gateway/proxy/bridge.js';
import { anthropicOnGemini, geminiOnAnthropic, geminiOnOpenai, geminiOnResponses } from '../../../src/gateway/proxy/bridges.js';
import { createSseParser } from '../../../src/gateway/sse.js';
import { aggregatorFor } from '../../../src/gateway/translate/aggregate.js';
import { createOpenaiToGeminiStream, initialOpenaiToGeminiState, stepOpenaiToGemini } from '../../../src/gateway/translate/openai-to-gemini.stream.js';
import type { StreamTranslator } from '../../../src/gateway/types.js';
import { fixture, frames, replay, type ParsedFrame } from './replay.js';

/**
 * Streams of the composed bridges: OpenAI chunks → Gemini events (Gemini clients on chat
 * upstreams), Anthropic events → chat → Gemini, Responses → chat → Gemini, and Gemini events →
 * chat → Anthropic (Anthropic clients on Gemini upstreams). Recorded upstream streams are fed in
 * random pieces (split anywhere, through multibyte characters and tool arguments); the output must
 * not depend on the split, must fold into a well-formed answer of the client's format, and the
 * translator must report the upstream's usage and the delivered text.
 */

const SEEDS = [1, 2, 3, 17, 42, 99, 1234];
const ctx: BridgeResponseContext = { requestId: 'req-1', publicModel: 'client-model', created: 1700000000, clientWantsUsage: false };

const sse = (events: unknown[]): Buffer => Buffer.from(events.map((e) => `data: ${typeof e === 'string' ? e : JSON.stringify(e)}\n\n`).join(''));

/** Folds a client-format stream into the answer a non-stream client of that format would get. */
function fold(format: 'gemini' | 'anthropic', text: string): Record<string, unknown> {
  const aggregator = aggregatorFor(format, format === 'gemini' ? 'generate_content' : 'messages');
  if (!aggregator) throw new Error('no aggregator');
  const parser = createSseParser();
  for (const e of [...parser.push(text), ...parser.end()]) aggregator.push(e);
  return aggregator.finish();
}

interface GeminiAnswer {
  candidates: Array<{ content: { role: string; parts: Array<Record<string, unknown>> }; finishReason?: string }>;
  usageMetadata?: Record<string, number>;
  modelVersion?: string;
  responseId?: string;
}

interface Case {
  name: string;
  upstream: Buffer;
  make: () => StreamTranslator;
  client: 'gemini' | 'anthropic';
  check: (answer: Record<string, unknown>, translator: StreamTranslator) => void;
}

const cases: Case[] = [
  {
    name: 'OpenAI text → Gemini (cached usage)',
    upstream: fixture('openai', 'text.sse'),
    make: () => geminiOnOpenai.stream(ctx),
    client: 'gemini',
    check: (answer, t) => {
      const a = answer as unknown as GeminiAnswer;
      expect(a.candidates[0]?.content.parts.map((p) => p.text).join('')).to.equal('Héllo, 世界! How can I help? 👋');
      expect(a.candidates[0]?.finishReason).to.equal('STOP');
      expect(a.usageMetadata).to.deep.equal({ promptTokenCount: 1117, candidatesTokenCount: 15, cachedContentTokenCount: 1024, totalTokenCount: 1132 });
      expect(a).to.include({ modelVersion: 'client-model', responseId: 'req-1' });
      expect(t.usage()).to.deep.equal({ prompt_tokens: 1117, completion_tokens: 15, cache_read_tokens: 1024, cache_write_tokens: 0 });
      expect(t.deliveredText()).to.equal('Héllo, 世界! How can I help? 👋');
    },
  },
  {
    name: 'OpenAI tool calls split across chunks → whole Gemini functionCalls',
    upstream: fixture('openai', 'tool-call.sse'),
    make: () => geminiOnOpenai.stream(ctx),
    client: 'gemini',
    check: (answer, t) => {
      const a = answer as unknown as GeminiAnswer;
      expect(a.candidates[0]?.content.parts).to.deep.equal([
        { functionCall: { id: 'call_DdmO9pD3xa9XTPNJ32zg2hcA', name: 'get_weather', args: { location: 'Paris' } } },
        { functionCall: { id: 'call_Q8eZ2d2ZNUNwvM5Qnxh5K1mR', name: 'get_time', args: { tz: 'Europe/Paris' } } },
      ]);
      expect(a.candidates[0]?.finishReason).to.equal('STOP');
      expect(t.usage()).to.deep.equal({ prompt_tokens: 82, completion_tokens: 37, cache_read_tokens: 0, cache_write_tokens: 0 });
      expect(t.deliveredText()).to.equal('get_weather{"location": "Paris"}get_time{"tz": "Europe/Paris"}');
    },
  },
  {
    name: 'Anthropic text + tool_use → chat → Gemini',
    upstream: fixture('anthropic', 'tool-call.sse'),
    make: () => geminiOnAnthropic.stream(ctx),
    client: 'gemini',
    check: (answer, t) => {
      const a = answer as unknown as GeminiAnswer;
      expect(a.candidates[0]?.content.parts).to.deep.equal([
        { text: 'Okay, let me check the weather for San Francisco, CA:' },
        { functionCall: { id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather', args: { location: 'San Francisco, CA', unit: 'fahrenheit' } } },
      ]);
      expect(a.usageMetadata).to.deep.include({ promptTokenCount: 472, candidatesTokenCount: 89 });
      expect(t.usage()).to.deep.equal({ prompt_tokens: 472, completion_tokens: 89, cache_read_tokens: 0, cache_write_tokens: 0 });
    },
  },
  {
    name: 'Anthropic text with cache reads → chat → Gemini',
    upstream: fixture('anthropic', 'text.sse'),
    make: () => geminiOnAnthropic.stream(ctx),
    client: 'gemini',
    check: (answer, t) => {
      const a = answer as unknown as GeminiAnswer;
      expect(a.candidates[0]?.content.parts.map((p) => p.text).join('')).to.equal('Héllo, 世界! How can I help? 👋');
      expect(a.usageMetadata).to.deep.include({ promptTokenCount: 1056, cachedContentTokenCount: 1024 });
      expect(t.usage()).to.deep.equal({ prompt_tokens: 1056, completion_tokens: 15, cache_read_tokens: 1024, cache_write_tokens: 20 });
    },
  },
  {
    name: 'Gemini text (thinking tokens) → chat → Anthropic',
    upstream: fixture('gemini', 'text.sse'),
    make: () => anthropicOnGemini.stream(ctx),
    client: 'anthropic',
    check: (answer, t) => {
      expect(answer).to.deep.include({ id: 'msg_req-1', model: 'client-model', stop_reason: 'end_turn', content: [{ type: 'text', text: 'Héllo, 世界! How can I help? 👋' }] });
      expect(answer.usage).to.deep.include({ input_tokens: 93, output_tokens: 31, cache_read_input_tokens: 1024 });
      expect(t.usage()).to.deep.equal({ prompt_tokens: 1117, completion_tokens: 31, cache_read_tokens: 1024, cache_write_tokens: 0 });
      expect(t.deliveredText()).to.equal('Héllo, 世界! How can I help? 👋');
    },
  },
  {
    name: 'Gemini two function calls in one event → chat → two Anthropic tool_use blocks',
    upstream: fixture('gemini', 'tool-call.sse'),
    make: () => anthropicOnGemini.stream(ctx),
    client: 'anthropic',
    check: (answer, t) => {
      expect(answer.stop_reason).to.equal('tool_use');
      expect(answer.content).to.deep.equal([
        { type: 'tool_use', id: 'call_msg_req-1_0', name: 'get_weather', input: { location: 'Paris', unit: 'celsius' } },
        { type: 'tool_use', id: 'call_msg_req-1_1', name: 'get_time', input: { tz: 'Europe/Paris' } },
      ]);
      expect(t.usage()).to.deep.equal({ prompt_tokens: 82, completion_tokens: 24, cache_read_tokens: 0, cache_write_tokens: 0 });
    },
  },
  {
    name: 'Responses (Codex) → chat → Gemini',
    upstream: sse([
      { type: 'response.created', response: { id: 'r', status: 'in_progress', output: [], usage: null } },
      { type: 'response.output_text.delta', output_index: 0, item_id: 'm', delta: 'Bonjour ' },
      { type: 'response.output_text.delta', output_index: 0, item_id: 'm', delta: 'Paris' },
      { type: 'response.output_item.added', output_index: 1, item: { type: 'function_call', id: 'fc', call_id: 'call_r1', name: 'lookup', arguments: '' } },
      { type: 'response.function_call_arguments.delta', output_index: 1, item_id: 'fc', delta: '{"q":' },
      { type: 'response.function_call_arguments.delta', output_index: 1, item_id: 'fc', delta: '"x"}' },
      { type: 'response.completed', response: { id: 'r', status: 'completed', output: [], usage: { input_tokens: 30, output_tokens: 9, total_tokens: 39, input_tokens_details: { cached_tokens: 16 } } } },
    ]),
    make: () => geminiOnResponses.stream(ctx),
    client: 'gemini',
    check: (answer, t) => {
      const a = answer as unknown as GeminiAnswer;
      expect(a.candidates[0]?.content.parts).to.deep.equal([{ text: 'Bonjour Paris' }, { functionCall: { id: 'call_r1', name: 'lookup', args: { q: 'x' } } }]);
      expect(t.usage()).to.deep.equal({ prompt_tokens: 30, completion_tokens: 9, cache_read_tokens: 16, cache_write_tokens: 0 });
    },
  },
];

describe('cross-dialect bridge streams (Gemini ↔ OpenAI / Anthropic / Responses)', () => {
  for (const c of cases) {
    describe(c.name, () => {
      it('gives the same events whatever the upstream’s chunking', () => {
        const reference = frames(replay(c.upstream, c.make(), SEEDS[0]!));
        for (const seed of SEEDS.slice(1)) expect(frames(replay(c.upstream, c.make(), seed)), `seed ${seed}`).to.deep.equal(reference);
      });
      it('folds into a well-formed answer with the upstream’s content and usage', () => {
        const t = c.make();
        c.check(fold(c.client, replay(c.upstream, t, 7)), t);
      });
      it('writes nothing after the stream is over', () => {
        const t = c.make();
        replay(c.upstream, t, 3);
        expect(t.push({ data: '{"choices":[]}' }) + t.end() + t.fail('late')).to.equal('');
      });
    });
  }

  describe('Gemini-format output', () => {
    const make = () => createOpenaiToGeminiStream({ model: 'client-model', id: 'req-1' });
    const geminiError = (fs: ParsedFrame[]) => fs.map((f) => (f.data as { error?: unknown }).error).find((e) => e !== undefined);

    it('sends text as it arrives and holds tool calls for the last event', () => {
      const t = make();
      const head = { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'up' };
      const first = t.push({ data: JSON.stringify({ ...head, choices: [{ index: 0, delta: { content: 'Hi' }, finish_reason: null }] }) });
      expect(frames(first)).to.deep.equal([{ data: { candidates: [{ content: { role: 'model', parts: [{ text: 'Hi' }] }, index: 0 }], modelVersion: 'client-model', responseId: 'req-1' } }]);
      const call = t.push({ data: JSON.stringify({ ...head, choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: 'c1', function: { name: 'f', arguments: '{"a"' } }] }, finish_reason: null }] }) });
      expect(call).to.equal('');
      expect(t.deliveredText()).to.equal('Hi');
      t.push({ data: JSON.stringify({ ...head, choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: ':1}' } }] }, finish_reason: 'tool_calls' }] }) });
      const last = frames(t.push({ data: '[DONE]' }));
      expect(last).to.deep.equal([{ data: { candidates: [{ content: { role: 'model', parts: [{ functionCall: { id: 'c1', name: 'f', args: { a: 1 } } }] }, finishReason: 'STOP', index: 0 }], modelVersion: 'client-model', responseId: 'req-1' } }]);
      expect(t.deliveredText()).to.equal('Hif{"a":1}');
      expect(t.usage()).to.equal(undefined);
    });

    it('turns an upstream error event into a Gemini error and stops', () => {
      const t = make();
      const out = frames(replay(fixture('openai', 'error.sse'), t, 5));
      expect(geminiError(out)).to.deep.equal({ code: 502, message: 'The server had an error while processing your request. Sorry about that!', status: 'UNAVAILABLE' });
      expect(t.deliveredText()).to.equal('Partial answer');
      expect(t.usage()).to.equal(undefined);
    });

    it('reports a stream cut before finish_reason, and fail(), as a Gemini error', () => {
      const cut = make();
      cut.push({ data: JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'up', choices: [{ index: 0, delta: { content: 'Par' }, finish_reason: null }] }) });
      expect(geminiError(frames(cut.end()))).to.deep.include({ code: 502, status: 'UNAVAILABLE' });
      const failed = make();
      expect(geminiError(frames(failed.fail('The upstream stream failed')))).to.deep.equal({ code: 502, message: 'The upstream stream failed', status: 'UNAVAILABLE' });
      expect(failed.fail('again')).to.equal('');
    });

    it('closes cleanly when the upstream finished without [DONE], and reports malformed events', () => {
      const t = make();
      t.push({ data: JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'up', choices: [{ index: 0, delta: { content: 'ok' }, finish_reason: 'length' }] }) });
      const last = frames(t.end());
      expect((last[0]?.data as GeminiAnswer).candidates[0]?.finishReason).to.equal('MAX_TOKENS');
      expect(geminiError(frames(make().push({ data: 'not json' })))).to.deep.include({ message: 'Upstream sent a malformed stream event' });
    });

    it('step never mutates the state it is given', () => {
      const state = initialOpenaiToGeminiState;
      const frozen = JSON.stringify(state);
      stepOpenaiToGemini(state, { kind: 'chunk', chunk: { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content: 'x', tool_calls: [{ index: 0, id: 'a', function: { name: 'f', arguments: '{}' } }] }, finish_reason: 'stop' }] } }, { model: 'm', id: 'r' });
      expect(JSON.stringify(state)).to.equal(frozen);
    });
  });

  describe('composed streams: errors in the client’s format and billing of cut streams', () => {
    it('an Anthropic error event reaches a Gemini client as a Gemini error', () => {
      const t = geminiOnAnthropic.stream(ctx);
      const out = frames(replay(fixture('anthropic', 'error.sse'), t, 9));
      expect(out.map((f) => (f.data as { error?: unknown }).error).find(Boolean)).to.deep.equal({ code: 502, message: 'Overloaded', status: 'UNAVAILABLE' });
      expect(t.deliveredText()).to.equal('Partial answer');
    });

    it('a Gemini error event reaches an Anthropic client as an Anthropic error event; usage so far is kept', () => {
      const t = anthropicOnGemini.stream(ctx);
      const out = frames(replay(fixture('gemini', 'error.sse'), t, 9));
      const error = out.find((f) => f.event === 'error');
      expect(error?.data).to.deep.equal({ type: 'error', error: { type: 'api_error', message: 'The model is overloaded. Please try again later.' } });
      expect(t.usage()).to.deep.equal({ prompt_tokens: 25, completion_tokens: 2, cache_read_tokens: 0, cache_write_tokens: 0 });
      expect(t.deliveredText()).to.equal('Partial answer');
    });

    it('a client that leaves mid-stream is billed for what was delivered (no usage yet)', () => {
      const t = geminiOnAnthropic.stream(ctx);
      const bytes = fixture('anthropic', 'text.sse');
      const parser = createSseParser();
      // Everything up to the first text delta only.
      const events = [...parser.push(bytes), ...parser.end()];
      const cut = events.findIndex((e) => e.event === 'content_block_delta');
      let out = '';
      for (const e of events.slice(0, cut + 1)) out += t.push(e);
      expect(out).to.not.equal('');
      expect(t.usage()).to.equal(undefined);
      expect(t.deliveredText()).to.equal(JSON.parse(events[cut]!.data).delta.text);
      expect(t.fail('The upstream stream failed; the response is incomplete')).to.contain('"status":"UNAVAILABLE"');
    });
  });
});
