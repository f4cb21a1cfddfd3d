import { expect } from 'chai';
import { anthropicOnGemini, bridgeFor, geminiOnAnthropic, geminiOnOpenai, geminiOnResponses } from '../../../src/gateway/proxy/bridges.js';
import { anthropicToGemini, geminiToAnthropicResponse } from '../../../src/gateway/translate/anthropic-gemini.js';
import { InvalidFieldError, UnsupportedFieldError } from '../../../src/gateway/translate/errors.js';
import { anthropicToGeminiResponse, geminiToAnthropic } from '../../../src/gateway/translate/gemini-anthropic.js';
import { geminiToOpenaiChat, jsonSchemaOf, openaiChatToGeminiResponse } from '../../../src/gateway/translate/gemini-openai.js';
import { geminiToResponses } from '../../../src/gateway/translate/gemini-responses.js';
import type { Operation } from '../../../src/gateway/types.js';
import type { AnthropicRequest, AnthropicResponse } from '../../../src/gateway/translate/wire/anthropic.js';
import type { OpenAIChatResponse } from '../../../src/gateway/translate/wire/openai.js';

/**
 * The cross-dialect bridges of docs/bridges.md that involve Gemini on one side and are not the
 * OpenAI chat client's: Gemini clients on chat / Anthropic / Responses upstreams, Anthropic
 * clients on Gemini upstreams. Requests, whole responses, refusals and the choice rule.
 */

const opts = { upstreamModel: 'up-model', stream: false };
const PNG = 'iVBORw0KGgo=';

/** The field a refusal names, or a failure when the call did not refuse. */
function refusedField(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof UnsupportedFieldError || err instanceof InvalidFieldError) return err.field;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('Gemini request → OpenAI chat request (geminiToOpenaiChat)', () => {
  it('maps system instruction, turns, images and generationConfig', () => {
    const chat = geminiToOpenaiChat(
      {
        systemInstruction: { parts: [{ text: 'Be brief.' }, { text: 'Be kind.' }] },
        contents: [
          { role: 'user', parts: [{ text: 'What is this?' }, { inlineData: { mimeType: 'image/png', data: PNG } }] },
          { role: 'model', parts: [{ text: 'thinking…', thought: true }, { text: 'A pixel.' }] },
          { parts: [{ text: 'Thanks' }] },
        ],
        generationConfig: { temperature: 0.3, topP: 0.9, topK: 40, maxOutputTokens: 128, stopSequences: ['END'], presencePenalty: 0.5, seed: 7, responseMimeType: 'application/json' },
        safetySettings: [{ category: 'HARM_CATEGORY_HARASSMENT', threshold: 'BLOCK_NONE' }],
      },
      { upstreamModel: 'gpt-4o', stream: true },
    );
    expect(chat).to.deep.equal({
      model: 'gpt-4o',
      messages: [
        { role: 'system', content: 'Be brief.\nBe kind.' },
        { role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } }] },
        { role: 'assistant', content: 'A pixel.' },
        { role: 'user', content: 'Thanks' },
      ],
      temperature: 0.3,
      top_p: 0.9,
      max_tokens: 128,
      presence_penalty: 0.5,
      seed: 7,
      stop: ['END'],
      response_format: { type: 'json_object' },
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('reads snake_case fields and single objects for repeated fields (proto JSON)', () => {
    const chat = geminiToOpenaiChat(
      {
        system_instruction: { parts: { text: 'Sys' } },
        contents: { role: 'user', parts: [{ inline_data: { mime_type: 'image/jpeg', data: PNG } }, { text: 'hi' }] },
        generation_config: { max_output_tokens: 10, stop_sequences: [] },
      },
      opts,
    );
    expect(chat.messages).to.deep.equal([
      { role: 'system', content: 'Sys' },
      { role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/jpeg;base64,${PNG}` } }, { type: 'text', text: 'hi' }] },
    ]);
    expect(chat).to.include({ max_tokens: 10 });
    expect(chat).to.not.have.property('stop');
  });

  it('maps function calls and responses, matching by id and else by name, results before the turn text', () => {
    const chat = geminiToOpenaiChat(
      {
        contents: [
          { role: 'user', parts: [{ text: 'Weather and time in Paris?' }] },
          {
            role: 'model',
            parts: [
              { functionCall: { name: 'get_weather', args: { city: 'Paris' } }, thoughtSignature: 'sig' },
              { functionCall: { id: 'fc-2', name: 'get_time', args: { tz: 'Europe/Paris' } } },
            ],
          },
          {
            role: 'user',
            parts: [
              { text: 'here you go' },
              { functionResponse: { id: 'fc-2', name: 'get_time', response: { time: '12:00' } } },
              { functionResponse: { name: 'get_weather', response: { temp: 18 } } },
            ],
          },
        ],
        tools: [{ functionDeclarations: [{ name: 'get_weather', description: 'Weather', parameters: { type: 'OBJECT', properties: { city: { type: 'STRING' } } } }, { name: 'get_time' }] }],
        toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_weather'] } },
      },
      opts,
    );
    expect(chat.messages).to.deep.equal([
      { role: 'user', content: 'Weather and time in Paris?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_1_0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          { id: 'fc-2', type: 'function', function: { name: 'get_time', arguments: '{"tz":"Europe/Paris"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'fc-2', content: '{"time":"12:00"}' },
      { role: 'tool', tool_call_id: 'call_1_0', content: '{"temp":18}' },
      { role: 'user', content: 'here you go' },
    ]);
    expect(chat.tools).to.deep.equal([
      { type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
      { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } },
    ]);
    expect(chat.tool_choice).to.deep.equal({ type: 'function', function: { name: 'get_weather' } });
  });

  it('maps the toolConfig modes and JSON schemas', () => {
    const tools = [{ functionDeclarations: [{ name: 'f', parametersJsonSchema: { type: 'object', additionalProperties: false } }] }];
    const choice = (mode: string) => geminiToOpenaiChat({ contents: [{ parts: [{ text: 'x' }] }], tools, toolConfig: { functionCallingConfig: { mode } } }, opts).tool_choice;
    expect([choice('AUTO'), choice('ANY'), choice('NONE')]).to.deep.equal(['auto', 'required', 'none']);
    const withSchema = geminiToOpenaiChat(
      { contents: [{ parts: [{ text: 'x' }] }], tools, generationConfig: { responseMimeType: 'application/json', responseSchema: { type: 'OBJECT', nullable: true, properties: { Type: { type: 'STRING' } }, propertyOrdering: ['Type'] } } },
      opts,
    );
    expect(withSchema.tools?.[0]).to.deep.equal({ type: 'function', function: { name: 'f', parameters: { type: 'object', additionalProperties: false } } });
    expect(withSchema.response_format).to.deep.equal({ type: 'json_schema', json_schema: { name: 'response', schema: { type: ['object', 'null'], properties: { Type: { type: 'string' } } } } });
    expect(jsonSchemaOf({ type: 'ARRAY', items: { type: 'INTEGER' } })).to.deep.equal({ type: 'array', items: { type: 'integer' } });
  });

  const base = { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] };
  const refusals: Array<[string, Record<string, unknown>, string]> = [
    ['missing contents', {}, 'contents'],
    ['contents not an array', { contents: 'hi' }, 'contents'],
    ['an unknown role', { contents: [{ role: 'system', parts: [{ text: 'x' }] }] }, 'contents[0].role'],
    ['a file URI', { contents: [{ parts: [{ fileData: { fileUri: 'gs://x' } }] }] }, 'contents[0].parts[0].fileData'],
    ['a non-image inline part', { contents: [{ parts: [{ inlineData: { mimeType: 'audio/wav', data: 'AAAA' } }] }] }, 'contents[0].parts[0].inlineData.mimeType'],
    ['executable code', { contents: [{ role: 'model', parts: [{ executableCode: { code: '1' } }] }] }, 'contents[0].parts[0].executableCode'],
    ['a response that answers no call', { contents: [{ parts: [{ functionResponse: { name: 'f', response: {} } }] }] }, 'contents[0].parts[0].functionResponse.name'],
    ['function args that are not an object', { contents: [{ role: 'model', parts: [{ functionCall: { name: 'f', args: [1] } }] }] }, 'contents[0].parts[0].functionCall.args'],
    ['two candidates', { ...base, generationConfig: { candidateCount: 2 } }, 'generationConfig.candidateCount'],
    ['a non-number temperature', { ...base, generationConfig: { temperature: 'hot' } }, 'generationConfig.temperature'],
    ['enum output', { ...base, generationConfig: { responseMimeType: 'text/x.enum' } }, 'generationConfig.responseMimeType'],
    ['audio output', { ...base, generationConfig: { responseModalities: ['AUDIO'] } }, 'generationConfig.responseModalities'],
    ['log probabilities', { ...base, generationConfig: { responseLogprobs: true } }, 'generationConfig.responseLogprobs'],
    ['Google Search', { ...base, tools: [{ googleSearch: {} }] }, 'tools[0].googleSearch'],
    ['two allowed functions', { ...base, tools: [{ functionDeclarations: [{ name: 'a' }, { name: 'b' }] }], toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['a', 'b'] } } }, 'toolConfig.functionCallingConfig.allowedFunctionNames'],
    ['a context cache', { ...base, cachedContent: 'cachedContents/abc' }, 'cachedContent'],
  ];
  for (const [what, body, field] of refusals) {
    it(`refuses ${what}, naming ${field}`, () => expect(refusedField(() => geminiToOpenaiChat(body, opts))).to.equal(field));
  }
});

describe('OpenAI chat completion → Gemini response (openaiChatToGeminiResponse)', () => {
  const completion = (message: OpenAIChatResponse['choices'][number]['message'], finish: OpenAIChatResponse['choices'][number]['finish_reason']): OpenAIChatResponse => ({
    id: 'chatcmpl-x',
    object: 'chat.completion',
    created: 1,
    model: 'gpt-4o',
    choices: [{ index: 0, message, finish_reason: finish, logprobs: null }],
    usage: { prompt_tokens: 100, completion_tokens: 30, total_tokens: 130, prompt_tokens_details: { cached_tokens: 64 }, completion_tokens_details: { reasoning_tokens: 10 } },
  });

  it('gives text and function calls as parts, the finish reason and usageMetadata', () => {
    const res = openaiChatToGeminiResponse(
      completion({ role: 'assistant', content: 'Checking.', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] }, 'tool_calls'),
      { model: 'client-model', id: 'req-1' },
    );
    expect(res).to.deep.equal({
      candidates: [
        {
          content: { role: 'model', parts: [{ text: 'Checking.' }, { functionCall: { id: 'call_1', name: 'get_weather', args: { city: 'Paris' } } }] },
          finishReason: 'STOP',
          index: 0,
        },
      ],
      usageMetadata: { promptTokenCount: 100, candidatesTokenCount: 20, thoughtsTokenCount: 10, cachedContentTokenCount: 64, totalTokenCount: 130 },
      modelVersion: 'client-model',
      responseId: 'req-1',
    });
  });

  it('maps length and content_filter, and never sends an empty parts list', () => {
    const long = openaiChatToGeminiResponse(completion({ role: 'assistant', content: 'cut' }, 'length'), { model: 'm', id: 'r' });
    expect(long.candidates?.[0]?.finishReason).to.equal('MAX_TOKENS');
    const filtered = openaiChatToGeminiResponse(completion({ role: 'assistant', content: null }, 'content_filter'), { model: 'm', id: 'r' });
    expect(filtered.candidates?.[0]).to.deep.include({ finishReason: 'SAFETY', content: { role: 'model', parts: [{ text: '' }] } });
  });
});

describe('Anthropic request → Gemini request (anthropicToGemini)', () => {
  const request = (extra: Partial<AnthropicRequest>): AnthropicRequest => ({ model: 'claude-on-gemini', max_tokens: 256, messages: [{ role: 'user', content: 'hi' }], ...extra });

  it('maps system, images, tool_use/tool_result, stop sequences, top_k; drops thinking', () => {
    const req = anthropicToGemini(
      request({
        system: [{ type: 'text', text: 'You are terse.' }],
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'Weather here?' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } }] },
          {
            role: 'assistant',
            content: [
              { type: 'thinking', thinking: 'hmm', signature: 's' },
              { type: 'text', text: 'Let me check.' },
              { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
            ],
          },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '{"temp":18}' }] },
        ],
        tools: [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { city: { type: 'string' } }, additionalProperties: false } }],
        tool_choice: { type: 'any' },
        stop_sequences: ['STOP'],
        temperature: 0.2,
        top_k: 20,
        thinking: { type: 'enabled', budget_tokens: 1024 },
      } as Partial<AnthropicRequest>),
      { upstreamModel: 'gemini-2.5-flash' },
    );
    expect(req).to.deep.equal({
      contents: [
        { role: 'user', parts: [{ text: 'Weather here?' }, { inlineData: { mimeType: 'image/png', data: PNG } }] },
        { role: 'model', parts: [{ text: 'Let me check.' }, { functionCall: { name: 'get_weather', args: { city: 'Paris' } } }] },
        { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { temp: 18 } } }] },
      ],
      systemInstruction: { parts: [{ text: 'You are terse.' }] },
      tools: [{ functionDeclarations: [{ name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }] }],
      toolConfig: { functionCallingConfig: { mode: 'ANY' } },
      generationConfig: { temperature: 0.2, maxOutputTokens: 256, stopSequences: ['STOP'], topK: 20 },
    });
  });

  it('refuses under the client’s own field names', () => {
    const urlImage = request({ messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }, { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } }] }] });
    expect(refusedField(() => anthropicToGemini(urlImage, opts))).to.equal('messages[0].content[1].source');
    const orphan = request({ messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_x', content: 'r' }] }] });
    expect(refusedField(() => anthropicToGemini(orphan, opts))).to.equal('messages[0].content[0].tool_use_id');
    const server = request({ tools: [{ type: 'web_search_20250305', name: 'web_search' }] } as Partial<AnthropicRequest>);
    expect(refusedField(() => anthropicToGemini(server, opts))).to.equal('tools[0].type');
  });

  it('refuses malformed shapes with a 4xx naming the field, never a crash', () => {
    const malformed: Array<[Record<string, unknown>, string]> = [
      [{ messages: [null] }, 'messages[0]'],
      [{ messages: [{ role: 'user', content: [null] }] }, 'messages[0].content[0]'],
      [{ messages: [{ role: 'user', content: [{ type: 'image' }] }] }, 'messages[0].content[0].source'],
      [{ messages: [{ role: 'assistant', content: [{ type: 'tool_use', id: 'a', name: 'f', input: {} }] }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'a', content: 7 }] }] }, 'messages[1].content[0].content'],
      [{ messages: [{ role: 'assistant', content: [{ type: 'tool_use', id: 'a', name: 'f', input: [1] }] }] }, 'messages[0].content[0].input'],
      [{ system: 3 }, 'system'],
      [{ tools: [null] }, 'tools'],
    ];
    for (const [extra, field] of malformed) expect(refusedField(() => anthropicToGemini(request(extra as Partial<AnthropicRequest>), opts)), field).to.equal(field);
  });

  it('adds the thought-signature sentinel for replayed calls on gemini-3 models', () => {
    const req = anthropicToGemini(
      request({
        messages: [
          { role: 'user', content: 'x' },
          { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'f', input: {} }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'ok' }] },
        ],
      }),
      { upstreamModel: 'gemini-3-pro-preview' },
    );
    expect(req.contents[1]?.parts[0]).to.have.property('thoughtSignature');
  });
});

describe('Gemini response → Anthropic response (geminiToAnthropicResponse)', () => {
  it('maps text, function calls (ids seeded by the message id), stop reason and cached usage', () => {
    const res = geminiToAnthropicResponse(
      {
        candidates: [{ content: { role: 'model', parts: [{ text: 'plan', thought: true }, { text: 'Calling.' }, { functionCall: { name: 'get_weather', args: { city: 'Paris' } } }] }, finishReason: 'STOP' }],
        usageMetadata: { promptTokenCount: 120, candidatesTokenCount: 12, thoughtsTokenCount: 8, cachedContentTokenCount: 100 },
      },
      { model: 'claude-on-gemini', id: 'msg_req1' },
    );
    expect(res).to.deep.equal({
      id: 'msg_req1',
      type: 'message',
      role: 'assistant',
      model: 'claude-on-gemini',
      content: [
        { type: 'text', text: 'Calling.' },
        { type: 'tool_use', id: 'call_msg_req1_0', name: 'get_weather', input: { city: 'Paris' } },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 20, output_tokens: 20, cache_creation_input_tokens: 0, cache_read_input_tokens: 100 },
    });
  });

  it('maps MAX_TOKENS and SAFETY, and a blocked prompt', () => {
    const stop = (finishReason: 'MAX_TOKENS' | 'SAFETY') => geminiToAnthropicResponse({ candidates: [{ content: { parts: [{ text: 'x' }] }, finishReason }] }, { model: 'm', id: 'msg_1' }).stop_reason;
    expect([stop('MAX_TOKENS'), stop('SAFETY')]).to.deep.equal(['max_tokens', 'refusal']);
    expect(geminiToAnthropicResponse({ promptFeedback: { blockReason: 'SAFETY' } }, { model: 'm', id: 'msg_1' })).to.deep.include({ content: [], stop_reason: 'refusal' });
  });
});

describe('Gemini request → Anthropic request (geminiToAnthropic)', () => {
  const anth = { upstreamModel: 'claude-sonnet-4-5', stream: false, defaultMaxTokens: 4096 };

  it('maps a tool round trip with matching ids, the default max_tokens and topK', () => {
    const req = geminiToAnthropic(
      {
        systemInstruction: { parts: [{ text: 'Sys' }] },
        contents: [
          { role: 'user', parts: [{ text: 'Weather?' }] },
          { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } } }] },
          { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { temp: 18 } } }] },
        ],
        tools: [{ functionDeclarations: [{ name: 'get_weather', parameters: { type: 'OBJECT', properties: { city: { type: 'STRING' } } } }] }],
        generationConfig: { topK: 5, stopSequences: ['END'] },
      },
      anth,
    );
    expect(req).to.deep.equal({
      model: 'claude-sonnet-4-5',
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Weather?' }] },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'call_1_0', name: 'get_weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_1_0', content: '{"temp":18}' }] },
      ],
      max_tokens: 4096,
      system: 'Sys',
      stop_sequences: ['END'],
      tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
      top_k: 5,
    });
    expect(geminiToAnthropic({ contents: [{ parts: [{ text: 'x' }] }] }, { ...anth, stream: true })).to.include({ stream: true });
  });

  it('names the Gemini field when the Anthropic step refuses', () => {
    const base = { contents: [{ parts: [{ text: 'x' }] }] };
    expect(refusedField(() => geminiToAnthropic({ ...base, generationConfig: { temperature: 1.5 } }, anth))).to.equal('generationConfig.temperature');
    expect(refusedField(() => geminiToAnthropic({ ...base, generationConfig: { responseMimeType: 'application/json' } }, anth))).to.equal('generationConfig.responseMimeType');
    expect(refusedField(() => geminiToAnthropic({ ...base, generationConfig: { frequencyPenalty: 0.5 } }, anth))).to.equal('generationConfig.frequencyPenalty');
  });

  it('maps an Anthropic answer back to a Gemini response', () => {
    const answer: AnthropicResponse = {
      id: 'msg_up',
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5',
      content: [
        { type: 'thinking', thinking: 'x', signature: 's' },
        { type: 'text', text: 'Sure.' },
        { type: 'tool_use', id: 'toolu_9', name: 'f', input: { a: 1 } },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 30, cache_creation_input_tokens: 2 },
    } as AnthropicResponse;
    expect(anthropicToGeminiResponse(answer, { model: 'gem', id: 'req-2' })).to.deep.equal({
      candidates: [{ content: { role: 'model', parts: [{ text: 'Sure.' }, { functionCall: { id: 'toolu_9', name: 'f', args: { a: 1 } } }] }, finishReason: 'STOP', index: 0 }],
      usageMetadata: { promptTokenCount: 42, candidatesTokenCount: 5, cachedContentTokenCount: 30, totalTokenCount: 47 },
      modelVersion: 'gem',
      responseId: 'req-2',
    });
  });
});

describe('Gemini request → Responses request (geminiToResponses)', () => {
  it('maps through the chat request and names Gemini fields in refusals', () => {
    const req = geminiToResponses({ contents: [{ parts: [{ text: 'hi' }] }], generationConfig: { maxOutputTokens: 50 } }, { upstreamModel: 'gpt-5-codex', stream: true, defaultInstructions: 'Default.' });
    expect(req).to.deep.include({ model: 'gpt-5-codex', instructions: 'Default.', max_output_tokens: 50, stream: true });
    expect(req.input).to.deep.equal([{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] }]);
    expect(refusedField(() => geminiToResponses({ contents: [{ parts: [{ text: 'x' }] }], generationConfig: { stopSequences: ['x'] } }, { upstreamModel: 'm', stream: false }))).to.equal(
      'generationConfig.stopSequences',
    );
  });
});

describe('bridgeFor: the Gemini and Anthropic cross bridges', () => {
  const on = { dp_claude_cross_upstream: 'true', dp_gemini_cross_upstream: 'true' };
  const off = { dp_claude_cross_upstream: 'false', dp_gemini_cross_upstream: 'false' };
  const openaiOps = new Set<Operation>(['chat', 'completions', 'embeddings', 'responses']);
  const openai = (op: Operation) => openaiOps.has(op);
  const codex = (op: Operation) => op === 'responses';

  it('Gemini clients reach OpenAI, Anthropic and Responses-only upstreams only with dp_gemini_cross_upstream on', () => {
    for (const op of ['generate_content', 'stream_generate_content'] as const) {
      expect(bridgeFor(op, 'gemini', 'openai', on, openai)).to.equal(geminiOnOpenai);
      expect(bridgeFor(op, 'gemini', 'anthropic', on)).to.equal(geminiOnAnthropic);
      expect(bridgeFor(op, 'gemini', 'openai', on, codex)).to.equal(geminiOnResponses);
      expect(bridgeFor(op, 'gemini', 'openai', off, openai)).to.equal(undefined);
      expect(bridgeFor(op, 'gemini', 'anthropic', off)).to.equal(undefined);
      expect(bridgeFor(op, 'gemini', 'anthropic', { dp_claude_cross_upstream: 'true' })).to.equal(undefined);
    }
    expect(geminiOnOpenai.upstreamOp(true)).to.equal('chat');
    expect(geminiOnAnthropic.upstreamOp(true)).to.equal('messages');
  });

  it('Anthropic clients reach Gemini upstreams only with dp_claude_cross_upstream on', () => {
    expect(bridgeFor('messages', 'anthropic', 'gemini', { dp_claude_cross_upstream: 'true' })).to.equal(anthropicOnGemini);
    expect(bridgeFor('messages', 'anthropic', 'gemini', { dp_gemini_cross_upstream: 'true' })).to.equal(undefined);
    expect([anthropicOnGemini.upstreamOp(false), anthropicOnGemini.upstreamOp(true)]).to.deep.equal(['generate_content', 'stream_generate_content']);
  });

  it('count_tokens and embeddings stay same-dialect', () => {
    expect(bridgeFor('count_tokens', 'anthropic', 'gemini', on)).to.equal(undefined);
    expect(bridgeFor('count_tokens', 'anthropic', 'openai', on, openai)).to.equal(undefined);
    expect(bridgeFor('embeddings', 'openai', 'gemini', on)).to.equal(undefined);
  });
});
