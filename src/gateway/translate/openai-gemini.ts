import type { Usage } from '../types.js';
import { InvalidFieldError, UnsupportedFieldError } from './errors.js';
import { isJsonObject, parseDataUrl, parseToolArguments, tryParseJson } from './json.js';
import { COMMON_REFUSALS, applyRefusals, assistantText, checkMessages, maxTokensOf, stopList, textOf } from './openai-request.js';
import { usageFromGemini, usageToOpenai } from './usage.js';
import type {
  GeminiCandidate,
  GeminiContent,
  GeminiFinishReason,
  GeminiFunctionDeclaration,
  GeminiGenerationConfig,
  GeminiPart,
  GeminiRequest,
  GeminiResponse,
  GeminiToolConfig,
} from './wire/gemini.js';
import type {
  OpenAIChatRequest,
  OpenAIChatResponse,
  OpenAIFinishReason,
  OpenAIToolCall,
  OpenAIToolChoice,
  OpenAIUserPart,
} from './wire/openai.js';

/**
 * An OpenAI-format client on a Gemini upstream (generateContent / streamGenerateContent?alt=sse).
 * The model travels in the URL, not the body. The stream mapping lives in gemini-to-openai.stream.ts.
 */

export interface OpenaiChatToGeminiOptions {
  /**
   * The upstream model. Gemini 3 refuses replayed function calls without the thought signature
   * OpenAI history cannot carry; for `gemini-3*` models the first functionCall of each model turn
   * gets Google's documented `skip_thought_signature_validator` sentinel.
   */
  upstreamModel?: string;
}

/** Google's documented stand-in for a thought signature lost from replayed history. */
export const SKIP_THOUGHT_SIGNATURE = 'skip_thought_signature_validator';

const GEMINI_REFUSALS = [
  ...COMMON_REFUSALS,
  {
    field: 'response_format',
    refuse: (v: unknown) => isJsonObject(v) && v.type === 'json_schema',
    reason: 'JSON-schema output is not available from a Gemini upstream; use {"type":"json_object"}',
  },
] as const;

/**
 * OpenAI chat request → Gemini GenerateContentRequest. system/developer → systemInstruction;
 * user → role "user", assistant → role "model"; tool results → functionResponse parts in a user
 * turn (the function name is looked up from the assistant tool call they answer).
 * Dropped on purpose: store, service_tier, metadata, user, reasoning_effort, stream_options.
 * Refused: n > 1, logprobs, logit_bias, audio, json_schema response_format, http(s) image URLs
 * (Gemini reads only inline data or its own file URIs), non-function tools.
 */
export function openaiChatToGemini(body: OpenAIChatRequest, options: OpenaiChatToGeminiOptions = {}): GeminiRequest {
  applyRefusals(body, GEMINI_REFUSALS);
  const messages = checkMessages(body);
  const sentinel = /^(models\/)?gemini-3/i.test(options.upstreamModel ?? '');
  const system: string[] = [];
  const contents: GeminiContent[] = [];
  const toolNames = new Map<string, string>();

  const append = (role: 'user' | 'model', parts: GeminiPart[]): void => {
    if (parts.length === 0) return;
    const last = contents[contents.length - 1];
    if (last && last.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  };

  messages.forEach((m, i) => {
    const at = `messages[${i}]`;
    switch (m.role) {
      case 'system':
      case 'developer':
        system.push(textOf(m.content, `${at}.content`));
        return;
      case 'user':
        append('user', userParts(m.content, `${at}.content`));
        return;
      case 'assistant': {
        if (m.function_call) throw new UnsupportedFieldError(`${at}.function_call`, 'use tool_calls');
        const parts: GeminiPart[] = [];
        const text = assistantText(m.content);
        if (text !== '') parts.push({ text });
        (m.tool_calls ?? []).forEach((call, j) => {
          const field = `${at}.tool_calls[${j}]`;
          const args = parseToolArguments(call.function.arguments);
          if (!args) throw new InvalidFieldError(`${field}.function.arguments`, 'must be a JSON object');
          toolNames.set(call.id, call.function.name);
          const part: GeminiPart = { functionCall: { name: call.function.name, args } };
          if (sentinel && j === 0) part.thoughtSignature = SKIP_THOUGHT_SIGNATURE;
          parts.push(part);
        });
        append('model', parts);
        return;
      }
      case 'tool': {
        const name = toolNames.get(m.tool_call_id);
        if (name === undefined) throw new InvalidFieldError(`${at}.tool_call_id`, 'does not match a tool call of an earlier assistant message');
        const text = textOf(m.content, `${at}.content`);
        const parsed = tryParseJson(text);
        // functionResponse.response must be an object: JSON objects go as they are, anything else is wrapped.
        const response = isJsonObject(parsed) ? parsed : { content: parsed ?? text };
        append('user', [{ functionResponse: { name, response } }]);
        return;
      }
      case 'function':
        throw new UnsupportedFieldError(`${at}.role`, 'role "function" is deprecated; use role "tool"');
      default:
        throw new InvalidFieldError(`${at}.role`, `unknown role "${String((m as { role?: unknown }).role)}"`);
    }
  });

  const req: GeminiRequest = { contents };
  if (system.length > 0) req.systemInstruction = { parts: [{ text: system.join('\n\n') }] };

  const declarations = body.tools?.map((tool, i): GeminiFunctionDeclaration => {
    if (tool.type !== 'function') throw new UnsupportedFieldError(`tools[${i}].type`, `only function tools can be sent, got "${tool.type}"`);
    const d: GeminiFunctionDeclaration = { name: tool.function.name };
    if (tool.function.description !== undefined) d.description = tool.function.description;
    if (tool.function.parameters !== undefined) d.parameters = geminiSchema(tool.function.parameters) as Record<string, unknown>;
    return d;
  });
  if (declarations && declarations.length > 0) {
    req.tools = [{ functionDeclarations: declarations }];
    const config = toolConfig(body.tool_choice);
    if (config) req.toolConfig = config;
  }

  const gen: GeminiGenerationConfig = {};
  if (typeof body.temperature === 'number') gen.temperature = body.temperature;
  if (typeof body.top_p === 'number') gen.topP = body.top_p;
  const max = maxTokensOf(body);
  if (max !== undefined) gen.maxOutputTokens = max;
  const stop = stopList(body.stop);
  if (stop) gen.stopSequences = stop;
  if (typeof body.presence_penalty === 'number' && body.presence_penalty !== 0) gen.presencePenalty = body.presence_penalty;
  if (typeof body.frequency_penalty === 'number' && body.frequency_penalty !== 0) gen.frequencyPenalty = body.frequency_penalty;
  if (typeof body.seed === 'number') gen.seed = body.seed;
  if (body.response_format?.type === 'json_object') gen.responseMimeType = 'application/json';
  if (Object.keys(gen).length > 0) req.generationConfig = gen;
  return req;
}

function userParts(content: string | OpenAIUserPart[], field: string): GeminiPart[] {
  if (typeof content === 'string') return [{ text: content }];
  if (!Array.isArray(content)) throw new InvalidFieldError(field, 'must be a string or an array of parts');
  return content.map((part, j): GeminiPart => {
    const at = `${field}[${j}]`;
    if (part.type === 'text') return { text: part.text };
    if (part.type === 'image_url') {
      const data = parseDataUrl(part.image_url.url);
      if (!data) throw new UnsupportedFieldError(`${at}.image_url.url`, 'a Gemini upstream takes images as base64 data: URLs only');
      return { inlineData: { mimeType: data.mediaType, data: data.data } };
    }
    throw new UnsupportedFieldError(`${at}.type`, `"${part.type}" parts cannot be sent to a Gemini upstream`);
  });
}

function toolConfig(choice: OpenAIToolChoice | null | undefined): GeminiToolConfig | undefined {
  if (choice === undefined || choice === null) return undefined;
  if (choice === 'auto') return { functionCallingConfig: { mode: 'AUTO' } };
  if (choice === 'none') return { functionCallingConfig: { mode: 'NONE' } };
  if (choice === 'required') return { functionCallingConfig: { mode: 'ANY' } };
  if (typeof choice === 'object' && choice.type === 'function') {
    const named = choice as { type: 'function'; function: { name: string } };
    return { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: [named.function.name] } };
  }
  throw new UnsupportedFieldError('tool_choice', 'only "auto", "none", "required" or one named function can be sent');
}

/** JSON-Schema keywords Gemini's `parameters` (an OpenAPI subset) rejects. */
const UNSUPPORTED_SCHEMA_KEYS = new Set(['$schema', '$id', 'additionalProperties', 'strict']);

/** Removes the JSON-Schema keywords Gemini refuses, at every depth (property names are kept). */
export function geminiSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(geminiSchema);
  if (!isJsonObject(schema)) return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (UNSUPPORTED_SCHEMA_KEYS.has(key)) continue;
    if (key === 'properties' && isJsonObject(value)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, geminiSchema(sub)]));
    } else {
      out[key] = geminiSchema(value);
    }
  }
  return out;
}

/** Gemini finishReason → OpenAI finish_reason (a STOP that called functions is "tool_calls"). */
export function geminiFinishToOpenai(reason: GeminiFinishReason | string | undefined, calledTools: boolean): OpenAIFinishReason {
  switch (reason) {
    case 'MAX_TOKENS':
      return 'length';
    case 'SAFETY':
    case 'RECITATION':
    case 'BLOCKLIST':
    case 'PROHIBITED_CONTENT':
    case 'SPII':
    case 'IMAGE_SAFETY':
      return 'content_filter';
    default:
      return calledTools ? 'tool_calls' : 'stop';
  }
}

/** The answer's text (thought parts excluded) and function calls of one candidate. */
export function candidateOutput(
  candidate: GeminiCandidate | undefined,
  callId: (n: number, given: string | undefined) => string,
  firstCall = 0,
): { text: string; toolCalls: OpenAIToolCall[] } {
  let text = '';
  const toolCalls: OpenAIToolCall[] = [];
  for (const part of candidate?.content?.parts ?? []) {
    if (part.thought === true) continue;
    if (typeof part.text === 'string') text += part.text;
    if (part.functionCall) {
      const n = firstCall + toolCalls.length;
      toolCalls.push({
        id: callId(n, part.functionCall.id),
        type: 'function',
        function: { name: part.functionCall.name, arguments: JSON.stringify(part.functionCall.args ?? {}) },
      });
    }
  }
  return { text, toolCalls };
}

export interface GeminiToOpenaiResponseOptions {
  /** The model name the client asked for. */
  model: string;
  /** Completion id (Gemini responses carry none the client could use); also seeds tool-call ids. */
  id: string;
  /** Unix seconds (injected). */
  created: number;
}

/** A tool-call id: Gemini's own when it sent one, else derived from the completion id. */
export function geminiCallId(completionId: string): (n: number, given: string | undefined) => string {
  return (n, given) => given ?? `call_${completionId}_${n}`;
}

/** Gemini GenerateContentResponse → OpenAI chat completion (first candidate). */
export function geminiToOpenaiChatResponse(res: GeminiResponse, options: GeminiToOpenaiResponseOptions): OpenAIChatResponse {
  const candidate = res.candidates?.[0];
  const { text, toolCalls } = candidateOutput(candidate, geminiCallId(options.id));
  // No candidate at all: the prompt itself was blocked (promptFeedback.blockReason).
  const finish = candidate ? geminiFinishToOpenai(candidate.finishReason, toolCalls.length > 0) : 'content_filter';
  const usage: Usage = usageFromGemini(res.usageMetadata ?? {});
  return {
    id: options.id,
    object: 'chat.completion',
    created: options.created,
    model: options.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: text === '' && (toolCalls.length > 0 || !candidate) ? null : text,
          refusal: null,
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
        },
        finish_reason: finish,
        logprobs: null,
      },
    ],
    usage: usageToOpenai(usage),
  };
}
