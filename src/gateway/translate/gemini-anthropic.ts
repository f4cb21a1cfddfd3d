import { withFieldNames } from './field-rename.js';
import { geminiFieldOf, geminiToOpenaiChat, openaiChatToGeminiResponse } from './gemini-openai.js';
import { isJsonObject, type JsonObject } from './json.js';
import { anthropicToOpenaiChatResponse, openaiChatToAnthropic } from './openai-anthropic.js';
import type { AnthropicRequest, AnthropicResponse } from './wire/anthropic.js';
import type { GeminiResponse } from './wire/gemini.js';

/**
 * A Gemini-format client on an Anthropic upstream: the composition of the Gemini → chat mapping
 * (gemini-openai.ts) and the chat → Anthropic one (openai-anthropic.ts), both ways. The stream is
 * the same composition (bridges.ts: Anthropic events → chat chunks → Gemini events).
 */

export interface GeminiToAnthropicOptions {
  upstreamModel: string;
  stream: boolean;
  /** Anthropic requires max_tokens; used when generationConfig.maxOutputTokens is absent. */
  defaultMaxTokens: number;
}

/**
 * Gemini GenerateContentRequest → Anthropic Messages request, through the chat request
 * geminiToOpenaiChat builds. Refusals of the chat → Anthropic step name the Gemini field
 * (`generationConfig.temperature` above 1, JSON output modes as `generationConfig.responseMimeType`,
 * penalties). `generationConfig.topK`, which the chat dialect lacks, becomes `top_k`.
 */
export function geminiToAnthropic(body: JsonObject, options: GeminiToAnthropicOptions): AnthropicRequest {
  const chat = geminiToOpenaiChat(body, { upstreamModel: options.upstreamModel, stream: options.stream });
  const req = withFieldNames(() => openaiChatToAnthropic(chat, { upstreamModel: options.upstreamModel, defaultMaxTokens: options.defaultMaxTokens }), geminiFieldOf);
  const config = body.generationConfig ?? body.generation_config;
  const topK = isJsonObject(config) ? (config.topK ?? config.top_k) : undefined;
  if (typeof topK === 'number') req.top_k = topK;
  return req;
}

export interface AnthropicToGeminiResponseOptions {
  /** The model name the client asked for (`modelVersion`). */
  model: string;
  /** `responseId`. */
  id: string;
}

/** Anthropic Messages response → Gemini GenerateContentResponse (thinking blocks dropped). */
export function anthropicToGeminiResponse(res: AnthropicResponse, options: AnthropicToGeminiResponseOptions): GeminiResponse {
  const chat = anthropicToOpenaiChatResponse(res, { model: options.model, id: options.id, created: 0 });
  return openaiChatToGeminiResponse(chat, options);
}
