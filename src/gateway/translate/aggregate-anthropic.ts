import { AggregateStreamError, eventJson, INCOMPLETE_MESSAGE, upstreamErrorMessage, type StreamAggregator } from './aggregate-contract.js';
import { isJsonObject, tryParseJson, type JsonObject } from './json.js';
import { mergeAnthropicUsage } from './usage.js';
import type { AnthropicDeltaUsage, AnthropicStopReason, AnthropicUsage } from './wire/anthropic.js';

/**
 * Anthropic Messages events → one `message`: `message_start` gives the envelope (id, model,
 * starting usage), each `content_block_start` a block at its index, deltas grow it (`text_delta`
 * text, `thinking_delta` thinking, `signature_delta` signature, `citations_delta` citations,
 * `input_json_delta` the tool_use input, parsed once the stream ends), `message_delta` the stop
 * reason and the cumulative usage. Complete once `message_stop` (or a stop reason) was seen; an
 * `error` event fails the whole answer, and so does tool input that is not a JSON object.
 */

interface BlockAcc {
  block: JsonObject;
  /** input_json_delta fragments of a tool_use block. */
  json: string;
}

export function createAnthropicAggregator(): StreamAggregator {
  let message: JsonObject | undefined;
  const blocks = new Map<number, BlockAcc>();
  let usage: AnthropicUsage | undefined;
  let stopReason: AnthropicStopReason | null = null;
  let stopSequence: string | null = null;
  let complete = false;

  return {
    push(event) {
      const data = eventJson(event);
      if (!data || data === 'done') return;
      switch (data.type) {
        case 'error':
          throw new AggregateStreamError(upstreamErrorMessage(data), true);
        case 'message_start':
          if (isJsonObject(data.message)) {
            message = data.message;
            if (isJsonObject(message.usage)) usage = message.usage as AnthropicUsage;
          }
          return;
        case 'content_block_start':
          if (typeof data.index === 'number' && isJsonObject(data.content_block)) blocks.set(data.index, { block: { ...data.content_block }, json: '' });
          return;
        case 'content_block_delta': {
          const acc = typeof data.index === 'number' ? blocks.get(data.index) : undefined;
          if (acc && isJsonObject(data.delta)) applyDelta(acc, data.delta);
          return;
        }
        case 'message_delta': {
          const delta = isJsonObject(data.delta) ? data.delta : {};
          if (typeof delta.stop_reason === 'string') {
            stopReason = delta.stop_reason as AnthropicStopReason;
            complete = true;
          }
          if (typeof delta.stop_sequence === 'string') stopSequence = delta.stop_sequence;
          if (isJsonObject(data.usage)) usage = mergeAnthropicUsage(usage, data.usage as unknown as AnthropicDeltaUsage);
          return;
        }
        case 'message_stop':
          complete = true;
          return;
        default:
          return; // ping, content_block_stop and unknown events add nothing to the answer
      }
    },
    finish() {
      if (!complete || !message) throw new AggregateStreamError(INCOMPLETE_MESSAGE, false);
      const content = [...blocks.entries()].sort(([a], [b]) => a - b).map(([, acc]) => finishBlock(acc));
      return {
        ...message,
        type: 'message',
        role: 'assistant',
        content,
        stop_reason: stopReason,
        stop_sequence: stopSequence,
        usage: usage ?? { input_tokens: 0, output_tokens: 0 },
      };
    },
  };
}

function applyDelta(acc: BlockAcc, delta: JsonObject): void {
  const { block } = acc;
  switch (delta.type) {
    case 'text_delta':
      if (typeof delta.text === 'string') block.text = (typeof block.text === 'string' ? block.text : '') + delta.text;
      return;
    case 'input_json_delta':
      if (typeof delta.partial_json === 'string') acc.json += delta.partial_json;
      return;
    case 'thinking_delta':
      if (typeof delta.thinking === 'string') block.thinking = (typeof block.thinking === 'string' ? block.thinking : '') + delta.thinking;
      return;
    case 'signature_delta':
      if (typeof delta.signature === 'string') block.signature = delta.signature;
      return;
    case 'citations_delta':
      block.citations = [...(Array.isArray(block.citations) ? (block.citations as unknown[]) : []), delta.citation];
      return;
    default:
      return;
  }
}

function finishBlock(acc: BlockAcc): JsonObject {
  if (acc.json.trim() === '') return acc.block;
  const input = tryParseJson(acc.json);
  if (!isJsonObject(input)) throw new AggregateStreamError('The upstream streamed tool input that is not a JSON object', false);
  return { ...acc.block, input };
}
