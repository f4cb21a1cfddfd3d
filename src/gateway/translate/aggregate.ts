import type { Operation, SseEvent, WireFormat } from '../types.js';
import { createAnthropicAggregator } from './aggregate-anthropic.js';
import type { StreamAggregator } from './aggregate-contract.js';
import { createGeminiAggregator } from './aggregate-gemini.js';
import { createOpenaiChatAggregator, createResponsesAggregator } from './aggregate-openai.js';
import type { JsonObject } from './json.js';

export { AggregateStreamError, type StreamAggregator } from './aggregate-contract.js';

/**
 * The aggregator for a client's format and operation — what folds the client-format stream into
 * the answer that client expects without `stream` — or undefined when the operation has no
 * streamed form (embeddings, count_tokens).
 */
export function aggregatorFor(format: WireFormat, op: Operation): StreamAggregator | undefined {
  switch (`${format}:${op}`) {
    case 'openai:chat':
      return createOpenaiChatAggregator();
    case 'openai:responses':
      return createResponsesAggregator();
    case 'anthropic:messages':
      return createAnthropicAggregator();
    case 'gemini:generate_content':
      return createGeminiAggregator();
    default:
      return undefined;
  }
}

/** Folds a whole event sequence (tests, fixtures). */
export function aggregateEvents(aggregator: StreamAggregator, events: Iterable<SseEvent>): JsonObject {
  for (const event of events) aggregator.push(event);
  return aggregator.finish();
}
