import type { SseEvent, StreamTranslator, Usage } from '../types.js';
import { isJsonObject, tryParseJson } from './json.js';
import { anthropicStopToOpenai } from './openai-anthropic.js';
import { OPENAI_DONE, openaiChunk, openaiErrorFrame, openaiFrame, openaiUsageChunk, type ChunkHeader } from './sse-frames.js';
import { mergeAnthropicUsage, usageFromAnthropic, usageToOpenai } from './usage.js';
import type { AnthropicStreamEvent, AnthropicUsage } from './wire/anthropic.js';
import type { OpenAIFinishReason } from './wire/openai.js';

/**
 * Anthropic Messages stream → OpenAI chat.completion.chunk stream.
 *
 * message_start → a role chunk; text blocks → `delta.content`; tool_use blocks → a `tool_calls`
 * entry (id, name) followed by argument fragments from input_json_delta; message_delta →
 * the finish chunk; message_stop → the usage chunk (only when the client asked for
 * stream_options.include_usage) and `data: [DONE]`. Thinking blocks and ping are dropped; an
 * `error` event becomes `data: {"error":{...}}` and ends the stream.
 */

export interface AnthropicToOpenaiStreamOptions extends ChunkHeader {
  /** The client sent stream_options.include_usage: true. */
  includeUsage: boolean;
}

type BlockKind = { kind: 'text' } | { kind: 'tool'; toolIndex: number } | { kind: 'ignored' };

export interface AnthropicToOpenaiState {
  /** The role chunk went out. */
  started: boolean;
  blocks: Readonly<Record<number, BlockKind>>;
  toolCount: number;
  usage: AnthropicUsage | undefined;
  /** message_delta brought the final output count; before it, usage is partial. */
  usageFinal: boolean;
  finishReason: OpenAIFinishReason | undefined;
  /** message_stop, an error or fail() ended the stream: later input is ignored. */
  done: boolean;
  text: string;
}

export const initialAnthropicToOpenaiState: AnthropicToOpenaiState = {
  started: false,
  blocks: {},
  toolCount: 0,
  usage: undefined,
  usageFinal: false,
  finishReason: undefined,
  done: false,
  text: '',
};

export interface StepResult<S> {
  state: S;
  out: string;
}

/** One upstream event → the next state and the SSE text to write. Pure. */
export function stepAnthropicToOpenai(
  state: AnthropicToOpenaiState,
  event: AnthropicStreamEvent,
  opts: AnthropicToOpenaiStreamOptions,
): StepResult<AnthropicToOpenaiState> {
  if (state.done) return { state, out: '' };
  let out = '';
  let s = state;
  const ensureStarted = (): void => {
    if (!s.started) {
      out += openaiFrame(openaiChunk(opts, { role: 'assistant', content: '' }));
      s = { ...s, started: true };
    }
  };

  switch (event.type) {
    case 'message_start':
      s = { ...s, usage: event.message.usage };
      ensureStarted();
      break;
    case 'content_block_start': {
      ensureStarted();
      const block = event.content_block;
      if (block.type === 'text') {
        s = { ...s, blocks: { ...s.blocks, [event.index]: { kind: 'text' } } };
        const initial = (block as { text?: string }).text ?? '';
        if (initial !== '') {
          out += openaiFrame(openaiChunk(opts, { content: initial }));
          s = { ...s, text: s.text + initial };
        }
      } else if (block.type === 'tool_use') {
        const b = block as { id: string; name: string };
        const toolIndex = s.toolCount;
        s = { ...s, toolCount: toolIndex + 1, blocks: { ...s.blocks, [event.index]: { kind: 'tool', toolIndex } } };
        out += openaiFrame(
          openaiChunk(opts, { tool_calls: [{ index: toolIndex, id: b.id, type: 'function', function: { name: b.name, arguments: '' } }] }),
        );
        s = { ...s, text: s.text + b.name };
      } else {
        s = { ...s, blocks: { ...s.blocks, [event.index]: { kind: 'ignored' } } };
      }
      break;
    }
    case 'content_block_delta': {
      ensureStarted();
      const kind = s.blocks[event.index];
      const delta = event.delta;
      if (delta.type === 'text_delta' && kind?.kind !== 'ignored' && kind?.kind !== 'tool') {
        if (delta.text !== '') {
          out += openaiFrame(openaiChunk(opts, { content: delta.text }));
          s = { ...s, text: s.text + delta.text };
        }
      } else if (delta.type === 'input_json_delta' && kind?.kind === 'tool') {
        if (delta.partial_json !== '') {
          out += openaiFrame(openaiChunk(opts, { tool_calls: [{ index: kind.toolIndex, function: { arguments: delta.partial_json } }] }));
          s = { ...s, text: s.text + delta.partial_json };
        }
      }
      break;
    }
    case 'message_delta': {
      ensureStarted();
      const finishReason = anthropicStopToOpenai(event.delta.stop_reason);
      s = { ...s, finishReason, usage: mergeAnthropicUsage(s.usage, event.usage ?? { output_tokens: s.usage?.output_tokens ?? 0 }), usageFinal: true };
      out += openaiFrame(openaiChunk(opts, {}, finishReason));
      break;
    }
    case 'message_stop':
      out += closing(s, opts);
      s = { ...s, done: true };
      break;
    case 'error':
      out += openaiErrorFrame(event.error?.message ?? 'Upstream error', openaiErrorType(event.error?.type));
      s = { ...s, done: true };
      break;
    default: // ping, content_block_stop, future event types
      break;
  }
  return { state: s, out };
}

/** Anthropic error.type → the OpenAI error.type a client would see for the same failure. */
const OPENAI_ERROR_TYPES: Readonly<Record<string, string>> = {
  invalid_request_error: 'invalid_request_error',
  authentication_error: 'invalid_request_error',
  not_found_error: 'invalid_request_error',
  permission_error: 'permission_error',
  rate_limit_error: 'rate_limit_error',
};

function openaiErrorType(type: string | undefined): string {
  // api_error, overloaded_error and anything new are the server's fault.
  return (type !== undefined ? OPENAI_ERROR_TYPES[type] : undefined) ?? 'server_error';
}

function closing(s: AnthropicToOpenaiState, opts: AnthropicToOpenaiStreamOptions): string {
  let out = '';
  if (s.finishReason === undefined) out += openaiFrame(openaiChunk(opts, {}, 'stop'));
  if (opts.includeUsage && s.usage) out += openaiFrame(openaiUsageChunk(opts, usageToOpenai(usageFromAnthropic(s.usage))));
  return out + OPENAI_DONE;
}

/** Upstream ended without message_stop: a clean close if the stop reason arrived, else an error. */
export function endAnthropicToOpenai(state: AnthropicToOpenaiState, opts: AnthropicToOpenaiStreamOptions): StepResult<AnthropicToOpenaiState> {
  if (state.done) return { state, out: '' };
  if (state.finishReason !== undefined) return { state: { ...state, done: true }, out: closing(state, opts) };
  return { state: { ...state, done: true }, out: openaiErrorFrame('Upstream stream ended before the message was complete') };
}

/** Parses one upstream SSE event into an Anthropic stream event; undefined when it is not one. */
export function parseAnthropicEvent(event: SseEvent): AnthropicStreamEvent | undefined {
  const value = tryParseJson(event.data);
  if (!isJsonObject(value) || typeof value.type !== 'string') return undefined;
  return value as unknown as AnthropicStreamEvent;
}

export function createAnthropicToOpenaiStream(opts: AnthropicToOpenaiStreamOptions): StreamTranslator {
  let state = initialAnthropicToOpenaiState;
  const run = (r: StepResult<AnthropicToOpenaiState>): string => {
    state = r.state;
    return r.out;
  };
  return {
    push(event) {
      const parsed = parseAnthropicEvent(event);
      if (!parsed) {
        if (state.done) return '';
        return run({ state: { ...state, done: true }, out: openaiErrorFrame('Upstream sent a malformed stream event') });
      }
      return run(stepAnthropicToOpenai(state, parsed, opts));
    },
    end: () => run(endAnthropicToOpenai(state, opts)),
    fail(message) {
      if (state.done) return '';
      return run({ state: { ...state, done: true }, out: openaiErrorFrame(message) });
    },
    /** Only once message_delta reported the final counts: a cut-off stream is better estimated. */
    usage: (): Usage | undefined => (state.usage && state.usageFinal ? usageFromAnthropic(state.usage) : undefined),
    deliveredText: () => state.text,
  };
}
