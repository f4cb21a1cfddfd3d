import { createSseParser } from '../sse.js';
import type { SseEvent, StreamTranslator, Usage } from '../types.js';
import { isJsonObject, tryParseJson, type JsonObject } from './json.js';
import { responsesFinishReason, responsesUsageToOpenai, usageFromResponses } from './openai-responses.js';
import { OPENAI_DONE, openaiChunk, openaiErrorFrame, openaiFrame, openaiUsageChunk, type ChunkHeader } from './sse-frames.js';
import type { OpenAIFinishReason } from './wire/openai.js';
import type { ResponsesUsage } from './wire/responses.js';

/**
 * Responses API stream → OpenAI chat.completion.chunk stream (docs/bridges.md).
 *
 * response.created → the role chunk; response.output_text.delta → `delta.content`;
 * response.refusal.delta → `delta.refusal`; a function_call item (output_item.added) → a
 * `tool_calls` entry (index in order of appearance, id = call_id, name) followed by its
 * response.function_call_arguments.delta fragments; `.done` events only fill in what the deltas
 * did not deliver. response.completed / .incomplete → the finish chunk (`tool_calls`, `stop`,
 * `length`, `content_filter`), the usage chunk when the client asked for
 * stream_options.include_usage, and `data: [DONE]`. response.failed and `error` → an
 * `{"error":{...}}` frame that ends the stream. Reasoning and other events are dropped; data that
 * is not a JSON object is ignored.
 */

export interface ResponsesToOpenaiStreamOptions extends ChunkHeader {
  /** The client sent stream_options.include_usage: true. */
  includeUsage: boolean;
}

interface ToolSlot {
  /** The chat `tool_calls[].index`. */
  index: number;
  /** Argument text delivered so far. */
  args: string;
}

export interface ResponsesToOpenaiState {
  /** The role chunk went out. */
  started: boolean;
  /** Function-call items by `id:<item id>` and `at:<output_index>`. */
  tools: Readonly<Record<string, ToolSlot>>;
  toolCount: number;
  /** Text delivered so far per message item id (to fill in from `.done` what deltas missed). */
  itemText: Readonly<Record<string, string>>;
  usage: ResponsesUsage | undefined;
  /** A terminal event, an error or fail() ended the stream: later input is ignored. */
  done: boolean;
  /** Everything delivered to the client (content, refusal, tool names and arguments). */
  text: string;
}

export const initialResponsesToOpenaiState: ResponsesToOpenaiState = {
  started: false,
  tools: {},
  toolCount: 0,
  itemText: {},
  usage: undefined,
  done: false,
  text: '',
};

export interface StepResult<S> {
  state: S;
  out: string;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

function toolKeys(itemId: string | undefined, outputIndex: number | undefined): string[] {
  const keys: string[] = [];
  if (itemId !== undefined) keys.push(`id:${itemId}`);
  if (outputIndex !== undefined) keys.push(`at:${outputIndex}`);
  return keys;
}

function findTool(state: ResponsesToOpenaiState, itemId: string | undefined, outputIndex: number | undefined): ToolSlot | undefined {
  for (const key of toolKeys(itemId, outputIndex)) {
    const slot = state.tools[key];
    if (slot) return slot;
  }
  return undefined;
}

function withTool(state: ResponsesToOpenaiState, itemId: string | undefined, outputIndex: number | undefined, slot: ToolSlot): ResponsesToOpenaiState {
  const tools = { ...state.tools };
  for (const key of toolKeys(itemId, outputIndex)) tools[key] = slot;
  return { ...state, tools };
}

/** The part of `full` not yet delivered, when what was delivered is its beginning; else nothing. */
function remainder(full: string | undefined, sent: string): string {
  return full !== undefined && full.length > sent.length && full.startsWith(sent) ? full.slice(sent.length) : '';
}

/** The error message of an `error` event or a failed response. */
function errorMessage(data: JsonObject): string {
  const response = isJsonObject(data.response) ? data.response : undefined;
  const error = response && isJsonObject(response.error) ? response.error : isJsonObject(data.error) ? data.error : data;
  return str(error.message) || 'The upstream reported that the response failed';
}

/** One upstream event (its JSON and type) → the next state and the SSE text to write. Pure. */
export function stepResponsesToOpenai(state: ResponsesToOpenaiState, type: string, data: JsonObject, opts: ResponsesToOpenaiStreamOptions): StepResult<ResponsesToOpenaiState> {
  if (state.done) return { state, out: '' };
  let out = '';
  let s = state;
  const ensureStarted = (): void => {
    if (!s.started) {
      out += openaiFrame(openaiChunk(opts, { role: 'assistant', content: '' }));
      s = { ...s, started: true };
    }
  };
  const content = (itemId: string | undefined, text: string): void => {
    if (text === '') return;
    out += openaiFrame(openaiChunk(opts, { content: text }));
    s = { ...s, text: s.text + text };
    if (itemId !== undefined) s = { ...s, itemText: { ...s.itemText, [itemId]: (s.itemText[itemId] ?? '') + text } };
  };
  const args = (slot: ToolSlot, itemId: string | undefined, outputIndex: number | undefined, text: string): void => {
    if (text === '') return;
    out += openaiFrame(openaiChunk(opts, { tool_calls: [{ index: slot.index, function: { arguments: text } }] }));
    s = withTool({ ...s, text: s.text + text }, itemId, outputIndex, { ...slot, args: slot.args + text });
  };
  /** A function_call item seen for the first time: its tool_calls entry (with any arguments it already carries). */
  const openTool = (item: JsonObject, outputIndex: number | undefined): void => {
    const itemId = str(item.id);
    const name = str(item.name) ?? '';
    const slot: ToolSlot = { index: s.toolCount, args: '' };
    const callId = str(item.call_id) ?? itemId ?? `call_${opts.id}_${slot.index}`;
    out += openaiFrame(openaiChunk(opts, { tool_calls: [{ index: slot.index, id: callId, type: 'function', function: { name, arguments: '' } }] }));
    s = withTool({ ...s, toolCount: s.toolCount + 1, text: s.text + name }, itemId, outputIndex, slot);
    args(slot, itemId, outputIndex, str(item.arguments) ?? '');
  };
  const finish = (reason: OpenAIFinishReason): void => {
    out += openaiFrame(openaiChunk(opts, {}, reason));
    if (opts.includeUsage && s.usage) out += openaiFrame(openaiUsageChunk(opts, responsesUsageToOpenai(s.usage)));
    out += OPENAI_DONE;
    s = { ...s, done: true };
  };
  const outputIndex = num(data.output_index);
  const response = isJsonObject(data.response) ? data.response : undefined;
  if (response && isJsonObject(response.usage)) s = { ...s, usage: response.usage as ResponsesUsage };

  switch (type) {
    case 'response.created':
    case 'response.in_progress':
      ensureStarted();
      break;
    case 'response.output_text.delta':
      ensureStarted();
      content(str(data.item_id), str(data.delta) ?? '');
      break;
    case 'response.refusal.delta': {
      ensureStarted();
      const delta = str(data.delta) ?? '';
      if (delta !== '') {
        out += openaiFrame(openaiChunk(opts, { refusal: delta }));
        s = { ...s, text: s.text + delta };
      }
      break;
    }
    case 'response.output_item.added':
      ensureStarted();
      if (isJsonObject(data.item) && data.item.type === 'function_call' && !findTool(s, str(data.item.id), outputIndex)) openTool(data.item, outputIndex);
      break;
    case 'response.function_call_arguments.delta': {
      const slot = findTool(s, str(data.item_id), outputIndex);
      if (slot) args(slot, str(data.item_id), outputIndex, str(data.delta) ?? '');
      break;
    }
    case 'response.function_call_arguments.done': {
      const slot = findTool(s, str(data.item_id), outputIndex);
      if (slot) args(slot, str(data.item_id), outputIndex, remainder(str(data.arguments), slot.args));
      break;
    }
    case 'response.output_item.done': {
      ensureStarted();
      const item = isJsonObject(data.item) ? data.item : undefined;
      if (item?.type === 'function_call') {
        const slot = findTool(s, str(item.id), outputIndex);
        if (!slot) openTool(item, outputIndex);
        else args(slot, str(item.id), outputIndex, remainder(str(item.arguments), slot.args));
      } else if (item?.type === 'message' && Array.isArray(item.content)) {
        const full = (item.content as unknown[]).map((p) => (isJsonObject(p) && p.type === 'output_text' ? (str(p.text) ?? '') : '')).join('');
        const itemId = str(item.id);
        content(itemId, remainder(full, itemId !== undefined ? (s.itemText[itemId] ?? '') : ''));
      }
      break;
    }
    case 'response.completed':
    case 'response.incomplete': {
      ensureStarted();
      const reason = response && isJsonObject(response.incomplete_details) ? str(response.incomplete_details.reason) : undefined;
      finish(responsesFinishReason(type === 'response.incomplete' ? 'incomplete' : 'completed', reason, s.toolCount > 0));
      break;
    }
    case 'response.failed':
    case 'error':
      out += openaiErrorFrame(errorMessage(data), 'server_error', str(data.code) ?? 'upstream_error');
      s = { ...s, done: true };
      break;
    default: // reasoning, content_part, *.done for text, future event types
      break;
  }
  return { state: s, out };
}

/** Upstream ended without a terminal event: the answer is incomplete, so the client gets an error frame. */
export function endResponsesToOpenai(state: ResponsesToOpenaiState): StepResult<ResponsesToOpenaiState> {
  if (state.done) return { state, out: '' };
  return { state: { ...state, done: true }, out: openaiErrorFrame('Upstream stream ended before the response was complete') };
}

export function createResponsesToOpenaiStream(opts: ResponsesToOpenaiStreamOptions): StreamTranslator {
  let state = initialResponsesToOpenaiState;
  const run = (r: StepResult<ResponsesToOpenaiState>): string => {
    state = r.state;
    return r.out;
  };
  return {
    push(event: SseEvent) {
      if (state.done) return '';
      const data = tryParseJson(event.data);
      if (!isJsonObject(data)) return '';
      const type = str(data.type) ?? event.event;
      return type === undefined ? '' : run(stepResponsesToOpenai(state, type, data, opts));
    },
    end: () => run(endResponsesToOpenai(state)),
    fail(message) {
      if (state.done) return '';
      return run({ state: { ...state, done: true }, out: openaiErrorFrame(message) });
    },
    usage: (): Usage | undefined => (state.usage ? usageFromResponses(state.usage) : undefined),
    deliveredText: () => state.text,
  };
}

/**
 * Two translators in a row (Responses → chat chunks → another client dialect): the first's SSE
 * text is parsed and fed to the second. Usage and the delivered text are the first's (the one
 * that saw the upstream); a failure is reported in the second's dialect.
 */
export function chainStreams(first: StreamTranslator, second: StreamTranslator): StreamTranslator {
  const parser = createSseParser();
  const feed = (text: string): string => {
    let out = '';
    if (text) for (const event of parser.push(text)) out += second.push(event);
    return out;
  };
  return {
    push: (event) => feed(first.push(event)),
    end() {
      let out = feed(first.end());
      for (const event of parser.end()) out += second.push(event);
      return out + second.end();
    },
    fail: (message) => second.fail(message),
    usage: () => first.usage(),
    deliveredText: () => first.deliveredText(),
  };
}
