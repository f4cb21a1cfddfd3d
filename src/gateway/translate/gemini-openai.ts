import { InvalidFieldError, UnsupportedFieldError } from './errors.js';
import { isJsonObject, parseToolArguments, type JsonObject } from './json.js';
import type { GeminiFinishReason, GeminiPart, GeminiResponse, GeminiUsageMetadata } from './wire/gemini.js';
import type {
  OpenAIChatRequest,
  OpenAIChatResponse,
  OpenAIFinishReason,
  OpenAIFunctionTool,
  OpenAIImagePart,
  OpenAIMessage,
  OpenAIResponseFormat,
  OpenAITextPart,
  OpenAIToolCall,
  OpenAIToolChoice,
  OpenAIUsage,
} from './wire/openai.js';

/**
 * A Gemini-format client (generateContent / streamGenerateContent) on an OpenAI-style upstream:
 * the GenerateContentRequest becomes a chat request, and the chat completion becomes a
 * GenerateContentResponse. The Anthropic upstream composes this with openai-anthropic.ts
 * (gemini-anthropic.ts); the stream mapping lives in openai-to-gemini.stream.ts.
 *
 * Gemini's REST surface is proto JSON: every field is read in camelCase or snake_case
 * (`systemInstruction` / `system_instruction`), and a repeated field may be a single object.
 * Refusals name the field in camelCase (`contents[2].parts[0].fileData`).
 */

export interface GeminiToOpenaiChatOptions {
  upstreamModel: string;
  stream: boolean;
}

/** `fooBar` → `foo_bar`. */
const snake = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** A field read in camelCase, else in snake_case (proto JSON accepts both). */
function field(obj: JsonObject, name: string): unknown {
  return obj[name] !== undefined ? obj[name] : obj[snake(name)];
}

/** A repeated field: an array, a single object (proto JSON accepts it), or absent. */
function list(value: unknown, at: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value;
  if (isJsonObject(value)) return [value];
  throw new InvalidFieldError(at, 'must be an array');
}

function object(value: unknown, at: string): JsonObject {
  if (!isJsonObject(value)) throw new InvalidFieldError(at, 'must be an object');
  return value;
}

function optionalNumber(obj: JsonObject, name: string, at: string): number | undefined {
  const value = field(obj, name);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new InvalidFieldError(`${at}.${name}`, 'must be a number');
  return value;
}

function requiredString(obj: JsonObject, name: string, at: string): string {
  const value = field(obj, name);
  if (typeof value !== 'string' || value === '') throw new InvalidFieldError(`${at}.${name}`, 'must be a non-empty string');
  return value;
}

/** Part keys that carry something this translation cannot send to a chat upstream. */
const REFUSED_PARTS: ReadonlyArray<[string, string]> = [
  ['fileData', 'Gemini file URIs can only be read by a Gemini upstream; send the data inline'],
  ['executableCode', 'code execution is only available from a Gemini upstream'],
  ['codeExecutionResult', 'code execution is only available from a Gemini upstream'],
];

/** A function call of an earlier model turn, for matching the functionResponse that answers it. */
interface PendingCall {
  id: string;
  name: string;
  answered: boolean;
}

/**
 * Gemini GenerateContentRequest → OpenAI chat request.
 * - `systemInstruction` → a leading system message; `contents` role `user` (or the legacy
 *   `function`) → user side, `model` → assistant.
 * - text parts → text; `inlineData` images → `image_url` data URLs; `thought` parts of model
 *   turns are dropped (earlier reasoning is not replayed).
 * - `functionCall` parts → `tool_calls` (id: the part's own `id`, else `call_<turn>_<part>`);
 *   `functionResponse` parts → `tool` messages (content: the JSON `response`), matched to the call
 *   by `id`, else by name (first unanswered call of that name), and placed before the turn's text.
 * - `generationConfig`: temperature, topP, maxOutputTokens → max_tokens, stopSequences → stop,
 *   presencePenalty, frequencyPenalty, seed; responseMimeType `application/json` →
 *   response_format `json_object`, or `json_schema` when responseJsonSchema / responseSchema is set.
 * - `tools[].functionDeclarations` → function tools; `toolConfig.functionCallingConfig` → tool_choice.
 * Dropped: safetySettings (the upstream's own moderation applies), topK (no chat counterpart),
 * thinkingConfig, mediaResolution, labels. Refused: see GEMINI_REFUSALS and the part/tool checks.
 */
export function geminiToOpenaiChat(body: JsonObject, options: GeminiToOpenaiChatOptions): OpenAIChatRequest {
  refuseUnsupported(body);
  const messages: OpenAIMessage[] = [];
  const system = field(body, 'systemInstruction');
  if (system !== undefined && system !== null) {
    const text = systemText(system);
    if (text !== '') messages.push({ role: 'system', content: text });
  }

  const contents = field(body, 'contents');
  if (!Array.isArray(contents) && !isJsonObject(contents)) throw new InvalidFieldError('contents', 'must be an array');
  const pending: PendingCall[] = [];
  list(contents, 'contents').forEach((raw, i) => {
    const at = `contents[${i}]`;
    const content = object(raw, at);
    const role = field(content, 'role') ?? 'user';
    const parts = list(field(content, 'parts'), `${at}.parts`);
    if (role === 'model') messages.push(...modelMessage(parts, `${at}.parts`, i, pending));
    else if (role === 'user' || role === 'function') messages.push(...userMessages(parts, `${at}.parts`, pending));
    else throw new InvalidFieldError(`${at}.role`, `must be "user" or "model", got ${JSON.stringify(role)}`);
  });
  if (messages.every((m) => m.role === 'system')) throw new InvalidFieldError('contents', 'must hold at least one turn');

  const req: OpenAIChatRequest = { model: options.upstreamModel, messages };
  applyGenerationConfig(req, field(body, 'generationConfig'));
  applyTools(req, body);
  if (options.stream) {
    req.stream = true;
    req.stream_options = { include_usage: true };
  }
  return req;
}

function refuseUnsupported(body: JsonObject): void {
  const cached = field(body, 'cachedContent');
  if (typeof cached === 'string' && cached !== '') throw new UnsupportedFieldError('cachedContent', 'Gemini context caches can only be used by a Gemini upstream');
}

function systemText(system: unknown): string {
  if (typeof system === 'string') return system;
  const content = object(system, 'systemInstruction');
  return list(field(content, 'parts'), 'systemInstruction.parts')
    .map((raw, j) => {
      const at = `systemInstruction.parts[${j}]`;
      const text = field(object(raw, at), 'text');
      if (typeof text !== 'string') throw new UnsupportedFieldError(at, 'only text parts are allowed in systemInstruction');
      return text;
    })
    .join('\n');
}

function refusePart(part: JsonObject, at: string): void {
  for (const [name, reason] of REFUSED_PARTS) if (field(part, name) !== undefined) throw new UnsupportedFieldError(`${at}.${name}`, reason);
}

function modelMessage(parts: unknown[], at: string, turn: number, pending: PendingCall[]): OpenAIMessage[] {
  let text = '';
  const toolCalls: OpenAIToolCall[] = [];
  parts.forEach((raw, j) => {
    const partAt = `${at}[${j}]`;
    const part = object(raw, partAt);
    refusePart(part, partAt);
    if (field(part, 'thought') === true) return; // earlier reasoning is not replayed
    const call = field(part, 'functionCall');
    if (call !== undefined) {
      const fn = object(call, `${partAt}.functionCall`);
      const name = requiredString(fn, 'name', `${partAt}.functionCall`);
      const args = field(fn, 'args') ?? {};
      if (!isJsonObject(args)) throw new InvalidFieldError(`${partAt}.functionCall.args`, 'must be an object');
      const given = field(fn, 'id');
      const id = typeof given === 'string' && given !== '' ? given : `call_${turn}_${j}`;
      pending.push({ id, name, answered: false });
      toolCalls.push({ id, type: 'function', function: { name, arguments: JSON.stringify(args) } });
      return;
    }
    const value = field(part, 'text');
    if (typeof value === 'string') {
      text += value;
      return;
    }
    if (field(part, 'inlineData') !== undefined) throw new UnsupportedFieldError(`${partAt}.inlineData`, 'model turns can only carry text and function calls to this upstream');
    if (field(part, 'functionResponse') !== undefined) throw new InvalidFieldError(`${partAt}.functionResponse`, 'function responses belong in a user turn');
    // Parts with only metadata (thoughtSignature, videoMetadata) carry nothing to send.
  });
  if (text === '' && toolCalls.length === 0) return [];
  return [{ role: 'assistant', content: text === '' ? null : text, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}) }];
}

/** A user turn: its function responses first (tool messages answer the previous model turn), then its text and images. */
function userMessages(parts: unknown[], at: string, pending: PendingCall[]): OpenAIMessage[] {
  const tools: OpenAIMessage[] = [];
  const content: Array<OpenAITextPart | OpenAIImagePart> = [];
  parts.forEach((raw, j) => {
    const partAt = `${at}[${j}]`;
    const part = object(raw, partAt);
    refusePart(part, partAt);
    const response = field(part, 'functionResponse');
    if (response !== undefined) {
      tools.push(toolMessage(object(response, `${partAt}.functionResponse`), `${partAt}.functionResponse`, pending));
      return;
    }
    const text = field(part, 'text');
    if (typeof text === 'string') {
      // Empty text says nothing (and an Anthropic upstream refuses empty text blocks).
      if (text !== '') content.push({ type: 'text', text });
      return;
    }
    const inline = field(part, 'inlineData');
    if (inline !== undefined) {
      content.push(imagePart(object(inline, `${partAt}.inlineData`), `${partAt}.inlineData`));
      return;
    }
    if (field(part, 'functionCall') !== undefined) throw new InvalidFieldError(`${partAt}.functionCall`, 'function calls belong in a model turn');
  });
  if (content.length === 0) return tools;
  const only = content[0];
  const user: OpenAIMessage = content.length === 1 && only?.type === 'text' ? { role: 'user', content: only.text } : { role: 'user', content };
  return [...tools, user];
}

function toolMessage(response: JsonObject, at: string, pending: PendingCall[]): OpenAIMessage {
  const name = requiredString(response, 'name', at);
  const id = field(response, 'id');
  const call =
    (typeof id === 'string' && id !== '' ? pending.find((c) => !c.answered && c.id === id) : undefined) ?? pending.find((c) => !c.answered && c.name === name);
  if (!call) throw new InvalidFieldError(`${at}.name`, 'does not answer a functionCall of an earlier model turn');
  call.answered = true;
  const result = field(response, 'response') ?? {};
  if (!isJsonObject(result)) throw new InvalidFieldError(`${at}.response`, 'must be an object');
  return { role: 'tool', tool_call_id: call.id, content: JSON.stringify(result) };
}

function imagePart(inline: JsonObject, at: string): OpenAIImagePart {
  const mime = field(inline, 'mimeType');
  const data = field(inline, 'data');
  if (typeof mime !== 'string' || mime === '') throw new InvalidFieldError(`${at}.mimeType`, 'must be a non-empty string');
  if (typeof data !== 'string' || data === '') throw new InvalidFieldError(`${at}.data`, 'must be base64 data');
  if (!/^image\//i.test(mime)) throw new UnsupportedFieldError(`${at}.mimeType`, `only images can be sent to this upstream, got "${mime}"`);
  return { type: 'image_url', image_url: { url: `data:${mime};base64,${data}` } };
}

/** generationConfig fields the chat dialect cannot honour; dropping them would change the answer. */
function refuseGeneration(config: JsonObject): void {
  const at = 'generationConfig';
  const count = field(config, 'candidateCount');
  if (count !== undefined && count !== null && count !== 1) throw new UnsupportedFieldError(`${at}.candidateCount`, 'only one candidate can be generated by this upstream');
  if (field(config, 'responseLogprobs') === true) throw new UnsupportedFieldError(`${at}.responseLogprobs`, 'log probabilities are not available from this upstream');
  const logprobs = field(config, 'logprobs');
  if (logprobs !== undefined && logprobs !== null && logprobs !== 0) throw new UnsupportedFieldError(`${at}.logprobs`, 'log probabilities are not available from this upstream');
  const modalities = field(config, 'responseModalities');
  if (Array.isArray(modalities) && modalities.some((m) => String(m).toUpperCase() !== 'TEXT')) {
    throw new UnsupportedFieldError(`${at}.responseModalities`, 'only text output is available from this upstream');
  }
  if (field(config, 'speechConfig') !== undefined) throw new UnsupportedFieldError(`${at}.speechConfig`, 'audio output is not available from this upstream');
}

function applyGenerationConfig(req: OpenAIChatRequest, raw: unknown): void {
  if (raw === undefined || raw === null) return;
  const at = 'generationConfig';
  const config = object(raw, at);
  refuseGeneration(config);
  const temperature = optionalNumber(config, 'temperature', at);
  if (temperature !== undefined) req.temperature = temperature;
  const topP = optionalNumber(config, 'topP', at);
  if (topP !== undefined) req.top_p = topP;
  const max = optionalNumber(config, 'maxOutputTokens', at);
  if (max !== undefined) req.max_tokens = max;
  const presence = optionalNumber(config, 'presencePenalty', at);
  if (presence !== undefined && presence !== 0) req.presence_penalty = presence;
  const frequency = optionalNumber(config, 'frequencyPenalty', at);
  if (frequency !== undefined && frequency !== 0) req.frequency_penalty = frequency;
  const seed = optionalNumber(config, 'seed', at);
  if (seed !== undefined) req.seed = seed;
  const stop = field(config, 'stopSequences');
  if (stop !== undefined && stop !== null) {
    if (!Array.isArray(stop) || !stop.every((s): s is string => typeof s === 'string')) throw new InvalidFieldError(`${at}.stopSequences`, 'must be an array of strings');
    if (stop.length > 0) req.stop = stop;
  }
  const format = responseFormat(config);
  if (format) req.response_format = format;
}

function responseFormat(config: JsonObject): OpenAIResponseFormat | undefined {
  const mime = field(config, 'responseMimeType');
  if (mime === undefined || mime === null || mime === '' || mime === 'text/plain') return undefined;
  if (mime !== 'application/json') throw new UnsupportedFieldError('generationConfig.responseMimeType', `only "text/plain" and "application/json" can be sent to this upstream, got ${JSON.stringify(mime)}`);
  const jsonSchema = field(config, 'responseJsonSchema');
  const schema = field(config, 'responseSchema');
  if (isJsonObject(jsonSchema)) return { type: 'json_schema', json_schema: { name: 'response', schema: jsonSchema } };
  if (isJsonObject(schema)) return { type: 'json_schema', json_schema: { name: 'response', schema: jsonSchemaOf(schema) as Record<string, unknown> } };
  return { type: 'json_object' };
}

/**
 * Gemini's OpenAPI-subset schema → JSON Schema: `type` names lower-cased (`OBJECT` → `object`),
 * `nullable: true` → a `"null"` type alternative, Gemini-only `propertyOrdering` dropped; property
 * names are kept as they are, at every depth.
 */
export function jsonSchemaOf(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(jsonSchemaOf);
  if (!isJsonObject(schema)) return schema;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'nullable' || key === 'propertyOrdering') continue;
    if (key === 'type' && typeof value === 'string') out.type = value.toLowerCase();
    else if (key === 'properties' && isJsonObject(value)) out.properties = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, jsonSchemaOf(sub)]));
    else out[key] = jsonSchemaOf(value);
  }
  if (schema.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  return out;
}

function applyTools(req: OpenAIChatRequest, body: JsonObject): void {
  const tools: OpenAIFunctionTool[] = [];
  list(field(body, 'tools'), 'tools').forEach((raw, i) => {
    const at = `tools[${i}]`;
    const tool = object(raw, at);
    for (const key of Object.keys(tool)) {
      if (key !== 'functionDeclarations' && key !== 'function_declarations') throw new UnsupportedFieldError(`${at}.${key}`, 'only functionDeclarations can be sent to this upstream');
    }
    list(field(tool, 'functionDeclarations'), `${at}.functionDeclarations`).forEach((rawDecl, j) => {
      const declAt = `${at}.functionDeclarations[${j}]`;
      const decl = object(rawDecl, declAt);
      const name = requiredString(decl, 'name', declAt);
      const description = field(decl, 'description');
      const jsonSchema = field(decl, 'parametersJsonSchema');
      const schema = field(decl, 'parameters');
      const parameters = isJsonObject(jsonSchema) ? jsonSchema : isJsonObject(schema) ? (jsonSchemaOf(schema) as Record<string, unknown>) : { type: 'object', properties: {} };
      tools.push({ type: 'function', function: { name, ...(typeof description === 'string' ? { description } : {}), parameters } });
    });
  });
  if (tools.length === 0) return;
  req.tools = tools;
  const config = field(body, 'toolConfig');
  const choice = config === undefined || config === null ? undefined : toolChoice(object(config, 'toolConfig'));
  if (choice) req.tool_choice = choice;
}

function toolChoice(config: JsonObject): OpenAIToolChoice | undefined {
  const calling = field(config, 'functionCallingConfig');
  if (calling === undefined || calling === null) return undefined;
  const at = 'toolConfig.functionCallingConfig';
  const fcc = object(calling, at);
  const mode = field(fcc, 'mode') ?? 'AUTO';
  const names = field(fcc, 'allowedFunctionNames');
  const allowed = names === undefined || names === null ? [] : names;
  if (!Array.isArray(allowed) || !allowed.every((n): n is string => typeof n === 'string')) throw new InvalidFieldError(`${at}.allowedFunctionNames`, 'must be an array of strings');
  if (allowed.length > 0 && !(mode === 'ANY' && allowed.length === 1)) {
    throw new UnsupportedFieldError(`${at}.allowedFunctionNames`, 'only one allowed function, with mode "ANY", can be sent to this upstream');
  }
  switch (mode) {
    case 'AUTO':
    case 'MODE_UNSPECIFIED':
      return 'auto';
    case 'NONE':
      return 'none';
    case 'ANY':
      return allowed.length === 1 ? { type: 'function', function: { name: allowed[0] ?? '' } } : 'required';
    default:
      throw new UnsupportedFieldError(`${at}.mode`, `only "AUTO", "ANY" and "NONE" can be sent to this upstream, got ${JSON.stringify(mode)}`);
  }
}

/** Intermediate chat fields a later translation step may refuse → the Gemini field the client sent. */
const GEMINI_FIELDS: Readonly<Record<string, string>> = {
  temperature: 'generationConfig.temperature',
  top_p: 'generationConfig.topP',
  presence_penalty: 'generationConfig.presencePenalty',
  frequency_penalty: 'generationConfig.frequencyPenalty',
  response_format: 'generationConfig.responseMimeType',
  stop: 'generationConfig.stopSequences',
  seed: 'generationConfig.seed',
  max_tokens: 'generationConfig.maxOutputTokens',
  tool_choice: 'toolConfig.functionCallingConfig',
};

/**
 * The Gemini name of a field of the chat request geminiToOpenaiChat built, for refusals of the
 * next step of a composed bridge (messages → `contents`, tools → `tools`: their indexes differ).
 */
export function geminiFieldOf(chatField: string): string | undefined {
  const root = /^[a-z_]+/.exec(chatField)?.[0] ?? chatField;
  if (Object.hasOwn(GEMINI_FIELDS, root)) return GEMINI_FIELDS[root];
  if (root === 'messages') return 'contents';
  if (root === 'tools') return 'tools';
  return undefined;
}

/** OpenAI finish_reason → Gemini finishReason (a call of functions is STOP, as Gemini reports it). */
export function openaiFinishToGemini(reason: OpenAIFinishReason | null | undefined): GeminiFinishReason {
  switch (reason) {
    case 'length':
      return 'MAX_TOKENS';
    case 'content_filter':
      return 'SAFETY';
    default:
      return 'STOP';
  }
}

/** OpenAI usage → Gemini usageMetadata (promptTokenCount includes the cached part, as both count it). */
export function usageToGemini(u: OpenAIUsage): GeminiUsageMetadata {
  const prompt = u.prompt_tokens ?? 0;
  const completion = u.completion_tokens ?? 0;
  const reasoning = Math.min(completion, u.completion_tokens_details?.reasoning_tokens ?? 0);
  const cached = u.prompt_tokens_details?.cached_tokens ?? 0;
  return {
    promptTokenCount: prompt,
    candidatesTokenCount: completion - reasoning,
    ...(reasoning > 0 ? { thoughtsTokenCount: reasoning } : {}),
    ...(cached > 0 ? { cachedContentTokenCount: cached } : {}),
    totalTokenCount: prompt + completion,
  };
}

/** A chat tool call as a Gemini functionCall part (malformed arguments: the call is kept, its arguments lost). */
export function functionCallPart(call: { id?: string | undefined; name: string; arguments: string }): GeminiPart {
  return { functionCall: { ...(call.id ? { id: call.id } : {}), name: call.name, args: parseToolArguments(call.arguments) ?? {} } };
}

export interface OpenaiToGeminiResponseOptions {
  /** The model name the client asked for (`modelVersion`). */
  model: string;
  /** `responseId`. */
  id: string;
}

/** OpenAI chat completion → Gemini GenerateContentResponse (first choice). */
export function openaiChatToGeminiResponse(res: OpenAIChatResponse, options: OpenaiToGeminiResponseOptions): GeminiResponse {
  const choice = res.choices?.[0];
  const message = choice?.message;
  const parts: GeminiPart[] = [];
  const text = message?.content ?? message?.refusal ?? '';
  if (text !== '') parts.push({ text });
  for (const call of message?.tool_calls ?? []) parts.push(functionCallPart({ id: call.id, name: call.function.name, arguments: call.function.arguments }));
  if (parts.length === 0) parts.push({ text: '' });
  return {
    candidates: [{ content: { role: 'model', parts }, finishReason: openaiFinishToGemini(choice?.finish_reason), index: 0 }],
    usageMetadata: usageToGemini(res.usage ?? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }),
    modelVersion: options.model,
    responseId: options.id,
  };
}
