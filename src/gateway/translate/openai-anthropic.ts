import type { Usage } from '../types.js';
import { InvalidFieldError, UnsupportedFieldError } from './errors.js';
import { parseDataUrl, parseToolArguments } from './json.js';
import { COMMON_REFUSALS, applyRefusals, assistantText, checkMessages, maxTokensOf, stopList, textOf } from './openai-request.js';
import { usageFromAnthropic, usageToOpenai } from './usage.js';
import type {
  AnthropicImageBlock,
  AnthropicMessage,
  AnthropicRequest,
  AnthropicRequestBlock,
  AnthropicResponse,
  AnthropicStopReason,
  AnthropicTextBlock,
  AnthropicTool,
  AnthropicToolChoice,
} from './wire/anthropic.js';
import type {
  OpenAIChatRequest,
  OpenAIChatResponse,
  OpenAIFinishReason,
  OpenAIToolCall,
  OpenAIToolChoice,
  OpenAIUserPart,
} from './wire/openai.js';

/**
 * An OpenAI-format client on an Anthropic upstream: the chat request becomes a Messages request,
 * and the Messages response becomes a chat completion. The stream mapping lives in
 * anthropic-to-openai.stream.ts.
 */

export interface OpenaiChatToAnthropicOptions {
  /** The model name the upstream knows. */
  upstreamModel: string;
  /** Anthropic requires max_tokens; used when the client sent neither max_tokens nor max_completion_tokens. */
  defaultMaxTokens: number;
}

const ANTHROPIC_REFUSALS = [
  ...COMMON_REFUSALS,
  {
    field: 'response_format',
    refuse: (v: unknown) => typeof v === 'object' && v !== null && (v as { type?: unknown }).type !== 'text',
    reason: 'JSON output modes are not available from an Anthropic upstream',
  },
  {
    field: 'temperature',
    refuse: (v: unknown) => typeof v === 'number' && v > 1,
    reason: 'an Anthropic upstream accepts temperatures from 0 to 1',
  },
  {
    field: 'presence_penalty',
    refuse: (v: unknown) => typeof v === 'number' && v !== 0,
    reason: 'penalties are not available from an Anthropic upstream',
  },
  {
    field: 'frequency_penalty',
    refuse: (v: unknown) => typeof v === 'number' && v !== 0,
    reason: 'penalties are not available from an Anthropic upstream',
  },
] as const;

/**
 * OpenAI chat request → Anthropic Messages request. Dropped on purpose (no effect on the answer's
 * shape): seed, store, service_tier, metadata, reasoning_effort, stream_options, zero penalties.
 * Refused with UnsupportedFieldError: n > 1, logprobs, logit_bias, audio, non-text response_format,
 * temperature > 1, non-zero penalties, deprecated functions, non-function tools.
 */
export function openaiChatToAnthropic(body: OpenAIChatRequest, options: OpenaiChatToAnthropicOptions): AnthropicRequest {
  applyRefusals(body, ANTHROPIC_REFUSALS);
  const messages = checkMessages(body);
  const system: string[] = [];
  const out: AnthropicMessage[] = [];

  /** Consecutive user-side messages (user text, tool results) become one user turn. */
  const append = (role: 'user' | 'assistant', blocks: AnthropicRequestBlock[]): void => {
    const last = out[out.length - 1];
    if (last && last.role === role && Array.isArray(last.content)) last.content.push(...blocks);
    else out.push({ role, content: blocks });
  };

  messages.forEach((m, i) => {
    const at = `messages[${i}]`;
    switch (m.role) {
      case 'system':
      case 'developer':
        system.push(textOf(m.content, `${at}.content`));
        return;
      case 'user':
        append('user', userBlocks(m.content, `${at}.content`));
        return;
      case 'assistant': {
        if (m.function_call) throw new UnsupportedFieldError(`${at}.function_call`, 'use tool_calls');
        const blocks: AnthropicRequestBlock[] = [];
        const text = assistantText(m.content);
        if (text !== '') blocks.push({ type: 'text', text });
        (m.tool_calls ?? []).forEach((call, j) => blocks.push(toolUseBlock(call, `${at}.tool_calls[${j}]`)));
        // Anthropic refuses an empty assistant turn; an empty OpenAI assistant message says nothing.
        if (blocks.length > 0) append('assistant', blocks);
        return;
      }
      case 'tool': {
        if (typeof m.tool_call_id !== 'string') throw new InvalidFieldError(`${at}.tool_call_id`, 'is required');
        const content = textOf(m.content, `${at}.content`);
        const block: AnthropicRequestBlock = { type: 'tool_result', tool_use_id: m.tool_call_id, content };
        // tool_result blocks must lead their user turn: put them before text merged into the same turn.
        const last = out[out.length - 1];
        if (last && last.role === 'user' && Array.isArray(last.content)) {
          const firstNonResult = last.content.findIndex((b) => b.type !== 'tool_result');
          if (firstNonResult === -1) last.content.push(block);
          else last.content.splice(firstNonResult, 0, block);
        } else {
          out.push({ role: 'user', content: [block] });
        }
        return;
      }
      case 'function':
        throw new UnsupportedFieldError(`${at}.role`, 'role "function" is deprecated; use role "tool"');
      default:
        throw new InvalidFieldError(`${at}.role`, `unknown role "${String((m as { role?: unknown }).role)}"`);
    }
  });

  const req: AnthropicRequest = {
    model: options.upstreamModel,
    messages: out,
    max_tokens: maxTokensOf(body) ?? options.defaultMaxTokens,
  };
  if (system.length > 0) req.system = system.join('\n\n');
  if (typeof body.temperature === 'number') req.temperature = body.temperature;
  if (typeof body.top_p === 'number') req.top_p = body.top_p;
  const stop = stopList(body.stop);
  if (stop) req.stop_sequences = stop;
  if (body.stream === true) req.stream = true;
  if (typeof body.user === 'string' && body.user !== '') req.metadata = { user_id: body.user };

  const tools = body.tools?.map((tool, i): AnthropicTool => {
    if (tool.type !== 'function') throw new UnsupportedFieldError(`tools[${i}].type`, `only function tools can be sent, got "${tool.type}"`);
    const t: AnthropicTool = { name: tool.function.name, input_schema: tool.function.parameters ?? { type: 'object', properties: {} } };
    if (tool.function.description !== undefined) t.description = tool.function.description;
    return t;
  });
  if (tools && tools.length > 0) req.tools = tools;
  const choice = toolChoice(body.tool_choice, body.parallel_tool_calls);
  if (choice && req.tools) req.tool_choice = choice;
  return req;
}

function userBlocks(content: string | OpenAIUserPart[], field: string): AnthropicRequestBlock[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  if (!Array.isArray(content)) throw new InvalidFieldError(field, 'must be a string or an array of parts');
  return content.map((part, j): AnthropicTextBlock | AnthropicImageBlock => {
    const at = `${field}[${j}]`;
    if (part.type === 'text') return { type: 'text', text: part.text };
    if (part.type === 'image_url') return imageBlock(part.image_url.url, `${at}.image_url.url`);
    throw new UnsupportedFieldError(`${at}.type`, `"${part.type}" parts cannot be sent to an Anthropic upstream`);
  });
}

function imageBlock(url: string, field: string): AnthropicImageBlock {
  if (typeof url !== 'string') throw new InvalidFieldError(field, 'must be a URL');
  const data = parseDataUrl(url);
  if (data) return { type: 'image', source: { type: 'base64', media_type: data.mediaType, data: data.data } };
  if (/^https?:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } };
  throw new UnsupportedFieldError(field, 'images must be base64 data: URLs or http(s) URLs');
}

function toolUseBlock(call: OpenAIToolCall, field: string): AnthropicRequestBlock {
  if (call.type !== 'function') throw new UnsupportedFieldError(`${field}.type`, 'only function tool calls can be sent');
  const input = parseToolArguments(call.function.arguments);
  if (!input) throw new InvalidFieldError(`${field}.function.arguments`, 'must be a JSON object');
  return { type: 'tool_use', id: call.id, name: call.function.name, input };
}

function toolChoice(choice: OpenAIToolChoice | null | undefined, parallel: boolean | undefined): AnthropicToolChoice | undefined {
  const noParallel = parallel === false ? { disable_parallel_tool_use: true } : {};
  if (choice === undefined || choice === null) return parallel === false ? { type: 'auto', ...noParallel } : undefined;
  if (choice === 'none') return { type: 'none' };
  if (choice === 'auto') return { type: 'auto', ...noParallel };
  if (choice === 'required') return { type: 'any', ...noParallel };
  if (typeof choice === 'object' && choice.type === 'function') {
    const named = choice as { type: 'function'; function: { name: string } };
    return { type: 'tool', name: named.function.name, ...noParallel };
  }
  throw new UnsupportedFieldError('tool_choice', 'only "auto", "none", "required" or one named function can be sent');
}

/** Anthropic stop_reason → OpenAI finish_reason. */
export function anthropicStopToOpenai(reason: AnthropicStopReason | null | undefined): OpenAIFinishReason {
  switch (reason) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default: // end_turn, stop_sequence, pause_turn, null
      return 'stop';
  }
}

export interface AnthropicToOpenaiResponseOptions {
  /** The model name the client asked for. */
  model: string;
  /** Completion id; defaults to the upstream message id. */
  id?: string;
  /** Unix seconds (injected: no clock here). */
  created: number;
}

/** Anthropic Messages response → OpenAI chat completion, plus the gateway's Usage. */
export function anthropicToOpenaiChatResponse(
  res: AnthropicResponse,
  options: AnthropicToOpenaiResponseOptions,
): OpenAIChatResponse & { usage: NonNullable<OpenAIChatResponse['usage']> } {
  let text = '';
  let hasText = false;
  const toolCalls: OpenAIToolCall[] = [];
  for (const block of res.content ?? []) {
    if (block.type === 'text') {
      text += (block as AnthropicTextBlock).text;
      hasText = true;
    } else if (block.type === 'tool_use') {
      const b = block as { id: string; name: string; input: unknown };
      toolCalls.push({ id: b.id, type: 'function', function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) } });
    }
    // thinking / redacted_thinking / server tool blocks have no chat-completions equivalent.
  }
  const usage: Usage = usageFromAnthropic(res.usage);
  return {
    id: options.id ?? res.id,
    object: 'chat.completion',
    created: options.created,
    model: options.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: hasText ? text : null,
          refusal: null,
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
        },
        finish_reason: anthropicStopToOpenai(res.stop_reason),
        logprobs: null,
      },
    ],
    usage: usageToOpenai(usage),
  };
}
