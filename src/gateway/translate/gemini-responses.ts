import { withFieldNames } from './field-rename.js';
import { geminiFieldOf, geminiToOpenaiChat } from './gemini-openai.js';
import type { JsonObject } from './json.js';
import { openaiChatToResponses, type OpenaiChatToResponsesOptions } from './openai-responses.js';
import type { ResponsesRequest } from './wire/responses.js';

/**
 * Gemini GenerateContentRequest → Responses request (an upstream that serves only the Responses
 * API, Codex): the chat request geminiToOpenaiChat builds, mapped as a chat client's would be
 * (openai-responses.ts). Refusals of that step name the Gemini field (`stop` →
 * `generationConfig.stopSequences`, messages → `contents`).
 */
export function geminiToResponses(body: JsonObject, options: OpenaiChatToResponsesOptions): ResponsesRequest {
  const chat = geminiToOpenaiChat(body, { upstreamModel: options.upstreamModel, stream: options.stream });
  return withFieldNames(() => openaiChatToResponses(chat, options), geminiFieldOf);
}
