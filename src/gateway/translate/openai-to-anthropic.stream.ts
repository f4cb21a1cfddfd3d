import type { SseEvent, StreamTranslator, Usage } from '../types.js';
import { openaiFinishToAnthropic } from './anthropic-openai.js';
import { isJsonObject, tryParseJson } from './json.js';
import { anthropicErrorFrame, anthropicFrame } from './sse-frames.js';
import type { StepResult } from './anthropic-to-openai.stream.js';
import { usageFromOpenai, usageToAnthropic } from './usage.js';
import type { OpenAIChatChunk, OpenAIErrorBody, OpenAIFinishReason, OpenAIUsage } from './wire/openai.js';

/**
 * OpenAI chat.completion.chunk stream → Anthropic Messages stream.
 *
 * The first chunk opens the message (message_start). Content opens a text block, each new tool
 * call (a tool_calls entry with an id) closes the open block and opens a tool_use block whose
 * argument fragments become input_json_delta. finish_reason closes the open block; usage comes
 * from the include_usage chunk (the gateway always asks OpenAI-style upstreams for it), so
 * message_delta (stop_reason + usage) and message_stop wait for `data: [DONE]` or the end of the
 * upstream. Only the first choice is read.
 */

export interface OpenaiToAnthropicStreamOptions {
  /** The model name the client asked for. */
  model: string;
  /** Message id, e.g. `msg_<request id>`. */
  id: string;
}

type OpenBlock = { kind: 'text'; index: number } | { kind: 'tool'; index: number; toolIndex: number };

export interface OpenaiToAnthropicState {
  started: boolean;
  open: OpenBlock | undefined;
  nextBlock: number;
  /** OpenAI tool_calls[].index values already given a block. */
  tools: readonly number[];
  finishReason: OpenAIFinishReason | undefined;
  usage: OpenAIUsage | undefined;
  done: boolean;
  text: string;
}

export const initialOpenaiToAnthropicState: OpenaiToAnthropicState = {
  started: false,
  open: undefined,
  nextBlock: 0,
  tools: [],
  finishReason: undefined,
  usage: undefined,
  done: false,
  text: '',
};

export type OpenaiStreamItem =
  | { kind: 'chunk'; chunk: OpenAIChatChunk }
  | { kind: 'done' }
  | { kind: 'error'; body: OpenAIErrorBody }
  /** Well-formed JSON that is not a chunk (vendor keep-alives): ignored. */
  | { kind: 'other' };

/** One upstream item → the next state and the SSE text to write. Pure. */
export function stepOpenaiToAnthropic(
  state: OpenaiToAnthropicState,
  item: OpenaiStreamItem,
  opts: OpenaiToAnthropicStreamOptions,
): StepResult<OpenaiToAnthropicState> {
  if (state.done) return { state, out: '' };
  if (item.kind === 'other') return { state, out: '' };
  if (item.kind === 'done') return finish(state, opts);
  if (item.kind === 'error') {
    const message = item.body.error?.message ?? 'Upstream error';
    return { state: { ...state, done: true }, out: anthropicErrorFrame(message) };
  }

  let s = state;
  let out = '';
  if (!s.started) {
    out += anthropicFrame({
      type: 'message_start',
      message: {
        id: opts.id,
        type: 'message',
        role: 'assistant',
        model: opts.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        // OpenAI reports usage only at the end; message_delta carries the real counts.
        usage: { input_tokens: 0, output_tokens: 0 },
      },
    });
    s = { ...s, started: true };
  }
  const close = (): void => {
    if (s.open) {
      out += anthropicFrame({ type: 'content_block_stop', index: s.open.index });
      s = { ...s, open: undefined };
    }
  };

  const chunk = item.chunk;
  if (chunk.usage) s = { ...s, usage: chunk.usage };
  const choice = chunk.choices?.find((c) => c.index === 0) ?? (chunk.choices?.length === 1 ? chunk.choices[0] : undefined);
  if (!choice) return { state: s, out };
  const delta = choice.delta ?? {};

  const text = (delta.content ?? '') + (delta.refusal ?? '');
  if (text !== '') {
    if (s.open?.kind !== 'text') {
      close();
      const index = s.nextBlock;
      out += anthropicFrame({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
      s = { ...s, open: { kind: 'text', index }, nextBlock: index + 1 };
    }
    out += anthropicFrame({ type: 'content_block_delta', index: s.open?.index ?? 0, delta: { type: 'text_delta', text } });
    s = { ...s, text: s.text + text };
  }

  for (const call of delta.tool_calls ?? []) {
    const toolIndex = call.index ?? 0;
    const isNew = !s.tools.includes(toolIndex);
    if (isNew) {
      close();
      const index = s.nextBlock;
      const name = call.function?.name ?? '';
      out += anthropicFrame({
        type: 'content_block_start',
        index,
        content_block: { type: 'tool_use', id: call.id ?? `toolu_${opts.id}_${toolIndex}`, name, input: {} },
      });
      s = { ...s, open: { kind: 'tool', index, toolIndex }, nextBlock: index + 1, tools: [...s.tools, toolIndex], text: s.text + name };
    }
    const args = call.function?.arguments ?? '';
    // Fragments for a tool call whose block was already closed (interleaved calls) cannot be sent.
    if (args !== '' && s.open?.kind === 'tool' && s.open.toolIndex === toolIndex) {
      out += anthropicFrame({ type: 'content_block_delta', index: s.open.index, delta: { type: 'input_json_delta', partial_json: args } });
      s = { ...s, text: s.text + args };
    }
  }

  if (choice.finish_reason) {
    close();
    s = { ...s, finishReason: choice.finish_reason };
  }
  return { state: s, out };
}

function finish(state: OpenaiToAnthropicState, opts: OpenaiToAnthropicStreamOptions): StepResult<OpenaiToAnthropicState> {
  let out = '';
  if (!state.started) {
    // An upstream that sent nothing but [DONE]: still give the client a well-formed, empty message.
    const started = stepOpenaiToAnthropic(state, { kind: 'chunk', chunk: { id: '', object: 'chat.completion.chunk', created: 0, model: '', choices: [] } }, opts);
    out += started.out;
    state = started.state;
  }
  if (state.open) out += anthropicFrame({ type: 'content_block_stop', index: state.open.index });
  const u = state.usage ? usageToAnthropic(usageFromOpenai(state.usage)) : undefined;
  out += anthropicFrame({
    type: 'message_delta',
    delta: { stop_reason: openaiFinishToAnthropic(state.finishReason), stop_sequence: null },
    usage: u
      ? { input_tokens: u.input_tokens, output_tokens: u.output_tokens, cache_read_input_tokens: u.cache_read_input_tokens ?? 0 }
      : { output_tokens: 0 },
  });
  out += anthropicFrame({ type: 'message_stop' });
  return { state: { ...state, open: undefined, done: true }, out };
}

/** Upstream ended without [DONE]: a clean close if a finish_reason arrived, else an error. */
export function endOpenaiToAnthropic(state: OpenaiToAnthropicState, opts: OpenaiToAnthropicStreamOptions): StepResult<OpenaiToAnthropicState> {
  if (state.done) return { state, out: '' };
  if (state.finishReason !== undefined) return finish(state, opts);
  return { state: { ...state, done: true }, out: anthropicErrorFrame('Upstream stream ended before the message was complete') };
}

/** One upstream SSE event → an OpenAI stream item; undefined when its data is not JSON. */
export function parseOpenaiItem(event: SseEvent): OpenaiStreamItem | undefined {
  const data = event.data.trim();
  if (data === '[DONE]') return { kind: 'done' };
  if (data === '') return { kind: 'other' };
  const value = tryParseJson(data);
  if (!isJsonObject(value)) return undefined;
  if (isJsonObject(value.error)) return { kind: 'error', body: value as unknown as OpenAIErrorBody };
  if (!Array.isArray(value.choices)) return { kind: 'other' };
  return { kind: 'chunk', chunk: value as unknown as OpenAIChatChunk };
}

/** What a translator of OpenAI chat chunks keeps in its state for the engine (usage, billing). */
export interface OpenaiStreamState {
  done: boolean;
  usage?: OpenAIUsage | undefined;
  text: string;
}

/**
 * A StreamTranslator over pure steps of OpenAI chat chunks → another dialect: a malformed event
 * or `fail` ends the stream with that dialect's error frame (once); usage and delivered text come
 * from the state. Shared by the Anthropic and Gemini client translators.
 */
export function openaiStepTranslator<S extends OpenaiStreamState>(
  initial: S,
  step: (state: S, item: OpenaiStreamItem) => StepResult<S>,
  end: (state: S) => StepResult<S>,
  errorFrame: (message: string) => string,
): StreamTranslator {
  let state = initial;
  const run = (r: StepResult<S>): string => {
    state = r.state;
    return r.out;
  };
  const failWith = (message: string): string => (state.done ? '' : run({ state: { ...state, done: true }, out: errorFrame(message) }));
  return {
    push(event) {
      const item = parseOpenaiItem(event);
      return item ? run(step(state, item)) : failWith('Upstream sent a malformed stream event');
    },
    end: () => run(end(state)),
    fail: failWith,
    usage: (): Usage | undefined => (state.usage ? usageFromOpenai(state.usage) : undefined),
    deliveredText: () => state.text,
  };
}

export function createOpenaiToAnthropicStream(opts: OpenaiToAnthropicStreamOptions): StreamTranslator {
  return openaiStepTranslator(initialOpenaiToAnthropicState, (state, item) => stepOpenaiToAnthropic(state, item, opts), (state) => endOpenaiToAnthropic(state, opts), anthropicErrorFrame);
}
