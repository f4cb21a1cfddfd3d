import { expect } from 'chai';
import { formatSse } from '../../../src/gateway/sse.js';
import { aggregateEvents, aggregatorFor } from '../../../src/gateway/translate/aggregate.js';
import { chainStreams, createResponsesToOpenaiStream } from '../../../src/gateway/translate/openai-responses.stream.js';
import { createOpenaiToAnthropicStream } from '../../../src/gateway/translate/openai-to-anthropic.stream.js';
import type { StreamTranslator, Usage } from '../../../src/gateway/types.js';
import { createSseParser } from '../../../src/gateway/sse.js';
import { frames, replay, type ParsedFrame } from './replay.js';

/** Responses API stream → chat.completion.chunk stream, replayed in random chunkings. */

const head = { id: 'chatcmpl-test', created: 1_700_000_000, model: 'client-model' };
const SEEDS = [1, 2, 3, 17, 42, 99];
const USAGE = { input_tokens: 21, input_tokens_details: { cached_tokens: 5 }, output_tokens: 13, output_tokens_details: { reasoning_tokens: 2 }, total_tokens: 34 };
const ARGS = '{"city":"Paris","unit":"celsius"}';

type Ev = [type: string, data: Record<string, unknown>];

function sse(events: Ev[]): Buffer {
  return Buffer.from(events.map(([type, data], i) => formatSse({ event: type, data: JSON.stringify({ type, sequence_number: i, ...data }) })).join(''));
}

const response = (status: string, extra: Record<string, unknown> = {}) => ({ response: { id: 'resp_1', object: 'response', status, output: [], ...extra } });
const text = (delta: string, itemId = 'msg_1'): Ev => ['response.output_text.delta', { item_id: itemId, output_index: 0, content_index: 0, delta }];
const call = (id: string, callId: string, name: string, outputIndex: number, args = '') => ({ id, type: 'function_call', call_id: callId, name, arguments: args, status: 'in_progress' });

const chunk = (delta: Record<string, unknown>, finish: string | null = null): ParsedFrame => ({
  data: { ...head, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] },
});
const usageChunk = (usage: Record<string, unknown>): ParsedFrame => ({ data: { ...head, object: 'chat.completion.chunk', choices: [], usage } });
const ROLE = chunk({ role: 'assistant', content: '' });
const DONE: ParsedFrame = { data: '[DONE]' };
const errorFrame = (message: string, code = 'upstream_error'): ParsedFrame => ({ data: { error: { message, type: 'server_error', param: null, code } } });
const OPENAI_USAGE = { prompt_tokens: 21, completion_tokens: 13, total_tokens: 34, prompt_tokens_details: { cached_tokens: 5 }, completion_tokens_details: { reasoning_tokens: 2 } };
const GATEWAY_USAGE: Usage = { prompt_tokens: 21, completion_tokens: 13, cache_read_tokens: 5, cache_write_tokens: 0 };

/** Text, then two function calls whose arguments are split across deltas (the second interleaved). */
const TOOL_STREAM: Ev[] = [
  ['response.created', response('in_progress', { usage: null })],
  ['response.in_progress', response('in_progress', { usage: null })],
  ['response.output_item.added', { output_index: 0, item: { id: 'msg_1', type: 'message', role: 'assistant', content: [] } }],
  text('Héllo, '),
  text('世界 👋'),
  ['response.output_text.done', { item_id: 'msg_1', output_index: 0, content_index: 0, text: 'Héllo, 世界 👋' }],
  ['response.output_item.done', { output_index: 0, item: { id: 'msg_1', type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Héllo, 世界 👋' }] } }],
  ['response.output_item.added', { output_index: 1, item: call('fc_1', 'call_1', 'get_weather', 1) }],
  ['response.function_call_arguments.delta', { item_id: 'fc_1', output_index: 1, delta: ARGS.slice(0, 7) }],
  ['response.output_item.added', { output_index: 2, item: call('fc_2', 'call_2', 'get_time', 2) }],
  ['response.function_call_arguments.delta', { item_id: 'fc_1', output_index: 1, delta: ARGS.slice(7) }],
  ['response.function_call_arguments.delta', { item_id: 'fc_2', output_index: 2, delta: '{}' }],
  ['response.function_call_arguments.done', { item_id: 'fc_1', output_index: 1, arguments: ARGS }],
  ['response.output_item.done', { output_index: 1, item: { ...call('fc_1', 'call_1', 'get_weather', 1, ARGS), status: 'completed' } }],
  ['response.output_item.done', { output_index: 2, item: { ...call('fc_2', 'call_2', 'get_time', 2, '{}'), status: 'completed' } }],
  ['response.completed', response('completed', { usage: USAGE })],
];

const TOOL_FRAMES = (withUsage: boolean): ParsedFrame[] => [
  ROLE,
  chunk({ content: 'Héllo, ' }),
  chunk({ content: '世界 👋' }),
  chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: ARGS.slice(0, 7) } }] }),
  chunk({ tool_calls: [{ index: 1, id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '' } }] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: ARGS.slice(7) } }] }),
  chunk({ tool_calls: [{ index: 1, function: { arguments: '{}' } }] }),
  chunk({}, 'tool_calls'),
  ...(withUsage ? [usageChunk(OPENAI_USAGE)] : []),
  DONE,
];

/** Delivered in the order it was sent: the second call's name comes between the first call's fragments. */
const INTERLEAVED = `Héllo, 世界 👋get_weather${ARGS.slice(0, 7)}get_time${ARGS.slice(7)}{}`;

interface Case {
  name: string;
  events: Ev[];
  includeUsage: boolean;
  expected: ParsedFrame[];
  usage: Usage | undefined;
  delivered: string;
}

const cases: Case[] = [
  { name: 'text and two tool calls split across deltas, with the usage chunk', events: TOOL_STREAM, includeUsage: true, expected: TOOL_FRAMES(true), usage: GATEWAY_USAGE, delivered: INTERLEAVED },
  { name: 'the same without include_usage: no usage chunk, usage still known', events: TOOL_STREAM, includeUsage: false, expected: TOOL_FRAMES(false), usage: GATEWAY_USAGE, delivered: INTERLEAVED },
  {
    name: 'incomplete for max_output_tokens → finish_reason length',
    events: [['response.created', response('in_progress')], text('Half an ans'), ['response.incomplete', response('incomplete', { incomplete_details: { reason: 'max_output_tokens' }, usage: USAGE })]],
    includeUsage: true,
    expected: [ROLE, chunk({ content: 'Half an ans' }), chunk({}, 'length'), usageChunk(OPENAI_USAGE), DONE],
    usage: GATEWAY_USAGE,
    delivered: 'Half an ans',
  },
  {
    name: 'incomplete for content_filter → finish_reason content_filter',
    events: [['response.created', response('in_progress')], ['response.incomplete', response('incomplete', { incomplete_details: { reason: 'content_filter' } })]],
    includeUsage: true,
    expected: [ROLE, chunk({}, 'content_filter'), DONE],
    usage: undefined,
    delivered: '',
  },
  {
    name: 'response.failed → an error frame with its message; usage it reports is kept',
    events: [['response.created', response('in_progress')], text('Partial'), ['response.failed', response('failed', { error: { code: 'server_error', message: 'The model crashed' }, usage: USAGE })]],
    includeUsage: true,
    expected: [ROLE, chunk({ content: 'Partial' }), errorFrame('The model crashed')],
    usage: GATEWAY_USAGE,
    delivered: 'Partial',
  },
  {
    name: 'an error event → an error frame carrying its code; later events ignored',
    events: [['response.created', response('in_progress')], text('Partial'), ['error', { code: 'rate_limit_exceeded', message: 'Slow down', param: null }], text('ignored')],
    includeUsage: true,
    expected: [ROLE, chunk({ content: 'Partial' }), errorFrame('Slow down', 'rate_limit_exceeded')],
    usage: undefined,
    delivered: 'Partial',
  },
  {
    name: 'a stream that ends without a terminal event → an error frame',
    events: [['response.created', response('in_progress')], text('Partial')],
    includeUsage: true,
    expected: [ROLE, chunk({ content: 'Partial' }), errorFrame('Upstream stream ended before the response was complete')],
    usage: undefined,
    delivered: 'Partial',
  },
  {
    name: 'arguments and text given only in .done events are delivered once, whole',
    events: [
      ['response.output_item.done', { output_index: 0, item: { id: 'msg_1', type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'All at once' }] } }],
      ['response.output_item.added', { output_index: 1, item: call('fc_1', 'call_1', 'get_weather', 1) }],
      ['response.function_call_arguments.done', { item_id: 'fc_1', output_index: 1, arguments: ARGS }],
      ['response.output_item.done', { output_index: 1, item: call('fc_1', 'call_1', 'get_weather', 1, ARGS) }],
      ['response.output_item.done', { output_index: 2, item: call('fc_2', 'call_2', 'get_time', 2, '{}') }],
      ['response.completed', response('completed')],
    ],
    includeUsage: true,
    expected: [
      ROLE,
      chunk({ content: 'All at once' }),
      chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: ARGS } }] }),
      chunk({ tool_calls: [{ index: 1, id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 1, function: { arguments: '{}' } }] }),
      chunk({}, 'tool_calls'),
      DONE,
    ],
    usage: undefined,
    delivered: `All at onceget_weather${ARGS}get_time{}`,
  },
  {
    name: 'a refusal → delta.refusal; reasoning events dropped',
    events: [
      ['response.created', response('in_progress')],
      ['response.reasoning_summary_text.delta', { item_id: 'rs_1', output_index: 0, delta: 'thinking…' }],
      ['response.refusal.delta', { item_id: 'msg_1', output_index: 1, delta: 'I cannot help.' }],
      ['response.completed', response('completed')],
    ],
    includeUsage: false,
    expected: [ROLE, chunk({ refusal: 'I cannot help.' }), chunk({}, 'stop'), DONE],
    usage: undefined,
    delivered: 'I cannot help.',
  },
];

function make(includeUsage: boolean): StreamTranslator {
  return createResponsesToOpenaiStream({ ...head, includeUsage });
}

describe('Responses API stream → OpenAI chat chunks', () => {
  for (const c of cases) {
    it(c.name, () => {
      for (const seed of SEEDS) {
        const sut = make(c.includeUsage);
        expect(frames(replay(sse(c.events), sut, seed)), `seed ${seed}`).to.deep.equal(c.expected);
        expect(sut.usage(), `usage, seed ${seed}`).to.deep.equal(c.usage);
        expect(sut.deliveredText(), `delivered text, seed ${seed}`).to.equal(c.delivered);
      }
    });
  }

  it('fail() after the first byte writes one error frame and ends the stream', () => {
    const sut = make(true);
    let out = '';
    for (const e of createSseParser().push(sse([['response.created', response('in_progress')], text('Partial')]))) out += sut.push(e);
    out += sut.fail('The upstream stream failed; the response is incomplete');
    out += sut.push({ event: 'response.output_text.delta', data: JSON.stringify({ type: 'response.output_text.delta', delta: 'more' }) });
    out += sut.end();
    expect(frames(out)).to.deep.equal([ROLE, chunk({ content: 'Partial' }), errorFrame('The upstream stream failed; the response is incomplete')]);
  });

  it('ignores data that is not a JSON object', () => {
    const sut = make(true);
    expect(sut.push({ data: 'not json' })).to.equal('');
    expect(sut.push({ data: '[1,2]' })).to.equal('');
  });

  it('folds into the whole chat.completion a non-stream client gets (the chat aggregator)', () => {
    const aggregator = aggregatorFor('openai', 'chat')!;
    const output = replay(sse(TOOL_STREAM), make(true), 7);
    const answer = aggregateEvents(aggregator, createSseParser().push(output));
    expect(answer).to.deep.equal({
      id: head.id,
      object: 'chat.completion',
      created: head.created,
      model: head.model,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: 'Héllo, 世界 👋',
            refusal: null,
            tool_calls: [
              { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: ARGS } },
              { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{}' } },
            ],
          },
          finish_reason: 'tool_calls',
          logprobs: null,
        },
      ],
      usage: OPENAI_USAGE,
    });
  });

  it('chained into the chat → Anthropic translator: an Anthropic stream with tool_use blocks and usage', () => {
    // Anthropic blocks are sequential, so this stream finishes one call before the next begins (as Codex does).
    const sequential = [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 13, 9, 11, 14, 15].map((i) => TOOL_STREAM[i]!);
    for (const seed of SEEDS) {
      const sut = chainStreams(make(true), createOpenaiToAnthropicStream({ model: 'client-model', id: 'msg_test' }));
      const out = frames(replay(sse(sequential), sut, seed));
      expect(out.map((f) => f.event), `seed ${seed}`).to.deep.equal([
        'message_start',
        'content_block_start',
        'content_block_delta',
        'content_block_delta',
        'content_block_stop',
        'content_block_start',
        'content_block_delta',
        'content_block_delta',
        'content_block_stop',
        'content_block_start',
        'content_block_delta',
        'content_block_stop',
        'message_delta',
        'message_stop',
      ]);
      const answer = aggregateEvents(aggregatorFor('anthropic', 'messages')!, createSseParser().push(replay(sse(sequential), chainStreams(make(true), createOpenaiToAnthropicStream({ model: 'client-model', id: 'msg_test' })), seed)));
      expect(answer).to.deep.include({ stop_reason: 'tool_use' });
      expect((answer.content as unknown[]).length).to.equal(3);
      expect(sut.usage()).to.deep.equal(GATEWAY_USAGE);
      expect(sut.deliveredText()).to.equal(`Héllo, 世界 👋get_weather${ARGS}get_time{}`);
    }
  });

  it('chained: an upstream error event becomes an Anthropic error event; fail() too', () => {
    const errored = chainStreams(make(true), createOpenaiToAnthropicStream({ model: 'client-model', id: 'msg_test' }));
    const out = frames(replay(sse([['response.created', response('in_progress')], text('Partial'), ['error', { code: 'server_error', message: 'Boom' }]]), errored, 3));
    expect(out[out.length - 1]).to.deep.equal({ event: 'error', data: { type: 'error', error: { type: 'api_error', message: 'Boom' } } });
    const failed = chainStreams(make(true), createOpenaiToAnthropicStream({ model: 'client-model', id: 'msg_test' }));
    expect(frames(failed.fail('cut'))).to.deep.equal([{ event: 'error', data: { type: 'error', error: { type: 'api_error', message: 'cut' } } }]);
  });
});
