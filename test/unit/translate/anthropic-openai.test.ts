import { expect } from 'chai';
import { anthropicToOpenaiChat, openaiChatToAnthropicResponse } from '../../../src/gateway/translate/anthropic-openai.js';
import { InvalidFieldError, UnsupportedFieldError } from '../../../src/gateway/translate/errors.js';
import type { AnthropicRequest } from '../../../src/gateway/translate/wire/anthropic.js';
import type { OpenAIChatRequest, OpenAIChatResponse } from '../../../src/gateway/translate/wire/openai.js';

const opts = { upstreamModel: 'gpt-4o' };
const req = (extra: Partial<AnthropicRequest>): AnthropicRequest => ({
  model: 'ns.gpt',
  max_tokens: 512,
  messages: [{ role: 'user', content: 'Hi' }],
  ...extra,
});

describe('Anthropic messages → OpenAI chat', () => {
  describe(anthropicToOpenaiChat.name, () => {
    const cases: Array<{ name: string; body: AnthropicRequest; expected: Partial<OpenAIChatRequest> }> = [
      {
        name: 'a plain message',
        body: req({}),
        expected: { model: 'gpt-4o', max_tokens: 512, messages: [{ role: 'user', content: 'Hi' }] },
      },
      {
        name: 'system as blocks',
        body: req({ system: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }, { type: 'text', text: 'Be kind.' }] }),
        expected: { messages: [{ role: 'system', content: 'Be brief.\n\nBe kind.' }, { role: 'user', content: 'Hi' }] },
      },
      {
        name: 'images as data: and plain URLs',
        body: req({
          messages: [
            {
              role: 'user',
              content: [
                { type: 'text', text: 'What is this?' },
                { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: '/9j/4AAQ' } },
                { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } },
              ],
            },
          ],
        }),
        expected: {
          messages: [
            {
              role: 'user',
              content: [
                { type: 'text', text: 'What is this?' },
                { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,/9j/4AAQ' } },
                { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
              ],
            },
          ],
        },
      },
      {
        name: 'sampling, stop sequences, stream with usage, user id',
        body: req({ temperature: 0.2, top_p: 0.8, top_k: 40, stop_sequences: ['###'], stream: true, metadata: { user_id: 'u-9' } }),
        expected: { temperature: 0.2, top_p: 0.8, stop: ['###'], stream: true, stream_options: { include_usage: true }, user: 'u-9' },
      },
      {
        name: 'tools, tool_choice any without parallel use',
        body: req({
          tools: [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: {} } }],
          tool_choice: { type: 'any', disable_parallel_tool_use: true },
        }),
        expected: {
          tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: {} } } }],
          tool_choice: 'required',
          parallel_tool_calls: false,
        },
      },
      {
        name: 'a named tool',
        body: req({ tools: [{ name: 'f', input_schema: { type: 'object' } }], tool_choice: { type: 'tool', name: 'f' } }),
        expected: { tool_choice: { type: 'function', function: { name: 'f' } } },
      },
      {
        name: 'tool_use history and tool results (results first, then the user text)',
        body: req({
          messages: [
            { role: 'user', content: 'Weather?' },
            {
              role: 'assistant',
              content: [
                { type: 'thinking', thinking: 'Use the tool', signature: 'sig' },
                { type: 'text', text: 'Checking.' },
                { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
              ],
            },
            {
              role: 'user',
              content: [
                { type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: '18°C' }] },
                { type: 'text', text: 'And tomorrow?' },
              ],
            },
          ],
        }),
        expected: {
          messages: [
            { role: 'user', content: 'Weather?' },
            {
              role: 'assistant',
              content: 'Checking.',
              tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
            },
            { role: 'tool', tool_call_id: 'toolu_1', content: '18°C' },
            { role: 'user', content: 'And tomorrow?' },
          ],
        },
      },
      {
        name: 'an assistant turn with only a tool call has null content',
        body: req({
          messages: [
            { role: 'user', content: 'x' },
            { role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'f', input: {} }] },
            { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: 'ok' }] },
          ],
        }),
        expected: {
          messages: [
            { role: 'user', content: 'x' },
            { role: 'assistant', content: null, tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '{}' } }] },
            { role: 'tool', tool_call_id: 't', content: 'ok' },
          ],
        },
      },
    ];
    for (const c of cases) it(c.name, () => expect(anthropicToOpenaiChat(c.body, opts)).to.deep.include(c.expected));

    it('does not ask for usage on non-stream requests', () => {
      expect(anthropicToOpenaiChat(req({}), opts)).to.not.have.property('stream_options');
    });

    const refusals: Array<{ body: AnthropicRequest; field: string }> = [
      { body: req({ tools: [{ type: 'web_search_20250305', name: 'web_search' }] }), field: 'tools[0].type' },
      { body: req({ messages: [{ role: 'user', content: [{ type: 'document', source: {} }] }] }), field: 'messages[0].content[0].type' },
      {
        body: req({
          messages: [
            {
              role: 'user',
              content: [{ type: 'tool_result', tool_use_id: 't', content: [{ type: 'image', source: { type: 'url', url: 'https://x/y.png' } }] }],
            },
          ],
        }),
        field: 'messages[0].content[0].content[0].type',
      },
    ];
    for (const r of refusals) {
      it(`refuses ${r.field}`, () => {
        expect(() => anthropicToOpenaiChat(r.body, opts)).to.throw(UnsupportedFieldError).that.includes({ status: 400, param: r.field });
      });
    }
  });

  describe('malformed bodies are refused naming the field, never a TypeError (a 500 in the gateway)', () => {
    const bad = (raw: Record<string, unknown>) => raw as unknown as AnthropicRequest;
    const cases: Array<[string, AnthropicRequest, string]> = [
      ['messages not an array', bad({ model: 'm', max_tokens: 1, messages: 'hi' }), 'messages'],
      ['a null message', bad({ model: 'm', max_tokens: 1, messages: [null] }), 'messages[0]'],
      ['content a number', bad({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 5 }] }), 'messages[0].content'],
      ['a null block', bad({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: [null] }] }), 'messages[0].content[0]'],
      ['an image without source', bad({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: [{ type: 'image' }] }] }), 'messages[0].content[0].source'],
      ['tool_result content a number', bad({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: 1 }] }] }), 'messages[0].content[0].content'],
      ['tool_use input a string', bad({ model: 'm', max_tokens: 1, messages: [{ role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'f', input: 'x' }] }] }), 'messages[0].content[0].input'],
      ['system a number', bad({ model: 'm', max_tokens: 1, system: 1, messages: [] }), 'system'],
      ['a null tool', bad({ model: 'm', max_tokens: 1, tools: [null], messages: [] }), 'tools'],
    ];
    for (const [name, body, field] of cases) {
      it(name, () => {
        let thrown: unknown;
        try {
          anthropicToOpenaiChat(body, opts);
        } catch (err) {
          thrown = err;
        }
        expect(thrown, name).to.be.instanceOf(InvalidFieldError);
        expect((thrown as InvalidFieldError).field).to.equal(field);
      });
    }
  });

  describe(openaiChatToAnthropicResponse.name, () => {
    const base: OpenAIChatResponse = {
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1,
      model: 'gpt-4o',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello' }, finish_reason: 'stop', logprobs: null }],
      usage: { prompt_tokens: 1200, completion_tokens: 9, total_tokens: 1209, prompt_tokens_details: { cached_tokens: 1024 } },
    };

    it('maps text and usage (input_tokens excludes cached tokens)', () => {
      expect(openaiChatToAnthropicResponse(base, { model: 'ns.gpt', id: 'msg_1' })).to.deep.equal({
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        model: 'ns.gpt',
        content: [{ type: 'text', text: 'Hello' }],
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage: { input_tokens: 176, output_tokens: 9, cache_read_input_tokens: 1024, cache_creation_input_tokens: 0 },
      });
    });

    it('maps tool calls to tool_use blocks', () => {
      const res = openaiChatToAnthropicResponse(
        {
          ...base,
          choices: [
            {
              index: 0,
              message: {
                role: 'assistant',
                content: null,
                tool_calls: [
                  { id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } },
                  { id: 'call_2', type: 'function', function: { name: 'g', arguments: 'not json' } },
                ],
              },
              finish_reason: 'tool_calls',
              logprobs: null,
            },
          ],
        },
        { model: 'm' },
      );
      expect(res.id).to.equal('chatcmpl-1');
      expect(res.content).to.deep.equal([
        { type: 'tool_use', id: 'call_1', name: 'f', input: { a: 1 } },
        { type: 'tool_use', id: 'call_2', name: 'g', input: {} },
      ]);
      expect(res.stop_reason).to.equal('tool_use');
    });

    const finishes: Array<[OpenAIChatResponse['choices'][number]['finish_reason'], string]> = [
      ['stop', 'end_turn'],
      ['length', 'max_tokens'],
      ['tool_calls', 'tool_use'],
      ['function_call', 'tool_use'],
      ['content_filter', 'refusal'],
      [null, 'end_turn'],
    ];
    for (const [finish, stop] of finishes) {
      it(`finish_reason ${String(finish)} → ${stop}`, () => {
        const choice = { index: 0, message: { role: 'assistant' as const, content: 'x' }, finish_reason: finish, logprobs: null };
        expect(openaiChatToAnthropicResponse({ ...base, choices: [choice] }, { model: 'm' }).stop_reason).to.equal(stop);
      });
    }
  });
});
