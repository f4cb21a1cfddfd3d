import { anthropicToOpenaiChat, openaiChatToAnthropicResponse } from './anthropic-openai.js';
import { InvalidFieldError, UnsupportedFieldError } from './errors.js';
import { withFieldNames } from './field-rename.js';
import { isJsonObject } from './json.js';
import { geminiToOpenaiChatResponse, openaiChatToGemini } from './openai-gemini.js';
import type { AnthropicRequest, AnthropicResponse } from './wire/anthropic.js';
import type { GeminiRequest, GeminiResponse } from './wire/gemini.js';

/**
 * An Anthropic Messages client on a Gemini upstream: the composition of the Anthropic → chat
 * mapping (anthropic-openai.ts) and the chat → Gemini one (openai-gemini.ts), both ways. The
 * stream is the same composition (bridges.ts: Gemini → chat chunks → Anthropic events).
 */

export interface AnthropicToGeminiOptions {
  upstreamModel: string;
}

/**
 * Anthropic Messages request → Gemini GenerateContentRequest, through the chat request
 * anthropicToOpenaiChat builds. Refusals name the client's own fields: URL images (Gemini reads
 * only inline data) as `messages[i].content[j].source`, a tool_result that answers no earlier
 * tool_use as its `tool_use_id`; a refusal raised on the intermediate chat messages names
 * `messages`. `top_k`, which the chat dialect lacks, becomes `generationConfig.topK`. `thinking`
 * is dropped (docs/bridges.md).
 */
export function anthropicToGemini(body: AnthropicRequest, options: AnthropicToGeminiOptions): GeminiRequest {
  const chat = anthropicToOpenaiChat(body, { upstreamModel: options.upstreamModel });
  checkForGemini(body);
  const req = withFieldNames(
    () => openaiChatToGemini(chat, { upstreamModel: options.upstreamModel }),
    (field) => (field === 'stop' ? 'stop_sequences' : field.startsWith('messages[') ? 'messages' : undefined),
  );
  if (typeof body.top_k === 'number') req.generationConfig = { ...req.generationConfig, topK: body.top_k };
  return req;
}

/**
 * What the chat → Gemini step would refuse under an intermediate name, refused here under the
 * client's (the shapes themselves are checked by anthropicToOpenaiChat).
 */
function checkForGemini(body: AnthropicRequest): void {
  if (!Array.isArray(body.messages)) return; // anthropicToOpenaiChat names it
  const toolUses = new Set<string>();
  body.messages.forEach((message: unknown, i) => {
    if (!isJsonObject(message) || !Array.isArray(message.content)) return;
    (message.content as unknown[]).forEach((block, j) => {
      if (!isJsonObject(block)) return;
      const at = `messages[${i}].content[${j}]`;
      if (block.type === 'image' && isJsonObject(block.source) && block.source.type === 'url') {
        throw new UnsupportedFieldError(`${at}.source`, 'a Gemini upstream takes images as base64 data only');
      }
      if (block.type === 'tool_use') toolUses.add(String(block.id));
      if (block.type === 'tool_result' && !toolUses.has(String(block.tool_use_id))) {
        throw new InvalidFieldError(`${at}.tool_use_id`, 'does not answer a tool_use block of an earlier assistant message');
      }
    });
  });
}

export interface GeminiToAnthropicResponseOptions {
  /** The model name the client asked for. */
  model: string;
  /** Message id (`msg_<request id>`); also seeds the ids of function calls Gemini sent without one. */
  id: string;
}

/** Gemini GenerateContentResponse → Anthropic Messages response (first candidate; thought parts dropped). */
export function geminiToAnthropicResponse(res: GeminiResponse, options: GeminiToAnthropicResponseOptions): AnthropicResponse {
  const chat = geminiToOpenaiChatResponse(res, { model: options.model, id: options.id, created: 0 });
  return openaiChatToAnthropicResponse(chat, { model: options.model, id: options.id });
}
