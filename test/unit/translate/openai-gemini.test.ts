import { expect } from 'chai';
import { InvalidFieldError, UnsupportedFieldError } from '../../../src/gateway/translate/errors.js';
import { geminiSchema, geminiToOpenaiChatResponse, openaiChatToGemini, SKIP_THOUGHT_SIGNATURE } from '../../../src/gateway/translate/openai-gemini.js';
import type { GeminiRequest, GeminiResponse } from '../../../src/gateway/translate/wire/gemini.js';
import type { OpenAIChatRequest } from '../../../src/gateway/translate/wire/openai.js';

const req = (extra: Partial<OpenAIChatRequest>): OpenAIChatRequest => ({ model: 'ns.gemini', messages: [{ role: 'user', content: 'Hi' }], ...extra });

const toolHistory: OpenAIChatRequest['messages'] = [
  { role: 'user', content: 'Weather and time?' },
  {
    role: 'assistant',
    content: null,
    tool_calls: [
      { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
      { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{}' } },
    ],
  },
  { role: 'tool', tool_call_id: 'call_1', content: '{"temp":18}' },
  { role: 'tool', tool_call_id: 'call_2', content: '14:00' },
];

describe('OpenAI chat → Gemini generateContent', () => {
  describe(openaiChatToGemini.name, () => {
    const cases: Array<{ name: string; body: OpenAIChatRequest; expected: Partial<GeminiRequest> }> = [
      { name: 'a plain message', body: req({}), expected: { contents: [{ role: 'user', parts: [{ text: 'Hi' }] }] } },
      {
        name: 'system → systemInstruction, assistant → model',
        body: req({
          messages: [
            { role: 'system', content: 'Be brief.' },
            { role: 'user', content: 'Hi' },
            { role: 'assistant', content: 'Hello!' },
            { role: 'user', content: [{ type: 'text', text: 'Bye' }] },
          ],
        }),
        expected: {
          systemInstruction: { parts: [{ text: 'Be brief.' }] },
          contents: [
            { role: 'user', parts: [{ text: 'Hi' }] },
            { role: 'model', parts: [{ text: 'Hello!' }] },
            { role: 'user', parts: [{ text: 'Bye' }] },
          ],
        },
      },
      {
        name: 'images as inlineData',
        body: req({ messages: [{ role: 'user', content: [{ type: 'text', text: 'What?' }, { type: 'image_url', image_url: { url: 'data:image/webp;base64,UklGR' } }] }] }),
        expected: { contents: [{ role: 'user', parts: [{ text: 'What?' }, { inlineData: { mimeType: 'image/webp', data: 'UklGR' } }] }] },
      },
      {
        name: 'generation config',
        body: req({ temperature: 1.3, top_p: 0.9, max_tokens: 50, max_completion_tokens: 60, stop: ['x'], seed: 7, presence_penalty: 0.1, response_format: { type: 'json_object' } }),
        expected: {
          generationConfig: { temperature: 1.3, topP: 0.9, maxOutputTokens: 60, stopSequences: ['x'], seed: 7, presencePenalty: 0.1, responseMimeType: 'application/json' },
        },
      },
      {
        name: 'tools (schema cleaned) and a named tool_choice',
        body: req({
          tools: [
            {
              type: 'function',
              function: {
                name: 'get_weather',
                description: 'Weather',
                parameters: { $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', additionalProperties: false, properties: { strict: { type: 'boolean' } } },
              },
            },
          ],
          tool_choice: { type: 'function', function: { name: 'get_weather' } },
        }),
        expected: {
          tools: [{ functionDeclarations: [{ name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { strict: { type: 'boolean' } } } }] }],
          toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_weather'] } },
        },
      },
      {
        name: 'tool calls → functionCall, tool results → functionResponse in one user turn',
        body: req({ messages: toolHistory }),
        expected: {
          contents: [
            { role: 'user', parts: [{ text: 'Weather and time?' }] },
            {
              role: 'model',
              parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } } }, { functionCall: { name: 'get_time', args: {} } }],
            },
            {
              role: 'user',
              parts: [
                { functionResponse: { name: 'get_weather', response: { temp: 18 } } },
                { functionResponse: { name: 'get_time', response: { content: '14:00' } } },
              ],
            },
          ],
        },
      },
    ];
    for (const c of cases) it(c.name, () => expect(openaiChatToGemini(c.body)).to.deep.include(c.expected));

    const choices: Array<[OpenAIChatRequest['tool_choice'], string]> = [
      ['auto', 'AUTO'],
      ['none', 'NONE'],
      ['required', 'ANY'],
    ];
    for (const [choice, mode] of choices) {
      it(`tool_choice ${String(choice)} → ${mode}`, () => {
        const out = openaiChatToGemini(req({ tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: choice }));
        expect(out.toolConfig).to.deep.equal({ functionCallingConfig: { mode } });
      });
    }

    it('adds the documented thought-signature sentinel to replayed calls for Gemini 3 only', () => {
      const g3 = openaiChatToGemini(req({ messages: toolHistory }), { upstreamModel: 'gemini-3-pro-preview' });
      expect(g3.contents[1]?.parts.map((p) => p.thoughtSignature)).to.deep.equal([SKIP_THOUGHT_SIGNATURE, undefined]);
      const g25 = openaiChatToGemini(req({ messages: toolHistory }), { upstreamModel: 'gemini-2.5-flash' });
      expect(g25.contents[1]?.parts.every((p) => p.thoughtSignature === undefined)).to.equal(true);
    });

    it('omits generationConfig when nothing is set', () => {
      expect(openaiChatToGemini(req({}))).to.have.all.keys('contents');
    });

    const refusals: Array<{ body: OpenAIChatRequest; field: string; type?: typeof UnsupportedFieldError | typeof InvalidFieldError }> = [
      { body: req({ n: 3 }), field: 'n' },
      { body: req({ response_format: { type: 'json_schema', json_schema: { name: 'x' } } }), field: 'response_format' },
      { body: req({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] }] }), field: 'messages[0].content[0].image_url.url' },
      { body: req({ messages: [{ role: 'tool', tool_call_id: 'nope', content: 'x' }] }), field: 'messages[0].tool_call_id', type: InvalidFieldError },
    ];
    for (const r of refusals) {
      it(`refuses ${r.field}`, () => {
        expect(() => openaiChatToGemini(r.body)).to.throw(r.type ?? UnsupportedFieldError).that.includes({ status: 400, param: r.field });
      });
    }
  });

  describe(geminiSchema.name, () => {
    it('removes refused keywords at every depth but keeps property names', () => {
      expect(
        geminiSchema({
          type: 'object',
          additionalProperties: false,
          properties: { additionalProperties: { type: 'array', items: { type: 'object', additionalProperties: true, properties: {} } } },
        }),
      ).to.deep.equal({ type: 'object', properties: { additionalProperties: { type: 'array', items: { type: 'object', properties: {} } } } });
    });
  });

  describe(geminiToOpenaiChatResponse.name, () => {
    const options = { model: 'ns.gemini', id: 'chatcmpl-g', created: 1_700_000_000 };
    const base: GeminiResponse = {
      candidates: [{ content: { role: 'model', parts: [{ text: 'thinking…', thought: true }, { text: 'Hello' }, { text: ' there' }] }, finishReason: 'STOP', index: 0 }],
      usageMetadata: { promptTokenCount: 1100, candidatesTokenCount: 5, cachedContentTokenCount: 1000, thoughtsTokenCount: 10, totalTokenCount: 1115 },
    };

    it('maps text (thoughts excluded) and usage (thoughts are output, cached tokens reported)', () => {
      expect(geminiToOpenaiChatResponse(base, options)).to.deep.equal({
        id: 'chatcmpl-g',
        object: 'chat.completion',
        created: 1_700_000_000,
        model: 'ns.gemini',
        choices: [{ index: 0, message: { role: 'assistant', content: 'Hello there', refusal: null }, finish_reason: 'stop', logprobs: null }],
        usage: { prompt_tokens: 1100, completion_tokens: 15, total_tokens: 1115, prompt_tokens_details: { cached_tokens: 1000 } },
      });
    });

    it('maps functionCall parts to tool_calls with finish_reason tool_calls', () => {
      const res = geminiToOpenaiChatResponse(
        {
          candidates: [
            {
              content: { role: 'model', parts: [{ functionCall: { name: 'f', args: { a: 1 } } }, { functionCall: { id: 'fc-9', name: 'g' } }] },
              finishReason: 'STOP',
            },
          ],
        },
        options,
      );
      expect(res.choices[0]?.message.tool_calls).to.deep.equal([
        { id: 'call_chatcmpl-g_0', type: 'function', function: { name: 'f', arguments: '{"a":1}' } },
        { id: 'fc-9', type: 'function', function: { name: 'g', arguments: '{}' } },
      ]);
      expect(res.choices[0]?.message.content).to.equal(null);
      expect(res.choices[0]?.finish_reason).to.equal('tool_calls');
    });

    const finishes: Array<[string, string]> = [
      ['STOP', 'stop'],
      ['MAX_TOKENS', 'length'],
      ['SAFETY', 'content_filter'],
      ['RECITATION', 'content_filter'],
      ['PROHIBITED_CONTENT', 'content_filter'],
      ['OTHER', 'stop'],
    ];
    for (const [reason, finish] of finishes) {
      it(`finishReason ${reason} → ${finish}`, () => {
        const res = geminiToOpenaiChatResponse({ candidates: [{ content: { parts: [{ text: 'x' }] }, finishReason: reason as 'STOP' }] }, options);
        expect(res.choices[0]?.finish_reason).to.equal(finish);
      });
    }

    it('reports a blocked prompt (no candidates) as content_filter with null content', () => {
      const res = geminiToOpenaiChatResponse({ promptFeedback: { blockReason: 'SAFETY' }, usageMetadata: { promptTokenCount: 8 } }, options);
      expect(res.choices[0]).to.deep.include({ finish_reason: 'content_filter' });
      expect(res.choices[0]?.message.content).to.equal(null);
      expect(res.usage).to.deep.include({ prompt_tokens: 8, completion_tokens: 0 });
    });
  });
});
