import { formatSse } from '../sse.js';
import type { StreamTranslator } from '../types.js';
import type { StepResult } from './anthropic-to-openai.stream.js';
import { functionCallPart, openaiFinishToGemini, usageToGemini } from './gemini-openai.js';
import { openaiStepTranslator, type OpenaiStreamItem } from './openai-to-anthropic.stream.js';
import type { GeminiCandidate, GeminiPart, GeminiResponse } from './wire/gemini.js';
import type { OpenAIFinishReason, OpenAIUsage } from './wire/openai.js';

/**
 * OpenAI chat.completion.chunk stream → Gemini `streamGenerateContent?alt=sse` stream.
 *
 * Every Gemini event is a whole GenerateContentResponse holding the next piece of the first
 * candidate. Text (content and refusal deltas) goes out as it arrives, one `text` part per chunk.
 * Gemini sends function calls whole, never split: tool-call fragments are collected (by
 * `tool_calls[].index`) and go out as `functionCall` parts in the last event, which also carries
 * finishReason and usageMetadata. That event waits for `data: [DONE]` (or the end of an upstream
 * that already sent finish_reason), since the usage chunk follows the finish chunk. An upstream
 * error, a malformed event, an early end or fail() become a Gemini error event
 * (`{"error":{"code","message","status"}}`) and end the stream. Only the first choice is read.
 */

export interface OpenaiToGeminiStreamOptions {
  /** The model name the client asked for (`modelVersion`). */
  model: string;
  /** `responseId` of every event. */
  id: string;
}

interface ToolAcc {
  index: number;
  id: string | undefined;
  name: string;
  arguments: string;
}

export interface OpenaiToGeminiState {
  tools: readonly ToolAcc[];
  finishReason: OpenAIFinishReason | undefined;
  usage: OpenAIUsage | undefined;
  done: boolean;
  /** What reached the client: text, then the names and arguments of the calls once sent. */
  text: string;
}

export const initialOpenaiToGeminiState: OpenaiToGeminiState = { tools: [], finishReason: undefined, usage: undefined, done: false, text: '' };

/** How a Gemini stream reports a failure after the first byte. */
export function geminiErrorFrame(message: string, code = 502, status = 'UNAVAILABLE'): string {
  return formatSse({ data: JSON.stringify({ error: { code, message, status } }) });
}

function geminiEvent(opts: OpenaiToGeminiStreamOptions, parts: GeminiPart[], extra: Pick<GeminiCandidate, 'finishReason'> = {}, top: Pick<GeminiResponse, 'usageMetadata'> = {}): string {
  const response: GeminiResponse = { candidates: [{ content: { role: 'model', parts }, ...extra, index: 0 }], ...top, modelVersion: opts.model, responseId: opts.id };
  return formatSse({ data: JSON.stringify(response) });
}

/** One upstream item → the next state and the SSE text to write. Pure. */
export function stepOpenaiToGemini(state: OpenaiToGeminiState, item: OpenaiStreamItem, opts: OpenaiToGeminiStreamOptions): StepResult<OpenaiToGeminiState> {
  if (state.done || item.kind === 'other') return { state, out: '' };
  if (item.kind === 'done') return finish(state, opts);
  if (item.kind === 'error') return { state: { ...state, done: true }, out: geminiErrorFrame(item.body.error?.message ?? 'Upstream error') };

  let s = state;
  let out = '';
  const chunk = item.chunk;
  if (chunk.usage) s = { ...s, usage: chunk.usage };
  const choice = chunk.choices?.find((c) => c.index === 0) ?? (chunk.choices?.length === 1 ? chunk.choices[0] : undefined);
  if (!choice) return { state: s, out };
  const delta = choice.delta ?? {};
  const text = (delta.content ?? '') + (delta.refusal ?? '');
  if (text !== '') {
    out += geminiEvent(opts, [{ text }]);
    s = { ...s, text: s.text + text };
  }
  for (const call of delta.tool_calls ?? []) {
    const index = call.index ?? 0;
    const known = s.tools.find((t) => t.index === index);
    const updated: ToolAcc = {
      index,
      id: known?.id ?? call.id,
      name: known?.name || call.function?.name || '',
      arguments: (known?.arguments ?? '') + (call.function?.arguments ?? ''),
    };
    s = { ...s, tools: known ? s.tools.map((t) => (t === known ? updated : t)) : [...s.tools, updated] };
  }
  if (choice.finish_reason) s = { ...s, finishReason: choice.finish_reason };
  return { state: s, out };
}

/** The last event: the collected function calls, finishReason and usage. */
function finish(state: OpenaiToGeminiState, opts: OpenaiToGeminiStreamOptions): StepResult<OpenaiToGeminiState> {
  const calls = state.tools.map((t) => functionCallPart(t));
  const parts = calls.length > 0 ? calls : [{ text: '' }];
  const top = state.usage ? { usageMetadata: usageToGemini(state.usage) } : {};
  const out = geminiEvent(opts, parts, { finishReason: openaiFinishToGemini(state.finishReason) }, top);
  const delivered = state.tools.map((t) => t.name + t.arguments).join('');
  return { state: { ...state, done: true, text: state.text + delivered }, out };
}

/** Upstream ended without [DONE]: a clean close if a finish_reason arrived, else an error. */
export function endOpenaiToGemini(state: OpenaiToGeminiState, opts: OpenaiToGeminiStreamOptions): StepResult<OpenaiToGeminiState> {
  if (state.done) return { state, out: '' };
  if (state.finishReason !== undefined) return finish(state, opts);
  return { state: { ...state, done: true }, out: geminiErrorFrame('Upstream stream ended before the response was complete') };
}

export function createOpenaiToGeminiStream(opts: OpenaiToGeminiStreamOptions): StreamTranslator {
  return openaiStepTranslator(initialOpenaiToGeminiState, (state, item) => stepOpenaiToGemini(state, item, opts), (state) => endOpenaiToGemini(state, opts), geminiErrorFrame);
}
