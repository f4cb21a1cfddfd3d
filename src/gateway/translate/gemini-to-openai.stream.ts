import type { SseEvent, StreamTranslator, Usage } from '../types.js';
import type { StepResult } from './anthropic-to-openai.stream.js';
import { isJsonObject, tryParseJson } from './json.js';
import { candidateOutput, geminiCallId, geminiFinishToOpenai } from './openai-gemini.js';
import { OPENAI_DONE, openaiChunk, openaiErrorFrame, openaiFrame, openaiUsageChunk, type ChunkHeader } from './sse-frames.js';
import { usageFromGemini, usageToOpenai } from './usage.js';
import type { GeminiErrorBody, GeminiResponse, GeminiUsageMetadata } from './wire/gemini.js';
import type { OpenAIFinishReason } from './wire/openai.js';

/**
 * Gemini `:streamGenerateContent?alt=sse` → OpenAI chat.completion.chunk stream.
 *
 * Every Gemini event is a whole GenerateContentResponse holding the next piece of the first
 * candidate: text parts → `delta.content`, functionCall parts (always whole, never split) → one
 * complete `tool_calls` entry each. usageMetadata is a running total, so the last one wins.
 * Gemini has no end marker: the finish chunk goes out with the event carrying finishReason, and
 * the usage chunk (when the client asked) and `data: [DONE]` when the upstream ends.
 */

export interface GeminiToOpenaiStreamOptions extends ChunkHeader {
  /** The client sent stream_options.include_usage: true. */
  includeUsage: boolean;
}

export interface GeminiToOpenaiState {
  started: boolean;
  toolCount: number;
  finishReason: OpenAIFinishReason | undefined;
  usage: GeminiUsageMetadata | undefined;
  done: boolean;
  text: string;
}

export const initialGeminiToOpenaiState: GeminiToOpenaiState = {
  started: false,
  toolCount: 0,
  finishReason: undefined,
  usage: undefined,
  done: false,
  text: '',
};

export type GeminiStreamItem = { kind: 'response'; response: GeminiResponse } | { kind: 'error'; body: GeminiErrorBody };

/** One upstream event → the next state and the SSE text to write. Pure. */
export function stepGeminiToOpenai(
  state: GeminiToOpenaiState,
  item: GeminiStreamItem,
  opts: GeminiToOpenaiStreamOptions,
): StepResult<GeminiToOpenaiState> {
  if (state.done) return { state, out: '' };
  if (item.kind === 'error') {
    return { state: { ...state, done: true }, out: openaiErrorFrame(item.body.error.message, 'server_error', item.body.error.status ?? null) };
  }
  let s = state;
  let out = '';
  if (!s.started) {
    out += openaiFrame(openaiChunk(opts, { role: 'assistant', content: '' }));
    s = { ...s, started: true };
  }
  const res = item.response;
  if (res.usageMetadata) s = { ...s, usage: res.usageMetadata };
  const candidate = res.candidates?.[0];
  const { text, toolCalls } = candidateOutput(candidate, geminiCallId(opts.id), s.toolCount);
  if (text !== '') {
    out += openaiFrame(openaiChunk(opts, { content: text }));
    s = { ...s, text: s.text + text };
  }
  if (toolCalls.length > 0) {
    out += openaiFrame(
      openaiChunk(opts, {
        tool_calls: toolCalls.map((call, k) => ({ index: s.toolCount + k, id: call.id, type: 'function', function: call.function })),
      }),
    );
    s = { ...s, toolCount: s.toolCount + toolCalls.length, text: s.text + toolCalls.map((c) => c.function.name + c.function.arguments).join('') };
  }
  const blocked = !candidate && res.promptFeedback?.blockReason !== undefined;
  if ((candidate?.finishReason || blocked) && s.finishReason === undefined) {
    const finishReason = blocked ? 'content_filter' : geminiFinishToOpenai(candidate?.finishReason, s.toolCount > 0);
    out += openaiFrame(openaiChunk(opts, {}, finishReason));
    s = { ...s, finishReason };
  }
  return { state: s, out };
}

/** The upstream ended (Gemini's only end signal): close, or report a cut-off stream. */
export function endGeminiToOpenai(state: GeminiToOpenaiState, opts: GeminiToOpenaiStreamOptions): StepResult<GeminiToOpenaiState> {
  if (state.done) return { state, out: '' };
  if (state.finishReason === undefined) {
    return { state: { ...state, done: true }, out: openaiErrorFrame('Upstream stream ended before the message was complete') };
  }
  let out = '';
  if (opts.includeUsage && state.usage) out += openaiFrame(openaiUsageChunk(opts, usageToOpenai(usageFromGemini(state.usage))));
  return { state: { ...state, done: true }, out: out + OPENAI_DONE };
}

export function parseGeminiItem(event: SseEvent): GeminiStreamItem | undefined {
  const value = tryParseJson(event.data);
  if (!isJsonObject(value)) return undefined;
  if (isJsonObject(value.error)) return { kind: 'error', body: value as unknown as GeminiErrorBody };
  return { kind: 'response', response: value as GeminiResponse };
}

export function createGeminiToOpenaiStream(opts: GeminiToOpenaiStreamOptions): StreamTranslator {
  let state = initialGeminiToOpenaiState;
  const run = (r: StepResult<GeminiToOpenaiState>): string => {
    state = r.state;
    return r.out;
  };
  return {
    push(event) {
      const item = parseGeminiItem(event);
      if (!item) {
        if (state.done) return '';
        return run({ state: { ...state, done: true }, out: openaiErrorFrame('Upstream sent a malformed stream event') });
      }
      return run(stepGeminiToOpenai(state, item, opts));
    },
    end: () => run(endGeminiToOpenai(state, opts)),
    fail(message) {
      if (state.done) return '';
      return run({ state: { ...state, done: true }, out: openaiErrorFrame(message) });
    },
    /** Gemini's usageMetadata is a running total: what was seen so far is the best figure. */
    usage: (): Usage | undefined => (state.usage ? usageFromGemini(state.usage) : undefined),
    deliveredText: () => state.text,
  };
}
