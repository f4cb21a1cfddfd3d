import { expect } from 'chai';
import { UnsupportedFieldError, InvalidFieldError } from '../../../src/gateway/translate/errors.js';
import { anthropicToOpenaiChatResponse, openaiChatToAnthropic } from '../../../src/gateway/translate/openai-anthropic.js';
import type { AnthropicRequest, AnthropicResponse } from '../../../src/gateway/translate/wire/anthropic.js';
import type { OpenAIChatRequest } from '../../../src/gateway/translate/wire/openai.js';

const opts = { upstreamModel: 'claude-sonnet-4-5', defaultMaxTokens: 4096 };
const req = (extra: Partial<OpenAIChatRequest>): OpenAIChatRequest => ({ model: 'ns.claude', messages: [{ role: 'user', content: 'Hi' }], ...extra });

describe('OpenAI chat → Anthropic messages', () => {
  describe(openaiChatToAnthropic.name, () => {
    const cases: Array<{ name: string; body: OpenAIChatRequest; expected: Partial<AnthropicRequest> }> = [
      {
        name: 'a plain user message, default max_tokens',
        body: req({}),
        expected: { model: 'claude-sonnet-4-5', max_tokens: 4096, messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }] },
      },
      {
        name: 'system and developer messages become system',
        body: req({
          messages: [
            { role: 'system', content: 'Be brief.' },
            { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
            { role: 'user', content: 'Hi' },
          ],
        }),
        expected: { system: 'Be brief.\n\nAnswer in French.', messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }] },
      },
      {
        name: 'multi-part content with data: and https images',
        body: req({
          messages: [
            {
              role: 'user',
              content: [
                { type: 'text', text: 'Compare' },
                { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
                { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg', detail: 'high' } },
              ],
            },
          ],
        }),
        expected: {
          messages: [
            {
              role: 'user',
              content: [
                { type: 'text', text: 'Compare' },
                { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
                { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
              ],
            },
          ],
        },
      },
      {
        name: 'sampling, stop, stream and user',
        body: req({ max_tokens: 100, max_completion_tokens: 200, temperature: 0.5, top_p: 0.9, stop: 'END', stream: true, user: 'u-1', seed: 3 }),
        expected: { max_tokens: 200, temperature: 0.5, top_p: 0.9, stop_sequences: ['END'], stream: true, metadata: { user_id: 'u-1' } },
      },
      {
        name: 'stop as a list, max_tokens alone',
        body: req({ max_tokens: 100, stop: ['a', 'b'] }),
        expected: { max_tokens: 100, stop_sequences: ['a', 'b'] },
      },
      {
        name: 'tools and a named tool_choice without parallel calls',
        body: req({
          tools: [
            { type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
            { type: 'function', function: { name: 'noop' } },
          ],
          tool_choice: { type: 'function', function: { name: 'get_weather' } },
          parallel_tool_calls: false,
        }),
        expected: {
          tools: [
            { name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } },
            { name: 'noop', input_schema: { type: 'object', properties: {} } },
          ],
          tool_choice: { type: 'tool', name: 'get_weather', disable_parallel_tool_use: true },
        },
      },
      {
        name: 'tool_choice required → any',
        body: req({ tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: 'required' }),
        expected: { tool_choice: { type: 'any' } },
      },
      {
        name: 'tool_choice none',
        body: req({ tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: 'none' }),
        expected: { tool_choice: { type: 'none' } },
      },
      {
        name: 'assistant tool_calls → tool_use, consecutive tool results merged into one user turn before the next text',
        body: req({
          messages: [
            { role: 'user', content: 'Weather and time in Paris?' },
            {
              role: 'assistant',
              content: 'Checking.',
              tool_calls: [
                { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
                { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '' } },
              ],
            },
            { role: 'tool', tool_call_id: 'call_1', content: '18°C' },
            { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: '14:00' }] },
            { role: 'user', content: 'Thanks' },
          ],
        }),
        expected: {
          messages: [
            { role: 'user', content: [{ type: 'text', text: 'Weather and time in Paris?' }] },
            {
              role: 'assistant',
              content: [
                { type: 'text', text: 'Checking.' },
                { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
                { type: 'tool_use', id: 'call_2', name: 'get_time', input: {} },
              ],
            },
            {
              role: 'user',
              content: [
                { type: 'tool_result', tool_use_id: 'call_1', content: '18°C' },
                { type: 'tool_result', tool_use_id: 'call_2', content: '14:00' },
                { type: 'text', text: 'Thanks' },
              ],
            },
          ],
        },
      },
      {
        name: 'zero penalties and a text response_format are harmless',
        body: req({ presence_penalty: 0, frequency_penalty: 0, response_format: { type: 'text' }, n: 1 }),
        expected: { max_tokens: 4096 },
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const out = openaiChatToAnthropic(c.body, opts);
        expect(out).to.deep.include(c.expected);
      });
    }

    it('leaves out everything the client did not send', () => {
      expect(openaiChatToAnthropic(req({}), opts)).to.have.all.keys('model', 'messages', 'max_tokens');
    });

    const refusals: Array<{ body: OpenAIChatRequest; field: string; type?: typeof UnsupportedFieldError | typeof InvalidFieldError }> = [
      { body: req({ n: 2 }), field: 'n' },
      { body: req({ logprobs: true }), field: 'logprobs' },
      { body: req({ logit_bias: { '50256': -100 } }), field: 'logit_bias' },
      { body: req({ response_format: { type: 'json_object' } }), field: 'response_format' },
      { body: req({ temperature: 1.5 }), field: 'temperature' },
      { body: req({ presence_penalty: 0.5 }), field: 'presence_penalty' },
      { body: req({ functions: [{}] }), field: 'functions' },
      { body: req({ audio: { voice: 'alloy' } }), field: 'audio' },
      { body: req({ tools: [{ type: 'custom', name: 'x' }] }), field: 'tools[0].type' },
      { body: req({ messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] }), field: 'messages[0].content[0].type' },
      { body: req({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'ftp://x/y.png' } }] }] }), field: 'messages[0].content[0].image_url.url' },
      { body: req({ messages: [{ role: 'function', name: 'f', content: 'x' }] }), field: 'messages[0].role' },
      {
        body: req({ messages: [{ role: 'assistant', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{oops' } }] }] }),
        field: 'messages[0].tool_calls[0].function.arguments',
        type: InvalidFieldError,
      },
      { body: { model: 'm' } as unknown as OpenAIChatRequest, field: 'messages', type: InvalidFieldError },
    ];
    for (const r of refusals) {
      it(`refuses ${r.field} with a 400 naming the field`, () => {
        const run = () => openaiChatToAnthropic(r.body, opts);
        expect(run).to.throw(r.type ?? UnsupportedFieldError).that.includes({ status: 400, param: r.field, code: 'invalid_request' });
        expect(run).to.throw(`"${r.field}"`);
      });
    }
  });

  describe(anthropicToOpenaiChatResponse.name, () => {
    const base: AnthropicResponse = {
      id: 'msg_01',
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5',
      content: [{ type: 'text', text: 'Hello' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: 10, output_tokens: 5 },
    };
    const options = { model: 'ns.claude', created: 1_700_000_000 };

    it('maps text, ids, model and usage', () => {
      expect(anthropicToOpenaiChatResponse(base, { ...options, id: 'chatcmpl-x' })).to.deep.equal({
        id: 'chatcmpl-x',
        object: 'chat.completion',
        created: 1_700_000_000,
        model: 'ns.claude',
        choices: [{ index: 0, message: { role: 'assistant', content: 'Hello', refusal: null }, finish_reason: 'stop', logprobs: null }],
        usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, prompt_tokens_details: { cached_tokens: 0 } },
      });
    });

    it('maps tool_use blocks to tool_calls and skips thinking', () => {
      const res = anthropicToOpenaiChatResponse(
        {
          ...base,
          content: [
            { type: 'thinking', thinking: 'hmm', signature: 'sig' },
            { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
          ],
          stop_reason: 'tool_use',
        },
        options,
      );
      expect(res.id).to.equal('msg_01');
      expect(res.choices[0]?.message).to.deep.equal({
        role: 'assistant',
        content: null,
        refusal: null,
        tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
      });
      expect(res.choices[0]?.finish_reason).to.equal('tool_calls');
    });

    const stops: Array<[AnthropicResponse['stop_reason'], string]> = [
      ['end_turn', 'stop'],
      ['stop_sequence', 'stop'],
      ['max_tokens', 'length'],
      ['tool_use', 'tool_calls'],
      ['refusal', 'content_filter'],
      ['model_context_window_exceeded', 'length'],
      ['pause_turn', 'stop'],
      [null, 'stop'],
    ];
    for (const [stop, finish] of stops) {
      it(`stop_reason ${String(stop)} → ${finish}`, () => {
        expect(anthropicToOpenaiChatResponse({ ...base, stop_reason: stop }, options).choices[0]?.finish_reason).to.equal(finish);
      });
    }

    it('counts cache reads and writes into prompt_tokens and reports cached_tokens', () => {
      const res = anthropicToOpenaiChatResponse(
        { ...base, usage: { input_tokens: 12, output_tokens: 7, cache_read_input_tokens: 1000, cache_creation_input_tokens: 200 } },
        options,
      );
      expect(res.usage).to.deep.equal({ prompt_tokens: 1212, completion_tokens: 7, total_tokens: 1219, prompt_tokens_details: { cached_tokens: 1000 } });
    });
  });
});
