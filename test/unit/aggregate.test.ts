import { expect } from 'chai';
import { createAnthropicToOpenaiStream } from '../../src/gateway/translate/anthropic-to-openai.stream.js';
import { createGeminiToOpenaiStream } from '../../src/gateway/translate/gemini-to-openai.stream.js';
import { createOpenaiToAnthropicStream } from '../../src/gateway/translate/openai-to-anthropic.stream.js';
import { AggregateStreamError, aggregateEvents, aggregatorFor, type StreamAggregator } from '../../src/gateway/translate/aggregate.js';
import { createSseParser } from '../../src/gateway/sse.js';
import type { Operation, SseEvent, StreamTranslator, WireFormat } from '../../src/gateway/types.js';
import { fixture, parseChunked, randomChunks } from './translate/replay.js';

/**
 * Folding client-format streams into the client's non-stream answer (docs/gateway.md
 * "Always-streaming upstreams"): tables of event sequences per format, then recorded upstream
 * streams replayed through the real translators, as the engine does.
 */

type Json = Record<string, unknown>;
const ev = (data: unknown, event?: string): SseEvent => ({ ...(event ? { event } : {}), data: typeof data === 'string' ? data : JSON.stringify(data) });
const named = (data: Json & { type: string }): SseEvent => ev(data, data.type);

function aggregate(format: WireFormat, op: Operation, events: SseEvent[]): Json {
  const aggregator = aggregatorFor(format, op);
  if (!aggregator) throw new Error(`no aggregator for ${format}:${op}`);
  return aggregateEvents(aggregator, events);
}

function failure(format: WireFormat, op: Operation, events: SseEvent[]): AggregateStreamError {
  try {
    aggregate(format, op, events);
  } catch (err) {
    if (err instanceof AggregateStreamError) return err;
    throw err;
  }
  throw new Error('expected the stream to fail');
}

// ---- OpenAI chat ----------------------------------------------------------------------------
const chunk = (delta: Json, finish: string | null = null, extra: Json = {}): SseEvent =>
  ev({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1700000000, model: 'm', choices: [{ index: 0, delta, finish_reason: finish }], ...extra });
const usageChunk = ev({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1700000000, model: 'm', choices: [], usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 } });
const DONE = ev('[DONE]');

interface ChatCase {
  name: string;
  events: SseEvent[];
  content: string | null;
  toolCalls?: Array<{ id: string; name: string; arguments: string }>;
  finish: string | null;
  usage?: Json;
}

const chatCases: ChatCase[] = [
  {
    name: 'text only',
    events: [chunk({ role: 'assistant', content: '' }), chunk({ content: 'Hel' }), chunk({ content: 'lo' }), chunk({}, 'stop'), DONE],
    content: 'Hello',
    finish: 'stop',
  },
  {
    name: 'tool calls split across chunks, interleaved, merged by index',
    events: [
      chunk({ role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"ci' } }] }),
      chunk({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{"tz":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: 'ty":"Paris"}' } }] }),
      chunk({ tool_calls: [{ index: 1, function: { arguments: '"UTC"}' } }] }),
      chunk({}, 'tool_calls'),
      DONE,
    ],
    content: null,
    toolCalls: [
      { id: 'call_a', name: 'get_weather', arguments: '{"city":"Paris"}' },
      { id: 'call_b', name: 'get_time', arguments: '{"tz":"UTC"}' },
    ],
    finish: 'tool_calls',
  },
  {
    name: 'usage in the last chunk',
    events: [chunk({ content: 'Hi' }), chunk({}, 'length'), usageChunk, DONE],
    content: 'Hi',
    finish: 'length',
    usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 },
  },
  {
    name: 'no [DONE] after a finish_reason is still complete',
    events: [chunk({ content: 'ok' }, 'stop')],
    content: 'ok',
    finish: 'stop',
  },
];

describe('stream aggregation', () => {
  describe('OpenAI chat chunks → chat.completion', () => {
    for (const c of chatCases) {
      it(c.name, () => {
        const out = aggregate('openai', 'chat', c.events);
        expect(out).to.include({ id: 'chatcmpl-1', object: 'chat.completion', created: 1700000000, model: 'm' });
        const choices = out.choices as Array<{ index: number; message: Json; finish_reason: string | null }>;
        expect(choices).to.have.length(1);
        expect(choices[0]!.message.role).to.equal('assistant');
        expect(choices[0]!.message.content).to.equal(c.content);
        expect(choices[0]!.finish_reason).to.equal(c.finish);
        const calls = (choices[0]!.message.tool_calls as Array<{ id: string; type: string; function: { name: string; arguments: string } }> | undefined) ?? [];
        expect(calls.map((t) => ({ id: t.id, name: t.function.name, arguments: t.function.arguments }))).to.deep.equal(c.toolCalls ?? []);
        for (const call of calls) expect(call.type).to.equal('function');
        expect(out.usage).to.deep.equal(c.usage);
      });
    }

    it('an error chunk mid-stream fails the answer with the upstream message', () => {
      const err = failure('openai', 'chat', [chunk({ content: 'Half' }), ev({ error: { message: 'Overloaded', type: 'server_error', param: null, code: 'upstream_error' } }), DONE]);
      expect(err.fromUpstream).to.equal(true);
      expect(err.message).to.equal('Overloaded');
    });

    it('a stream that ends without finish_reason or [DONE] is incomplete, not a half answer', () => {
      const err = failure('openai', 'chat', [chunk({ content: 'Half' })]);
      expect(err.fromUpstream).to.equal(false);
      expect(err.message).to.match(/ended before the answer was complete/);
    });
  });

  // ---- Responses ------------------------------------------------------------------------------
  describe('Responses events → response', () => {
    const base = { id: 'resp_1', object: 'response', created_at: 1700000000, model: 'gpt-5', status: 'in_progress', output: [] as unknown[], usage: null as unknown };
    const usage = { input_tokens: 9, output_tokens: 4, total_tokens: 13, input_tokens_details: { cached_tokens: 2 } };
    const message = (text: string) => ({ type: 'message', id: 'msg_1', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text, annotations: [] }] });
    const call = { type: 'function_call', id: 'fc_1', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}', status: 'completed' };
    const created = named({ type: 'response.created', response: base });
    const delta = (text: string) => named({ type: 'response.output_text.delta', item_id: 'msg_1', output_index: 1, content_index: 0, delta: text });
    const itemDone = (index: number, item: Json) => named({ type: 'response.output_item.done', output_index: index, item });
    const completed = (output: unknown[]) => named({ type: 'response.completed', response: { ...base, status: 'completed', output, usage } });

    it('takes the completed response as it is when it carries the output', () => {
      const out = aggregate('openai', 'responses', [created, delta('Hi'), itemDone(0, message('Hi')), completed([message('Hi')])]);
      expect(out).to.deep.equal({ ...base, status: 'completed', output: [message('Hi')], usage });
    });

    it('rebuilds an empty final output from output_item.done items, in output_index order (Codex)', () => {
      const out = aggregate('openai', 'responses', [created, itemDone(1, message('Let me check.')), itemDone(0, call), completed([])]);
      expect(out.output).to.deep.equal([call, message('Let me check.')]);
      expect(out.usage).to.deep.equal(usage);
      expect(out.status).to.equal('completed');
    });

    it('falls back to the streamed text when no item was sent', () => {
      const out = aggregate('openai', 'responses', [created, delta('Hel'), delta('lo'), completed([])]);
      expect(out.output).to.deep.equal([{ ...message('Hello'), id: 'msg_1' }]);
    });

    it('an incomplete response is an answer (status incomplete), not an error', () => {
      const out = aggregate('openai', 'responses', [created, itemDone(0, message('Cut')), named({ type: 'response.incomplete', response: { ...base, status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } } })]);
      expect(out).to.include({ status: 'incomplete' });
      expect(out.output).to.deep.equal([message('Cut')]);
    });

    it('an error event or response.failed fails the answer with the upstream message', () => {
      const err = failure('openai', 'responses', [created, delta('Hal'), named({ type: 'error', code: 'server_error', message: 'The server had an error', param: null })]);
      expect(err).to.include({ fromUpstream: true, message: 'The server had an error' });
      const failed = failure('openai', 'responses', [created, named({ type: 'response.failed', response: { ...base, status: 'failed', error: { code: 'rate_limit_exceeded', message: 'Slow down' } } })]);
      expect(failed).to.include({ fromUpstream: true, message: 'Slow down' });
    });

    it('a stream without response.completed is incomplete', () => {
      expect(failure('openai', 'responses', [created, delta('Half'), itemDone(0, message('Half'))]).fromUpstream).to.equal(false);
    });
  });

  // ---- Anthropic ------------------------------------------------------------------------------
  describe('Anthropic events → message', () => {
    const start = named({ type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 10, output_tokens: 1, cache_read_input_tokens: 4 } } });
    const blockStart = (index: number, block: Json) => named({ type: 'content_block_start', index, content_block: block });
    const blockDelta = (index: number, delta: Json) => named({ type: 'content_block_delta', index, delta });
    const blockStop = (index: number) => named({ type: 'content_block_stop', index });
    const messageDelta = (stop: string, output: number) => named({ type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: output } });
    const stop = named({ type: 'message_stop' });

    const cases: Array<{ name: string; events: SseEvent[]; content: Json[]; stop: string; usage: Json }> = [
      {
        name: 'text only, with pings',
        events: [start, blockStart(0, { type: 'text', text: '' }), named({ type: 'ping' }), blockDelta(0, { type: 'text_delta', text: 'Hel' }), blockDelta(0, { type: 'text_delta', text: 'lo' }), blockStop(0), messageDelta('end_turn', 6), stop],
        content: [{ type: 'text', text: 'Hello' }],
        stop: 'end_turn',
        usage: { input_tokens: 10, output_tokens: 6, cache_creation_input_tokens: 0, cache_read_input_tokens: 4 },
      },
      {
        name: 'tool_use input assembled from input_json_delta fragments, after text and thinking',
        events: [
          start,
          blockStart(0, { type: 'thinking', thinking: '', signature: '' }),
          blockDelta(0, { type: 'thinking_delta', thinking: 'Weather ' }),
          blockDelta(0, { type: 'thinking_delta', thinking: 'needed.' }),
          blockDelta(0, { type: 'signature_delta', signature: 'sig' }),
          blockStop(0),
          blockStart(1, { type: 'text', text: '' }),
          blockDelta(1, { type: 'text_delta', text: 'Checking.' }),
          blockStop(1),
          blockStart(2, { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} }),
          blockDelta(2, { type: 'input_json_delta', partial_json: '' }),
          blockDelta(2, { type: 'input_json_delta', partial_json: '{"city": "Pa' }),
          blockDelta(2, { type: 'input_json_delta', partial_json: 'ris"}' }),
          blockStop(2),
          blockStart(3, { type: 'tool_use', id: 'toolu_2', name: 'now', input: {} }),
          blockStop(3),
          messageDelta('tool_use', 30),
          stop,
        ],
        content: [
          { type: 'thinking', thinking: 'Weather needed.', signature: 'sig' },
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'toolu_2', name: 'now', input: {} },
        ],
        stop: 'tool_use',
        usage: { input_tokens: 10, output_tokens: 30, cache_creation_input_tokens: 0, cache_read_input_tokens: 4 },
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const out = aggregate('anthropic', 'messages', c.events);
        expect(out).to.include({ id: 'msg_1', type: 'message', role: 'assistant', model: 'claude', stop_reason: c.stop, stop_sequence: null });
        expect(out.content).to.deep.equal(c.content);
        expect(out.usage).to.deep.equal(c.usage);
      });
    }

    it('an error event mid-stream fails the answer with the upstream message', () => {
      const err = failure('anthropic', 'messages', [start, blockStart(0, { type: 'text', text: '' }), blockDelta(0, { type: 'text_delta', text: 'Half' }), named({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })]);
      expect(err).to.include({ fromUpstream: true, message: 'Overloaded' });
    });

    it('a stream without a stop is incomplete; tool input that is not JSON is refused', () => {
      expect(failure('anthropic', 'messages', [start, blockStart(0, { type: 'text', text: '' }), blockDelta(0, { type: 'text_delta', text: 'Half' })]).fromUpstream).to.equal(false);
      const broken = failure('anthropic', 'messages', [start, blockStart(0, { type: 'tool_use', id: 't', name: 'x', input: {} }), blockDelta(0, { type: 'input_json_delta', partial_json: '{"a":' }), messageDelta('tool_use', 3), stop]);
      expect(broken.message).to.match(/not a JSON object/);
    });
  });

  // ---- Gemini ---------------------------------------------------------------------------------
  describe('Gemini chunks → generateContent response', () => {
    const part = (parts: Json[], extra: Json = {}, top: Json = {}) => ev({ candidates: [{ content: { role: 'model', parts }, index: 0, ...extra }], modelVersion: 'gemini-2.5-flash', ...top });

    it('text across chunks joins into one part; usage from the last chunk', () => {
      const out = aggregate('gemini', 'generate_content', [
        part([{ text: 'Hel' }], {}, { usageMetadata: { promptTokenCount: 3, totalTokenCount: 3 } }),
        part([{ text: 'lo' }]),
        part([{ text: '!' }], { finishReason: 'STOP' }, { usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 2, totalTokenCount: 5 } }),
      ]);
      expect(out).to.deep.equal({
        candidates: [{ content: { role: 'model', parts: [{ text: 'Hello!' }] }, finishReason: 'STOP', index: 0 }],
        modelVersion: 'gemini-2.5-flash',
        usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 2, totalTokenCount: 5 },
      });
    });

    it('thoughts, function calls and signatures stay separate parts, in order', () => {
      const call = { functionCall: { name: 'get_weather', args: { city: 'Paris' } }, thoughtSignature: 'c2ln' };
      const out = aggregate('gemini', 'generate_content', [part([{ text: 'Think', thought: true }]), part([{ text: 'ing', thought: true }, { text: 'Sure.' }]), part([call], { finishReason: 'STOP' })]);
      const candidates = out.candidates as Array<{ content: { parts: Json[] } }>;
      expect(candidates[0]!.content.parts).to.deep.equal([{ text: 'Thinking', thought: true }, { text: 'Sure.' }, call]);
    });

    it('a blocked prompt is an answer without candidates', () => {
      const out = aggregate('gemini', 'generate_content', [ev({ promptFeedback: { blockReason: 'SAFETY' }, usageMetadata: { promptTokenCount: 4 } })]);
      expect(out).to.deep.equal({ promptFeedback: { blockReason: 'SAFETY' }, usageMetadata: { promptTokenCount: 4 } });
    });

    it('an error chunk fails the answer; a stream without finishReason is incomplete', () => {
      expect(failure('gemini', 'generate_content', [part([{ text: 'Half' }]), ev({ error: { code: 503, message: 'The model is overloaded.', status: 'UNAVAILABLE' } })])).to.include({ fromUpstream: true, message: 'The model is overloaded.' });
      expect(failure('gemini', 'generate_content', [part([{ text: 'Half' }])]).fromUpstream).to.equal(false);
    });
  });

  it('operations without a streamed form have no aggregator', () => {
    expect(aggregatorFor('openai', 'embeddings')).to.equal(undefined);
    expect(aggregatorFor('anthropic', 'count_tokens')).to.equal(undefined);
    expect(aggregatorFor('gemini', 'stream_generate_content')).to.equal(undefined);
  });

  // ---- Recorded upstream streams through the real translators (as the engine does) -----------
  describe('recorded streams, translated then folded', () => {
    /** Upstream bytes in random chunks → translator → client SSE text in random chunks → aggregator. */
    function fold(bytes: Buffer, translator: StreamTranslator, aggregator: StreamAggregator, seed: number): Json {
      let text = '';
      for (const event of parseChunked(bytes, seed)) text += translator.push(event);
      text += translator.end();
      const parser = createSseParser();
      for (const piece of randomChunks(Buffer.from(text), seed + 1)) for (const event of parser.push(piece)) aggregator.push(event);
      for (const event of parser.end()) aggregator.push(event);
      return aggregator.finish();
    }
    const head = { id: 'chatcmpl-req', created: 1700000000, model: 'client-model', includeUsage: true };

    for (const seed of [1, 7, 42]) {
      it(`Anthropic tool call → OpenAI chat.completion (seed ${seed})`, () => {
        const out = fold(fixture('anthropic', 'tool-call.sse'), createAnthropicToOpenaiStream(head), aggregatorFor('openai', 'chat')!, seed);
        const choice = (out.choices as Array<{ message: { content: string; tool_calls: Array<{ id: string; function: { name: string; arguments: string } }> }; finish_reason: string }>)[0]!;
        expect(out).to.include({ id: 'chatcmpl-req', model: 'client-model', object: 'chat.completion' });
        expect(choice.message.content).to.equal('Okay, let me check the weather for San Francisco, CA:');
        expect(choice.message.tool_calls).to.have.length(1);
        expect(choice.message.tool_calls[0]!.id).to.equal('toolu_01T1x1fJ34qAmk2tNTrN7Up6');
        expect(choice.message.tool_calls[0]!.function.name).to.equal('get_weather');
        expect(JSON.parse(choice.message.tool_calls[0]!.function.arguments)).to.deep.equal({ location: 'San Francisco, CA', unit: 'fahrenheit' });
        expect(choice.finish_reason).to.equal('tool_calls');
        expect(out.usage).to.include({ prompt_tokens: 472, completion_tokens: 89 });
      });

      it(`OpenAI tool calls → Anthropic message (seed ${seed})`, () => {
        const out = fold(fixture('openai', 'tool-call.sse'), createOpenaiToAnthropicStream({ model: 'client-model', id: 'msg_req' }), aggregatorFor('anthropic', 'messages')!, seed);
        expect(out).to.include({ id: 'msg_req', model: 'client-model', stop_reason: 'tool_use' });
        expect(out.content).to.deep.equal([
          { type: 'tool_use', id: 'call_DdmO9pD3xa9XTPNJ32zg2hcA', name: 'get_weather', input: { location: 'Paris' } },
          { type: 'tool_use', id: 'call_Q8eZ2d2ZNUNwvM5Qnxh5K1mR', name: 'get_time', input: { tz: 'Europe/Paris' } },
        ]);
        expect(out.usage).to.include({ input_tokens: 82, output_tokens: 37 });
      });

      it(`Gemini function calls → OpenAI chat.completion (seed ${seed})`, () => {
        const out = fold(fixture('gemini', 'tool-call.sse'), createGeminiToOpenaiStream(head), aggregatorFor('openai', 'chat')!, seed);
        const choice = (out.choices as Array<{ message: { tool_calls: Array<{ function: { name: string; arguments: string } }> } }>)[0]!;
        expect(choice.message.tool_calls.map((t) => [t.function.name, JSON.parse(t.function.arguments)])).to.deep.equal([
          ['get_weather', { location: 'Paris', unit: 'celsius' }],
          ['get_time', { tz: 'Europe/Paris' }],
        ]);
        expect(out.usage).to.include({ prompt_tokens: 82, completion_tokens: 24 });
      });

      it(`an upstream error event mid-stream fails the folded answer (seed ${seed})`, () => {
        const translator = createAnthropicToOpenaiStream(head);
        let caught: unknown;
        try {
          fold(fixture('anthropic', 'error.sse'), translator, aggregatorFor('openai', 'chat')!, seed);
        } catch (err) {
          caught = err;
        }
        expect(caught).to.be.instanceOf(AggregateStreamError);
        expect(caught).to.include({ fromUpstream: true, message: 'Overloaded' });
      });
    }
  });
});
