import { expect } from 'chai';
import { anthropicOnResponses, bridgeFor, openaiChatOnResponses } from '../../../src/gateway/proxy/bridges.js';
import { operationSet } from '../../../src/gateway/providers/adapter.js';
import { InvalidFieldError, UnsupportedFieldError } from '../../../src/gateway/translate/errors.js';
import { anthropicToResponses, openaiChatToResponses, responsesToOpenaiChatResponse, usageFromResponses } from '../../../src/gateway/translate/openai-responses.js';
import type { AnthropicRequest } from '../../../src/gateway/translate/wire/anthropic.js';
import type { OpenAIChatRequest, OpenAIChatResponse } from '../../../src/gateway/translate/wire/openai.js';
import type { ResponsesInputItem, ResponsesRequest, ResponsesResponse } from '../../../src/gateway/translate/wire/responses.js';

const req = (extra: Partial<OpenAIChatRequest> & Record<string, unknown>): OpenAIChatRequest => ({ model: 'public', messages: [{ role: 'user', content: 'Hi' }], ...extra }) as OpenAIChatRequest;
const OPTS = { upstreamModel: 'gpt-5-codex', stream: true };
const userHi: ResponsesInputItem = { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Hi' }] };
const WEATHER = { type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } };

describe('OpenAI chat → Responses API', () => {
  describe(openaiChatToResponses.name, () => {
    const cases: Array<{ name: string; body: OpenAIChatRequest; options?: Partial<typeof OPTS> & { defaultInstructions?: string }; expected: Partial<ResponsesRequest> }> = [
      { name: 'a plain message, never stored', body: req({}), expected: { model: 'gpt-5-codex', input: [userHi], store: false, stream: true } },
      { name: 'stream follows the request when not forced', body: req({}), options: { stream: false }, expected: { stream: false } },
      {
        name: 'leading system and developer messages → instructions; a later one stays in place as developer',
        body: req({
          messages: [
            { role: 'system', content: 'Be brief.' },
            { role: 'developer', content: [{ type: 'text', text: 'Use metric units.' }] },
            { role: 'user', content: 'Hi' },
            { role: 'system', content: 'Answer in French now.' },
          ],
        }),
        expected: {
          instructions: 'Be brief.\n\nUse metric units.',
          input: [userHi, { type: 'message', role: 'developer', content: [{ type: 'input_text', text: 'Answer in French now.' }] }],
        },
      },
      { name: 'default instructions only when the client sent none', body: req({}), options: { defaultInstructions: 'Default.' }, expected: { instructions: 'Default.' } },
      {
        name: 'the client instructions win over the default',
        body: req({ messages: [{ role: 'system', content: 'Mine.' }, { role: 'user', content: 'Hi' }] }),
        options: { defaultInstructions: 'Default.' },
        expected: { instructions: 'Mine.' },
      },
      {
        name: 'image and file parts',
        body: req({
          messages: [
            {
              role: 'user',
              content: [
                { type: 'text', text: 'What?' },
                { type: 'image_url', image_url: { url: 'https://example.test/cat.png', detail: 'low' } },
                { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBOR' } },
                { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBER', filename: 'a.pdf' } },
              ],
            },
          ],
        }),
        expected: {
          input: [
            {
              type: 'message',
              role: 'user',
              content: [
                { type: 'input_text', text: 'What?' },
                { type: 'input_image', image_url: 'https://example.test/cat.png', detail: 'low' },
                { type: 'input_image', image_url: 'data:image/png;base64,iVBOR', detail: 'auto' },
                { type: 'input_file', file_data: 'data:application/pdf;base64,JVBER', filename: 'a.pdf' },
              ],
            },
          ],
        },
      },
      {
        name: 'a tool call round trip → output_text, function_call and function_call_output items',
        body: req({
          messages: [
            { role: 'user', content: 'Hi' },
            {
              role: 'assistant',
              content: 'Let me check.',
              tool_calls: [
                { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
                { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{}' } },
              ],
            },
            { role: 'tool', tool_call_id: 'call_1', content: '{"temp":18}' },
            { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: '14:00' }] },
            { role: 'assistant', content: [{ type: 'text', text: 'It is 18 degrees.' }] },
          ],
        }),
        expected: {
          input: [
            userHi,
            { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Let me check.' }] },
            { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
            { type: 'function_call', call_id: 'call_2', name: 'get_time', arguments: '{}' },
            { type: 'function_call_output', call_id: 'call_1', output: '{"temp":18}' },
            { type: 'function_call_output', call_id: 'call_2', output: '14:00' },
            { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'It is 18 degrees.' }] },
          ],
        },
      },
      {
        name: 'tools flattened, strict false unless asked, parameters defaulted; tool_choice "required"',
        body: req({
          tools: [
            { type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: {} }, strict: true } },
            { type: 'function', function: { name: 'ping' } },
          ],
          tool_choice: 'required',
          parallel_tool_calls: false,
        }),
        expected: {
          tools: [
            { type: 'function', name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: {} }, strict: true },
            { type: 'function', name: 'ping', parameters: { type: 'object', properties: {} }, strict: false },
          ],
          tool_choice: 'required',
          parallel_tool_calls: false,
        },
      },
      { name: 'a named tool_choice', body: req({ tools: [WEATHER], tool_choice: { type: 'function', function: { name: 'get_weather' } } }), expected: { tool_choice: { type: 'function', name: 'get_weather' } } },
      {
        name: 'allowed_tools tool_choice',
        body: req({ tools: [WEATHER], tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'auto', tools: [{ type: 'function', function: { name: 'get_weather' } }] } } }),
        expected: { tool_choice: { type: 'allowed_tools', mode: 'auto', tools: [{ type: 'function', name: 'get_weather' }] } },
      },
      {
        name: 'sampling and bookkeeping fields pass; max_completion_tokens wins over max_tokens',
        body: req({ max_tokens: 50, max_completion_tokens: 60, temperature: 0.2, top_p: 0.9, user: 'u-1', metadata: { team: 'a' }, prompt_cache_key: 'k', safety_identifier: 's' }),
        expected: { max_output_tokens: 60, temperature: 0.2, top_p: 0.9, user: 'u-1', metadata: { team: 'a' }, prompt_cache_key: 'k', safety_identifier: 's' },
      },
      {
        name: 'reasoning_effort, response_format json_schema and verbosity → reasoning and text',
        body: req({ reasoning_effort: 'high', verbosity: 'low', response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' }, strict: true } } }),
        expected: { reasoning: { effort: 'high' }, text: { format: { type: 'json_schema', name: 'answer', schema: { type: 'object' }, strict: true }, verbosity: 'low' } },
      },
      { name: 'response_format json_object', body: req({ response_format: { type: 'json_object' } }), expected: { text: { format: { type: 'json_object' } } } },
    ];
    for (const c of cases) {
      it(c.name, () => {
        expect(openaiChatToResponses(c.body, { ...OPTS, ...c.options })).to.deep.include(c.expected);
      });
    }

    it('drops what has no Responses counterpart and does not change the answer', () => {
      const out = openaiChatToResponses(
        req({ seed: 7, service_tier: 'flex', store: true, stream: true, stream_options: { include_usage: true }, n: 1, presence_penalty: 0, stop: null, response_format: { type: 'text' }, tools: [], tool_choice: 'auto' }),
        OPTS,
      );
      expect(out).to.deep.equal({ model: 'gpt-5-codex', input: [userHi], store: false, stream: true });
    });

    const refusals: Array<{ name: string; body: OpenAIChatRequest; error: typeof UnsupportedFieldError | typeof InvalidFieldError; param: string }> = [
      { name: 'stop sequences', body: req({ stop: ['END'] }), error: UnsupportedFieldError, param: 'stop' },
      { name: 'n > 1', body: req({ n: 2 }), error: UnsupportedFieldError, param: 'n' },
      { name: 'logprobs', body: req({ logprobs: true }), error: UnsupportedFieldError, param: 'logprobs' },
      { name: 'a presence penalty', body: req({ presence_penalty: 0.5 }), error: UnsupportedFieldError, param: 'presence_penalty' },
      { name: 'a frequency penalty', body: req({ frequency_penalty: -1 }), error: UnsupportedFieldError, param: 'frequency_penalty' },
      { name: 'a custom tool', body: req({ tools: [{ type: 'custom', custom: { name: 'x' } }] }), error: UnsupportedFieldError, param: 'tools[0].type' },
      { name: 'a custom tool_choice', body: req({ tools: [WEATHER], tool_choice: { type: 'custom', custom: { name: 'x' } } }), error: UnsupportedFieldError, param: 'tool_choice' },
      { name: 'audio input', body: req({ messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] }), error: UnsupportedFieldError, param: 'messages[0].content[0].type' },
      { name: 'a deprecated function message', body: req({ messages: [{ role: 'function', name: 'f', content: 'x' }] }), error: UnsupportedFieldError, param: 'messages[0].role' },
      { name: 'a tool result for no tool call', body: req({ messages: [{ role: 'user', content: 'Hi' }, { role: 'tool', tool_call_id: 'call_x', content: 'r' }] }), error: InvalidFieldError, param: 'messages[1].tool_call_id' },
      { name: 'messages that are not an array', body: req({ messages: 'Hi' as unknown as OpenAIChatRequest['messages'] }), error: InvalidFieldError, param: 'messages' },
      { name: 'an image without a url', body: req({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: {} as { url: string } }] }] }), error: InvalidFieldError, param: 'messages[0].content[0].image_url.url' },
      {
        name: 'tool call arguments that are not a string',
        body: req({ messages: [{ role: 'assistant', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: { a: 1 } as unknown as string } }] }] }),
        error: InvalidFieldError,
        param: 'messages[0].tool_calls[0].function.arguments',
      },
    ];
    for (const c of refusals) {
      it(`refuses ${c.name} with a 400 naming ${c.param}`, () => {
        expect(() => openaiChatToResponses(c.body, OPTS))
          .to.throw(c.error)
          .that.includes({ status: 400, param: c.param });
      });
    }
  });

  describe(responsesToOpenaiChatResponse.name, () => {
    const opts = { model: 'client-model', id: 'chatcmpl-req1', created: 1_700_000_000 };
    const usage = { input_tokens: 30, input_tokens_details: { cached_tokens: 10 }, output_tokens: 12, output_tokens_details: { reasoning_tokens: 4 }, total_tokens: 42 };
    const message = (text: string) => ({ type: 'message', id: 'msg_1', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text, annotations: [] }] });
    const cases: Array<{ name: string; res: ResponsesResponse; choice: Partial<OpenAIChatResponse['choices'][number]> }> = [
      {
        name: 'text, reasoning items dropped',
        res: { status: 'completed', output: [{ type: 'reasoning', id: 'rs_1', summary: [] }, message('Hello'), message(' there')], usage },
        choice: { index: 0, message: { role: 'assistant', content: 'Hello there', refusal: null }, finish_reason: 'stop', logprobs: null },
      },
      {
        name: 'function calls → tool_calls with call_id, content null',
        res: { status: 'completed', output: [{ type: 'function_call', id: 'fc_1', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }] },
        choice: { message: { role: 'assistant', content: null, refusal: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] }, finish_reason: 'tool_calls' },
      },
      {
        name: 'incomplete for max_output_tokens → length',
        res: { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' }, output: [message('Half')] },
        choice: { message: { role: 'assistant', content: 'Half', refusal: null }, finish_reason: 'length' },
      },
      {
        name: 'incomplete for content_filter → content_filter',
        res: { status: 'incomplete', incomplete_details: { reason: 'content_filter' }, output: [] },
        choice: { message: { role: 'assistant', content: '', refusal: null }, finish_reason: 'content_filter' },
      },
      {
        name: 'a refusal part → refusal',
        res: { status: 'completed', output: [{ type: 'message', role: 'assistant', content: [{ type: 'refusal', refusal: 'I cannot.' }] }] },
        choice: { message: { role: 'assistant', content: '', refusal: 'I cannot.' }, finish_reason: 'stop' },
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const out = responsesToOpenaiChatResponse(c.res, opts);
        expect(out).to.include({ id: 'chatcmpl-req1', object: 'chat.completion', created: 1_700_000_000, model: 'client-model' });
        expect(out.choices).to.have.length(1);
        expect(out.choices[0]).to.deep.include(c.choice);
      });
    }

    it('maps usage: input incl. cached → prompt_tokens, cached and reasoning details kept', () => {
      const out = responsesToOpenaiChatResponse({ status: 'completed', output: [message('x')], usage }, opts);
      expect(out.usage).to.deep.equal({ prompt_tokens: 30, completion_tokens: 12, total_tokens: 42, prompt_tokens_details: { cached_tokens: 10 }, completion_tokens_details: { reasoning_tokens: 4 } });
      expect(usageFromResponses(usage)).to.deep.equal({ prompt_tokens: 30, completion_tokens: 12, cache_read_tokens: 10, cache_write_tokens: 0 });
    });
  });

  describe(anthropicToResponses.name, () => {
    const base: AnthropicRequest = { model: 'claude', max_tokens: 100, system: 'Be brief.', messages: [{ role: 'user', content: 'Hi' }] };

    it('goes through the chat mapping: system → instructions, tool_use / tool_result → function_call / function_call_output', () => {
      const out = anthropicToResponses(
        {
          ...base,
          messages: [
            { role: 'user', content: 'Hi' },
            { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
            { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '18' }] },
          ],
          tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: {} } }],
          tool_choice: { type: 'any' },
        },
        OPTS,
      );
      expect(out).to.deep.include({
        instructions: 'Be brief.',
        input: [userHi, { type: 'function_call', call_id: 'toolu_1', name: 'get_weather', arguments: '{"city":"Paris"}' }, { type: 'function_call_output', call_id: 'toolu_1', output: '18' }],
        tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: {} }, strict: false }],
        tool_choice: 'required',
        max_output_tokens: 100,
        store: false,
      });
    });

    it('refuses stop_sequences under its own name', () => {
      expect(() => anthropicToResponses({ ...base, stop_sequences: ['END'] }, OPTS))
        .to.throw(UnsupportedFieldError)
        .that.includes({ status: 400, param: 'stop_sequences' });
    });

    it('refuses a tool_result that answers no tool_use, naming messages', () => {
      expect(() => anthropicToResponses({ ...base, messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_x', content: 'r' }] }] }, OPTS))
        .to.throw(InvalidFieldError)
        .that.includes({ status: 400, param: 'messages' });
    });
  });

  describe('bridge choice (bridgeFor)', () => {
    const codex = operationSet(['responses']);
    const openai = operationSet(['chat', 'completions', 'embeddings', 'responses']);

    it('an OpenAI chat client on a Responses-only upstream gets the chat → Responses bridge', () => {
      const bridge = bridgeFor('chat', 'openai', 'openai', {}, codex);
      expect(bridge).to.equal(openaiChatOnResponses);
      expect(bridge?.upstreamOp(false)).to.equal('responses');
      expect(bridge?.upstreamOp(true)).to.equal('responses');
    });

    it('an upstream serving chat keeps the pass-through bridge', () => {
      expect(bridgeFor('chat', 'openai', 'openai', {}, openai)?.upstreamOp(false)).to.equal('chat');
      expect(bridgeFor('chat', 'openai', 'openai', {})?.upstreamOp(false)).to.equal('chat');
    });

    it('an Anthropic client reaches a Responses-only upstream only with dp_claude_cross_upstream on', () => {
      expect(bridgeFor('messages', 'anthropic', 'openai', {}, codex)).to.equal(undefined);
      expect(bridgeFor('messages', 'anthropic', 'openai', { dp_claude_cross_upstream: 'true' }, codex)).to.equal(anthropicOnResponses);
      expect(bridgeFor('messages', 'anthropic', 'openai', { dp_claude_cross_upstream: 'true' }, openai)?.upstreamOp(false)).to.equal('chat');
    });

    it('Responses clients on Codex keep the Responses pass-through; other operations find no bridge', () => {
      expect(bridgeFor('responses', 'openai', 'openai', {}, codex)?.upstreamOp(false)).to.equal('responses');
      expect(bridgeFor('responses', 'openai', 'openai', {}, codex)).to.not.equal(openaiChatOnResponses);
      const embeddings = bridgeFor('embeddings', 'openai', 'openai', {}, codex);
      expect(embeddings === undefined || !codex(embeddings.upstreamOp(false)), 'embeddings cannot reach Codex').to.equal(true);
    });

    it('builds a Responses body with default instructions and a chat completion id', () => {
      const body = { model: 'public', messages: [{ role: 'user', content: 'Hi' }], stream: false };
      const out = JSON.parse(String(openaiChatOnResponses.requestBody({ body, raw: Buffer.from(JSON.stringify(body)), publicModel: 'public', upstreamModel: 'gpt-5-codex', stream: false }))) as Record<string, unknown>;
      expect(out).to.include({ model: 'gpt-5-codex', store: false, stream: false });
      expect(out.instructions).to.be.a('string').and.not.equal('');
      const ctx = { requestId: 'r1', publicModel: 'public', created: 1, clientWantsUsage: false };
      const res = openaiChatOnResponses.response({ status: 'completed', output: [], usage: { input_tokens: 3, output_tokens: 1 } }, Buffer.from(''), ctx);
      expect(JSON.parse(String(res.body))).to.include({ id: 'chatcmpl-r1', model: 'public' });
      expect(res.usage).to.deep.equal({ prompt_tokens: 3, completion_tokens: 1, cache_read_tokens: 0, cache_write_tokens: 0 });
      expect(() => openaiChatOnResponses.response({ status: 'failed', error: { message: 'boom' } }, Buffer.from(''), ctx)).to.throw(/boom/);
    });
  });
});
