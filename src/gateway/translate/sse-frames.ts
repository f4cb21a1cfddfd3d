import { formatSse } from '../sse.js';
import type { AnthropicErrorBody, AnthropicStreamEvent } from './wire/anthropic.js';
import type { OpenAIChatChunk, OpenAIChunkDelta, OpenAIErrorBody, OpenAIFinishReason, OpenAIUsage } from './wire/openai.js';

/** SSE frames in each client dialect, as the stream translators write them. */

export interface ChunkHeader {
  id: string;
  created: number;
  model: string;
}

export function openaiChunk(
  head: ChunkHeader,
  delta: OpenAIChunkDelta,
  finishReason: OpenAIFinishReason | null = null,
): OpenAIChatChunk {
  return {
    id: head.id,
    object: 'chat.completion.chunk',
    created: head.created,
    model: head.model,
    choices: [{ index: 0, delta, finish_reason: finishReason }],
  };
}

/** The include_usage chunk: empty choices, whole-request usage. */
export function openaiUsageChunk(head: ChunkHeader, usage: OpenAIUsage): OpenAIChatChunk {
  return { id: head.id, object: 'chat.completion.chunk', created: head.created, model: head.model, choices: [], usage };
}

export function openaiFrame(payload: OpenAIChatChunk | OpenAIErrorBody): string {
  return formatSse({ data: JSON.stringify(payload) });
}

export const OPENAI_DONE = formatSse({ data: '[DONE]' });

/** How an OpenAI stream reports a failure after the first byte (the openai SDK throws APIError on it). */
export function openaiErrorFrame(message: string, type = 'server_error', code: string | null = 'upstream_error'): string {
  const body: OpenAIErrorBody = { error: { message, type, param: null, code } };
  return openaiFrame(body);
}

export function anthropicFrame(event: AnthropicStreamEvent): string {
  return formatSse({ event: event.type, data: JSON.stringify(event) });
}

export function anthropicErrorFrame(message: string, type = 'api_error'): string {
  const body: AnthropicErrorBody = { type: 'error', error: { type, message } };
  return anthropicFrame(body);
}
