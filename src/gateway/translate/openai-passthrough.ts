import { formatSse } from '../sse.js';
import type { StreamTranslator, Usage } from '../types.js';
import { isJsonObject, tryParseJson } from './json.js';
import { openaiErrorFrame } from './sse-frames.js';
import { usageFromOpenai } from './usage.js';
import type { OpenAIStreamOptions, OpenAIUsage } from './wire/openai.js';

/**
 * OpenAI-format client on an OpenAI-style upstream: the body passes through, but the gateway needs
 * usage to settle limits and cost, so streams always ask for it and the usage-only chunk is
 * removed again when the client did not ask.
 */

export interface StreamRequestBody {
  stream?: boolean | null;
  stream_options?: OpenAIStreamOptions | null;
}

/**
 * For a stream request: the body with `stream_options.include_usage: true` (other stream options
 * kept), and whether the client itself asked for usage. Non-stream bodies are returned unchanged
 * (their responses always carry usage), with `clientWantsUsage: false`.
 */
export function ensureIncludeUsage<T extends StreamRequestBody>(body: T): { body: T; clientWantsUsage: boolean } {
  if (body.stream !== true) return { body, clientWantsUsage: false };
  const clientWantsUsage = body.stream_options?.include_usage === true;
  if (clientWantsUsage) return { body, clientWantsUsage };
  return { body: { ...body, stream_options: { ...(body.stream_options ?? {}), include_usage: true } }, clientWantsUsage };
}

/**
 * Forwards an OpenAI stream event by event (each re-serialized with formatSse, data untouched),
 * reads usage from whichever chunk carries it, and drops the usage-only chunk (`choices: []`)
 * when the client did not ask for usage.
 */
export function createOpenaiUsageStripper(clientWantsUsage: boolean): StreamTranslator {
  let usage: OpenAIUsage | undefined;
  let text = '';
  let failed = false;
  return {
    push(event) {
      if (failed) return '';
      if (event.data !== '[DONE]' && event.data.includes('{')) {
        const value = tryParseJson(event.data);
        if (isJsonObject(value)) {
          const choices = Array.isArray(value.choices) ? (value.choices as unknown[]) : undefined;
          for (const choice of choices ?? []) {
            if (isJsonObject(choice) && isJsonObject(choice.delta) && typeof choice.delta.content === 'string') text += choice.delta.content;
          }
          if (isJsonObject(value.usage)) {
            usage = value.usage as unknown as OpenAIUsage;
            if (!clientWantsUsage && choices?.length === 0) return '';
          }
        }
      }
      return formatSse(event);
    },
    end: () => '',
    fail(message) {
      if (failed) return '';
      failed = true;
      return openaiErrorFrame(message);
    },
    usage: (): Usage | undefined => (usage ? usageFromOpenai(usage) : undefined),
    deliveredText: () => text,
  };
}
