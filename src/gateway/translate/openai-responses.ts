import type { Usage } from '../types.js';
import { anthropicToOpenaiChat } from './anthropic-openai.js';
import { InvalidFieldError, UnsupportedFieldError } from './errors.js';
import { isJsonObject } from './json.js';
import { COMMON_REFUSALS, applyRefusals, assistantText, checkMessages, maxTokensOf, stopList, textOf, type RefusalRule } from './openai-request.js';
import { usageToOpenai } from './usage.js';
import type { AnthropicRequest } from './wire/anthropic.js';
import type { OpenAIChatRequest, OpenAIChatResponse, OpenAIFinishReason, OpenAIFunctionTool, OpenAITool, OpenAIToolCall, OpenAIToolChoice, OpenAIUsage, OpenAIUserPart } from './wire/openai.js';
import type {
  ResponsesFunctionTool,
  ResponsesInputContent,
  ResponsesInputFile,
  ResponsesInputItem,
  ResponsesRequest,
  ResponsesResponse,
  ResponsesTextFormat,
  ResponsesToolChoice,
  ResponsesUsage,
} from './wire/responses.js';

/**
 * An OpenAI Chat Completions client on an upstream that speaks only the Responses API (Codex):
 * the request mapping and the whole-response mapping. The stream mapping lives in
 * openai-responses.stream.ts; the decisions are in docs/bridges.md.
 */

export interface OpenaiChatToResponsesOptions {
  upstreamModel: string;
  /** Whether the upstream call streams (an always-streaming adapter forces it anyway). */
  stream: boolean;
  /**
   * `instructions` when the client sent no system or developer message: the ChatGPT Codex backend
   * refuses a request without instructions ("Instructions are required"). Omitted when undefined.
   */
  defaultInstructions?: string;
}

/** What a Responses-only upstream gets as `instructions` when a chat client sent no system prompt. */
export const DEFAULT_RESPONSES_INSTRUCTIONS = 'You are a helpful assistant.';

const nonZero = (v: unknown): boolean => typeof v === 'number' && v !== 0;

/** Fields a Responses upstream cannot honour; dropping them silently would change the answer. */
const RESPONSES_REFUSALS: readonly RefusalRule[] = [
  ...COMMON_REFUSALS,
  { field: 'stop', refuse: (v) => stopList(v as string | string[] | null | undefined) !== undefined, reason: 'stop sequences are not available from a Responses API upstream' },
  { field: 'presence_penalty', refuse: nonZero, reason: 'presence penalty is not available from a Responses API upstream' },
  { field: 'frequency_penalty', refuse: nonZero, reason: 'frequency penalty is not available from a Responses API upstream' },
];

/** Chat fields the Responses API also has, under the same name and meaning. */
interface SharedStringFields {
  prompt_cache_key?: unknown;
  safety_identifier?: unknown;
  verbosity?: unknown;
}

/**
 * OpenAI chat request → Responses API request. Leading system/developer messages → `instructions`
 * (joined by a blank line); later ones stay in place as `developer` input messages. user → input
 * message (`input_text`, `input_image`, `input_file`); assistant text → assistant message with
 * `output_text`, its tool_calls → `function_call` items; tool → `function_call_output` (its
 * tool_call_id must answer an earlier tool call). Tools → flat Responses function tools with
 * `strict` false unless the client set it (Responses defaults to strict). `store` is always false.
 * Dropped: seed, service_tier, store, stream_options, prompt_cache_retention, message `name`s.
 * Refused: see RESPONSES_REFUSALS, non-function tools, audio input, deprecated function calling.
 */
export function openaiChatToResponses(body: OpenAIChatRequest, options: OpenaiChatToResponsesOptions): ResponsesRequest {
  applyRefusals(body, RESPONSES_REFUSALS);
  const messages = checkMessages(body);
  const instructions: string[] = [];
  const input: ResponsesInputItem[] = [];
  const callIds = new Set<string>();
  let leading = true;

  messages.forEach((m, i) => {
    const at = `messages[${i}]`;
    switch (m.role) {
      case 'system':
      case 'developer': {
        const text = textOf(m.content, `${at}.content`);
        if (leading) {
          if (text !== '') instructions.push(text);
        } else input.push({ type: 'message', role: 'developer', content: [{ type: 'input_text', text }] });
        return;
      }
      case 'user':
        leading = false;
        input.push({ type: 'message', role: 'user', content: userContent(m.content, `${at}.content`) });
        return;
      case 'assistant': {
        leading = false;
        if (m.function_call) throw new UnsupportedFieldError(`${at}.function_call`, 'use tool_calls');
        const text = assistantText(m.content);
        if (text !== '') input.push({ type: 'message', role: 'assistant', content: [{ type: 'output_text', text }] });
        if (m.tool_calls !== undefined && !Array.isArray(m.tool_calls)) throw new InvalidFieldError(`${at}.tool_calls`, 'must be an array');
        (m.tool_calls ?? []).forEach((call, j) => {
          const field = `${at}.tool_calls[${j}]`;
          if (typeof call?.id !== 'string' || call.id === '') throw new InvalidFieldError(`${field}.id`, 'must be a non-empty string');
          if (typeof call.function?.name !== 'string' || call.function.name === '') throw new InvalidFieldError(`${field}.function.name`, 'must be a non-empty string');
          const args = call.function.arguments ?? '';
          if (typeof args !== 'string') throw new InvalidFieldError(`${field}.function.arguments`, 'must be a string');
          callIds.add(call.id);
          input.push({ type: 'function_call', call_id: call.id, name: call.function.name, arguments: args });
        });
        return;
      }
      case 'tool': {
        leading = false;
        if (typeof m.tool_call_id !== 'string' || !callIds.has(m.tool_call_id)) {
          throw new InvalidFieldError(`${at}.tool_call_id`, 'does not match a tool call of an earlier assistant message');
        }
        input.push({ type: 'function_call_output', call_id: m.tool_call_id, output: textOf(m.content, `${at}.content`) });
        return;
      }
      case 'function':
        throw new UnsupportedFieldError(`${at}.role`, 'role "function" is deprecated; use role "tool"');
      default:
        throw new InvalidFieldError(`${at}.role`, `unknown role "${String((m as { role?: unknown }).role)}"`);
    }
  });

  const req: ResponsesRequest = { model: options.upstreamModel, input, store: false, stream: options.stream };
  const joined = instructions.join('\n\n');
  if (joined !== '') req.instructions = joined;
  else if (options.defaultInstructions !== undefined) req.instructions = options.defaultInstructions;

  if (body.tools !== undefined && body.tools !== null) {
    if (!Array.isArray(body.tools)) throw new InvalidFieldError('tools', 'must be an array');
    const tools = body.tools.map(responsesTool);
    if (tools.length > 0) {
      req.tools = tools;
      const choice = responsesToolChoice(body.tool_choice);
      if (choice !== undefined) req.tool_choice = choice;
    }
  }
  if (typeof body.parallel_tool_calls === 'boolean') req.parallel_tool_calls = body.parallel_tool_calls;
  const max = maxTokensOf(body);
  if (typeof max === 'number') req.max_output_tokens = max;
  if (typeof body.temperature === 'number') req.temperature = body.temperature;
  if (typeof body.top_p === 'number') req.top_p = body.top_p;
  if (typeof body.user === 'string') req.user = body.user;
  if (isJsonObject(body.metadata)) req.metadata = body.metadata as Record<string, string>;
  if (typeof body.reasoning_effort === 'string') req.reasoning = { effort: body.reasoning_effort };

  const shared = body as SharedStringFields;
  if (typeof shared.prompt_cache_key === 'string') req.prompt_cache_key = shared.prompt_cache_key;
  if (typeof shared.safety_identifier === 'string') req.safety_identifier = shared.safety_identifier;
  const format = textFormat(body.response_format);
  if (format !== undefined || typeof shared.verbosity === 'string') {
    req.text = {};
    if (format !== undefined) req.text.format = format;
    if (typeof shared.verbosity === 'string') req.text.verbosity = shared.verbosity;
  }
  return req;
}

/**
 * Anthropic Messages request → Responses request, through the chat request anthropicToOpenaiChat
 * builds (the same mapping an OpenAI-style upstream gets). `stop_sequences` is refused under its
 * own name (the Responses API has no stop sequences); a tool_result that answers no earlier
 * tool_use is refused naming `messages` (the chat message index would not be the client's).
 */
export function anthropicToResponses(body: AnthropicRequest, options: OpenaiChatToResponsesOptions): ResponsesRequest {
  if (Array.isArray(body.stop_sequences) && body.stop_sequences.length > 0) {
    throw new UnsupportedFieldError('stop_sequences', 'stop sequences are not available from a Responses API upstream');
  }
  const chat = anthropicToOpenaiChat(body, { upstreamModel: options.upstreamModel });
  try {
    return openaiChatToResponses(chat, options);
  } catch (err) {
    if (err instanceof InvalidFieldError && /^messages\[\d+\]\.tool_call_id$/.test(err.field)) {
      throw new InvalidFieldError('messages', 'a tool_result block does not answer a tool_use block of an earlier assistant message');
    }
    throw err;
  }
}

function userContent(content: string | OpenAIUserPart[], field: string): ResponsesInputContent[] {
  if (typeof content === 'string') return [{ type: 'input_text', text: content }];
  if (!Array.isArray(content)) throw new InvalidFieldError(field, 'must be a string or an array of parts');
  return content.map((raw: unknown, j): ResponsesInputContent => {
    const at = `${field}[${j}]`;
    if (!isJsonObject(raw)) throw new InvalidFieldError(at, 'must be an object');
    const part = raw;
    if (part.type === 'text') {
      if (typeof part.text !== 'string') throw new InvalidFieldError(`${at}.text`, 'must be a string');
      return { type: 'input_text', text: part.text };
    }
    if (part.type === 'image_url') {
      const image = isJsonObject(part.image_url) ? part.image_url : {};
      if (typeof image.url !== 'string' || image.url === '') throw new InvalidFieldError(`${at}.image_url.url`, 'must be a non-empty string');
      const detail = image.detail ?? 'auto';
      if (detail !== 'auto' && detail !== 'low' && detail !== 'high') throw new InvalidFieldError(`${at}.image_url.detail`, 'must be "auto", "low" or "high"');
      return { type: 'input_image', image_url: image.url, detail };
    }
    if (part.type === 'file') {
      const file = isJsonObject(part.file) ? part.file : {};
      const out: ResponsesInputFile = { type: 'input_file' };
      if (typeof file.file_id === 'string') out.file_id = file.file_id;
      if (typeof file.file_data === 'string') out.file_data = file.file_data;
      if (typeof file.filename === 'string') out.filename = file.filename;
      if (out.file_id === undefined && out.file_data === undefined) throw new InvalidFieldError(`${at}.file`, 'needs file_id or file_data');
      return out;
    }
    throw new UnsupportedFieldError(`${at}.type`, `"${String(part.type)}" parts cannot be sent to a Responses API upstream`);
  });
}

function responsesTool(tool: OpenAITool, i: number): ResponsesFunctionTool {
  const raw: unknown = tool;
  if (!isJsonObject(raw) || raw.type !== 'function') {
    throw new UnsupportedFieldError(`tools[${i}].type`, `only function tools can be sent, got "${String((raw as { type?: unknown } | null)?.type)}"`);
  }
  const fn = raw.function as Partial<OpenAIFunctionTool['function']> | undefined;
  if (typeof fn?.name !== 'string' || fn.name === '') throw new InvalidFieldError(`tools[${i}].function.name`, 'must be a non-empty string');
  const out: ResponsesFunctionTool = {
    type: 'function',
    name: fn.name,
    parameters: isJsonObject(fn.parameters) ? fn.parameters : { type: 'object', properties: {} },
    strict: fn.strict === true,
  };
  if (typeof fn.description === 'string') out.description = fn.description;
  return out;
}

function responsesToolChoice(choice: OpenAIToolChoice | undefined | null): ResponsesToolChoice | undefined {
  if (choice === undefined || choice === null) return undefined;
  if (choice === 'auto' || choice === 'none' || choice === 'required') return choice;
  if (isJsonObject(choice) && choice.type === 'function') {
    const name = (choice as { function?: { name?: unknown } }).function?.name;
    if (typeof name !== 'string' || name === '') throw new InvalidFieldError('tool_choice.function.name', 'must be a non-empty string');
    return { type: 'function', name };
  }
  if (isJsonObject(choice) && choice.type === 'allowed_tools' && isJsonObject(choice.allowed_tools)) {
    const allowed = choice.allowed_tools as { mode?: unknown; tools?: unknown };
    if (allowed.mode !== 'auto' && allowed.mode !== 'required') throw new InvalidFieldError('tool_choice.allowed_tools.mode', 'must be "auto" or "required"');
    if (!Array.isArray(allowed.tools)) throw new InvalidFieldError('tool_choice.allowed_tools.tools', 'must be an array');
    const tools = allowed.tools.map((t: unknown, j) => {
      const name = isJsonObject(t) && t.type === 'function' && isJsonObject(t.function) ? t.function.name : undefined;
      if (typeof name !== 'string' || name === '') throw new UnsupportedFieldError(`tool_choice.allowed_tools.tools[${j}]`, 'only function tools can be allowed');
      return { type: 'function' as const, name };
    });
    return { type: 'allowed_tools', mode: allowed.mode, tools };
  }
  throw new UnsupportedFieldError('tool_choice', 'only "auto", "none", "required", one named function or allowed function tools can be sent');
}

function textFormat(format: OpenAIChatRequest['response_format'] | null): ResponsesTextFormat | undefined {
  if (format === undefined || format === null || !isJsonObject(format)) return undefined;
  if (format.type === 'json_object') return { type: 'json_object' };
  if (format.type === 'json_schema') {
    const schema = format.json_schema as Partial<Extract<OpenAIChatRequest['response_format'], { type: 'json_schema' }>['json_schema']> | undefined;
    if (typeof schema?.name !== 'string' || schema.name === '') throw new InvalidFieldError('response_format.json_schema.name', 'must be a non-empty string');
    const out: ResponsesTextFormat = { type: 'json_schema', name: schema.name };
    if (schema.schema !== undefined) out.schema = schema.schema;
    if (schema.strict !== undefined) out.strict = schema.strict;
    if (schema.description !== undefined) out.description = schema.description;
    return out;
  }
  return undefined; // {type: "text"} is the default
}

/** Responses usage → the gateway's Usage (input includes the cached part, as OpenAI counts it). */
export function usageFromResponses(u: ResponsesUsage): Usage {
  return {
    prompt_tokens: u.input_tokens ?? 0,
    completion_tokens: u.output_tokens ?? 0,
    cache_read_tokens: u.input_tokens_details?.cached_tokens ?? 0,
    cache_write_tokens: 0,
  };
}

/** Responses usage → OpenAI chat usage, reasoning tokens kept in completion_tokens_details. */
export function responsesUsageToOpenai(u: ResponsesUsage): OpenAIUsage {
  const out = usageToOpenai(usageFromResponses(u));
  const reasoning = u.output_tokens_details?.reasoning_tokens;
  if (typeof reasoning === 'number') out.completion_tokens_details = { reasoning_tokens: reasoning };
  return out;
}

/** A terminal status (and its incomplete reason) → chat finish_reason. */
export function responsesFinishReason(status: string | undefined, incompleteReason: string | undefined, calledTools: boolean): OpenAIFinishReason {
  if (status === 'incomplete') return incompleteReason === 'content_filter' ? 'content_filter' : 'length';
  return calledTools ? 'tool_calls' : 'stop';
}

export interface ResponsesToOpenaiResponseOptions {
  /** The model name the client asked for. */
  model: string;
  /** The completion id (`chatcmpl-<request id>`). */
  id: string;
  /** Unix seconds (injected). */
  created: number;
}

/**
 * Responses `response` object → chat.completion: output message text (output_text parts) →
 * content, refusal parts → refusal, function_call items → tool_calls (id = call_id), reasoning
 * items dropped; finish_reason from status / incomplete_details; usage mapped.
 */
export function responsesToOpenaiChatResponse(res: ResponsesResponse, options: ResponsesToOpenaiResponseOptions): OpenAIChatResponse {
  let text = '';
  let hasText = false;
  let refusal: string | null = null;
  const toolCalls: OpenAIToolCall[] = [];
  for (const item of Array.isArray(res.output) ? res.output : []) {
    if (!isJsonObject(item)) continue;
    if (item.type === 'message' && Array.isArray(item.content)) {
      for (const part of item.content as unknown[]) {
        if (!isJsonObject(part)) continue;
        if (part.type === 'output_text' && typeof part.text === 'string') {
          text += part.text;
          hasText = true;
        } else if (part.type === 'refusal' && typeof part.refusal === 'string') refusal = (refusal ?? '') + part.refusal;
      }
    } else if (item.type === 'function_call' && typeof item.name === 'string') {
      const id = typeof item.call_id === 'string' ? item.call_id : typeof item.id === 'string' ? item.id : `call_${options.id}_${toolCalls.length}`;
      toolCalls.push({ id, type: 'function', function: { name: item.name, arguments: typeof item.arguments === 'string' ? item.arguments : '' } });
    }
  }
  const out: OpenAIChatResponse = {
    id: options.id,
    object: 'chat.completion',
    created: options.created,
    model: options.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: hasText ? text : toolCalls.length > 0 ? null : '',
          refusal,
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
        },
        finish_reason: responsesFinishReason(res.status, res.incomplete_details?.reason, toolCalls.length > 0),
        logprobs: null,
      },
    ],
  };
  if (isJsonObject(res.usage)) out.usage = responsesUsageToOpenai(res.usage);
  return out;
}
