import { InvalidFieldError, UnsupportedFieldError } from './errors.js';
import { isJsonObject, parseToolArguments } from './json.js';
import { usageFromOpenai, usageToAnthropic } from './usage.js';
import type {
  AnthropicImageBlock,
  AnthropicRequest,
  AnthropicRequestBlock,
  AnthropicResponse,
  AnthropicResponseBlock,
  AnthropicStopReason,
  AnthropicTextBlock,
  AnthropicToolChoice,
} from './wire/anthropic.js';
import type {
  OpenAIChatRequest,
  OpenAIChatResponse,
  OpenAIFinishReason,
  OpenAIFunctionTool,
  OpenAIImagePart,
  OpenAIMessage,
  OpenAITextPart,
  OpenAIToolCall,
  OpenAIToolChoice,
} from './wire/openai.js';

/**
 * An Anthropic-format client on an OpenAI-style upstream: the Messages request becomes a chat
 * request, and the chat completion becomes a Messages response. The stream mapping lives in
 * openai-to-anthropic.stream.ts.
 */

/**
 * The shapes the mapping below reads fields of, checked first so a malformed body is a 400 naming
 * the field, never a TypeError (a 500): every Anthropic cross bridge goes through here.
 */
export function checkAnthropicShapes(body: AnthropicRequest): void {
  if (!Array.isArray(body.messages)) throw new InvalidFieldError('messages', 'must be an array');
  const system: unknown = body.system;
  if (system !== undefined && typeof system !== 'string' && !(Array.isArray(system) && system.every(isJsonObject))) {
    throw new InvalidFieldError('system', 'must be a string or an array of text blocks');
  }
  const tools: unknown = body.tools;
  if (tools !== undefined && !(Array.isArray(tools) && tools.every(isJsonObject))) throw new InvalidFieldError('tools', 'must be an array of tool objects');
  body.messages.forEach((message: unknown, i) => {
    if (!isJsonObject(message)) throw new InvalidFieldError(`messages[${i}]`, 'must be an object');
    if (typeof message.content === 'string') return;
    if (!Array.isArray(message.content)) throw new InvalidFieldError(`messages[${i}].content`, 'must be a string or an array of blocks');
    (message.content as unknown[]).forEach((block, j) => {
      const at = `messages[${i}].content[${j}]`;
      if (!isJsonObject(block)) throw new InvalidFieldError(at, 'must be an object');
      if (block.type === 'image' && !isJsonObject(block.source)) throw new InvalidFieldError(`${at}.source`, 'must be an object');
      if (block.type === 'tool_result' && block.content !== undefined && typeof block.content !== 'string' && !(Array.isArray(block.content) && block.content.every(isJsonObject))) {
        throw new InvalidFieldError(`${at}.content`, 'must be a string or an array of blocks');
      }
      if (block.type === 'tool_use' && block.input !== undefined && block.input !== null && !isJsonObject(block.input)) throw new InvalidFieldError(`${at}.input`, 'must be an object');
    });
  });
}

export interface AnthropicToOpenaiChatOptions {
  upstreamModel: string;
}

/**
 * Anthropic Messages request → OpenAI chat request. Streams always ask for
 * `stream_options.include_usage` (the Anthropic stream must end with usage).
 * Dropped on purpose: top_k (no OpenAI equivalent; a sampling hint), thinking (the answer simply
 * has no thinking blocks), cache_control (a caching hint), service_tier.
 * Refused with UnsupportedFieldError: server tools, document/search-result blocks, images inside
 * tool results.
 */
export function anthropicToOpenaiChat(body: AnthropicRequest, options: AnthropicToOpenaiChatOptions): OpenAIChatRequest {
  checkAnthropicShapes(body);
  const messages: OpenAIMessage[] = [];
  if (body.system !== undefined) {
    const text = typeof body.system === 'string' ? body.system : body.system.map((b) => b.text).join('\n\n');
    if (text !== '') messages.push({ role: 'system', content: text });
  }

  body.messages.forEach((m, i) => {
    const at = `messages[${i}]`;
    const blocks: AnthropicRequestBlock[] = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content;
    if (!Array.isArray(blocks)) throw new InvalidFieldError(`${at}.content`, 'must be a string or an array of blocks');
    if (m.role === 'user') messages.push(...userMessages(blocks, at));
    else if (m.role === 'assistant') messages.push(assistantMessage(blocks, at));
    else throw new InvalidFieldError(`${at}.role`, `unknown role "${String((m as { role?: unknown }).role)}"`);
  });

  const req: OpenAIChatRequest = { model: options.upstreamModel, messages, max_tokens: body.max_tokens };
  if (typeof body.temperature === 'number') req.temperature = body.temperature;
  if (typeof body.top_p === 'number') req.top_p = body.top_p;
  if (body.stop_sequences && body.stop_sequences.length > 0) req.stop = body.stop_sequences;
  if (body.stream === true) {
    req.stream = true;
    req.stream_options = { include_usage: true };
  }
  if (typeof body.metadata?.user_id === 'string') req.user = body.metadata.user_id;
  if (body.tools && body.tools.length > 0) {
    req.tools = body.tools.map((tool, i): OpenAIFunctionTool => {
      if (tool.type !== undefined && tool.type !== 'custom') {
        throw new UnsupportedFieldError(`tools[${i}].type`, `server tool "${tool.type}" is not available from this upstream`);
      }
      const schema = (tool as { input_schema?: Record<string, unknown> }).input_schema;
      const description = (tool as { description?: string }).description;
      return {
        type: 'function',
        function: { name: tool.name, ...(description !== undefined ? { description } : {}), parameters: schema ?? { type: 'object', properties: {} } },
      };
    });
    const choice = body.tool_choice;
    if (choice) {
      req.tool_choice = toolChoice(choice);
      if (choice.type !== 'none' && choice.disable_parallel_tool_use === true) req.parallel_tool_calls = false;
    }
  }
  return req;
}

function toolChoice(choice: AnthropicToolChoice): OpenAIToolChoice {
  switch (choice.type) {
    case 'auto':
      return 'auto';
    case 'any':
      return 'required';
    case 'none':
      return 'none';
    case 'tool':
      return { type: 'function', function: { name: choice.name } };
    default:
      throw new UnsupportedFieldError('tool_choice.type');
  }
}

/** A user turn: its tool results first (role "tool", answering the previous assistant turn), then the rest. */
function userMessages(blocks: AnthropicRequestBlock[], at: string): OpenAIMessage[] {
  const tools: OpenAIMessage[] = [];
  const parts: Array<OpenAITextPart | OpenAIImagePart> = [];
  blocks.forEach((block, j) => {
    const field = `${at}.content[${j}]`;
    switch (block.type) {
      case 'text':
        parts.push({ type: 'text', text: block.text });
        break;
      case 'image':
        parts.push(imagePart(block, `${field}.source`));
        break;
      case 'tool_result':
        tools.push({ role: 'tool', tool_call_id: block.tool_use_id, content: toolResultText(block.content, `${field}.content`) });
        break;
      default:
        throw new UnsupportedFieldError(`${field}.type`, `"${block.type}" blocks cannot be sent to this upstream`);
    }
  });
  if (parts.length === 0) return tools;
  const onlyText = parts.every((p): p is OpenAITextPart => p.type === 'text');
  const content = onlyText ? parts.map((p) => p.text).join('\n') : parts;
  return [...tools, { role: 'user', content }];
}

function toolResultText(content: string | Array<AnthropicTextBlock | AnthropicImageBlock> | undefined, field: string): string {
  if (content === undefined) return '';
  if (typeof content === 'string') return content;
  return content
    .map((b, k) => {
      if (b.type !== 'text') throw new UnsupportedFieldError(`${field}[${k}].type`, 'tool results can only carry text to this upstream');
      return b.text;
    })
    .join('\n');
}

function imagePart(block: AnthropicImageBlock, field: string): OpenAIImagePart {
  const src = block.source;
  if (src.type === 'base64') return { type: 'image_url', image_url: { url: `data:${src.media_type};base64,${src.data}` } };
  if (src.type === 'url') return { type: 'image_url', image_url: { url: src.url } };
  throw new UnsupportedFieldError(`${field}.type`, `image source "${String((src as { type?: unknown }).type)}" cannot be sent`);
}

function assistantMessage(blocks: AnthropicRequestBlock[], at: string): OpenAIMessage {
  let text = '';
  const toolCalls: OpenAIToolCall[] = [];
  blocks.forEach((block, j) => {
    switch (block.type) {
      case 'text':
        text += block.text;
        break;
      case 'tool_use':
        toolCalls.push({ id: block.id, type: 'function', function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) } });
        break;
      case 'thinking':
      case 'redacted_thinking':
        break; // earlier reasoning cannot be replayed to an OpenAI-style upstream
      default:
        throw new UnsupportedFieldError(`${at}.content[${j}].type`, `"${block.type}" blocks cannot be sent to this upstream`);
    }
  });
  return {
    role: 'assistant',
    content: text === '' && toolCalls.length > 0 ? null : text,
    ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
  };
}

/** OpenAI finish_reason → Anthropic stop_reason. */
export function openaiFinishToAnthropic(reason: OpenAIFinishReason | null | undefined): AnthropicStopReason {
  switch (reason) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return 'end_turn';
  }
}

export interface OpenaiToAnthropicResponseOptions {
  /** The model name the client asked for. */
  model: string;
  /** Message id; defaults to the upstream completion id. */
  id?: string;
}

/** OpenAI chat completion → Anthropic Messages response (first choice). */
export function openaiChatToAnthropicResponse(res: OpenAIChatResponse, options: OpenaiToAnthropicResponseOptions): AnthropicResponse {
  const choice = res.choices?.[0];
  const content: AnthropicResponseBlock[] = [];
  const message = choice?.message;
  const text = message?.content ?? message?.refusal ?? '';
  if (text !== '') content.push({ type: 'text', text });
  for (const call of message?.tool_calls ?? []) {
    // A model that emits malformed arguments still called the tool; keep the call, lose the arguments.
    const input = parseToolArguments(call.function.arguments) ?? {};
    content.push({ type: 'tool_use', id: call.id, name: call.function.name, input });
  }
  const usage = res.usage ? usageToAnthropic(usageFromOpenai(res.usage)) : { input_tokens: 0, output_tokens: 0 };
  return {
    id: options.id ?? res.id,
    type: 'message',
    role: 'assistant',
    model: options.model,
    content,
    stop_reason: openaiFinishToAnthropic(choice?.finish_reason),
    stop_sequence: null,
    usage,
  };
}
