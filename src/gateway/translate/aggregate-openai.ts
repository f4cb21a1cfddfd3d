import { AggregateStreamError, eventJson, INCOMPLETE_MESSAGE, upstreamErrorMessage, type StreamAggregator } from './aggregate-contract.js';
import { isJsonObject, type JsonObject } from './json.js';
import type { OpenAIChatResponse, OpenAIFinishReason, OpenAIResponseMessage, OpenAIToolCall, OpenAIUsage } from './wire/openai.js';

/**
 * OpenAI-format aggregators: chat.completion.chunk events → one `chat.completion`, and Responses
 * API events → one `response` object.
 */

interface ToolCallAcc {
  id: string;
  type: 'function';
  name: string;
  arguments: string;
}

interface ChoiceAcc {
  content: string;
  hasContent: boolean;
  refusal: string | null;
  /** By the chunk's `tool_calls[].index`. */
  toolCalls: Map<number, ToolCallAcc>;
  finishReason: OpenAIFinishReason | null;
}

const index = (value: unknown, fallback: number): number => (typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : fallback);

/**
 * Chat chunks → chat.completion: content and refusal concatenated per choice, tool calls merged
 * by their `index` (id, name and type from whichever chunk carries them, argument fragments
 * concatenated in order), the last non-null finish_reason, usage from the chunk that carries it
 * (the engine asks the translator for it). Complete once `[DONE]` or a finish_reason was seen; an
 * `{error}` chunk fails the whole answer.
 */
export function createOpenaiChatAggregator(): StreamAggregator {
  let head: { id: string; created: number; model: string; systemFingerprint?: string } | undefined;
  const choices = new Map<number, ChoiceAcc>();
  let usage: OpenAIUsage | undefined;
  let complete = false;

  function choiceAt(i: number): ChoiceAcc {
    let choice = choices.get(i);
    if (!choice) {
      choice = { content: '', hasContent: false, refusal: null, toolCalls: new Map(), finishReason: null };
      choices.set(i, choice);
    }
    return choice;
  }

  return {
    push(event) {
      const data = eventJson(event);
      if (data === 'done') {
        complete = true;
        return;
      }
      if (!data) return;
      if (data.error !== undefined) throw new AggregateStreamError(upstreamErrorMessage(data), true);
      if (!head && typeof data.id === 'string') {
        head = { id: data.id, created: typeof data.created === 'number' ? data.created : 0, model: typeof data.model === 'string' ? data.model : '' };
      }
      if (head && typeof data.system_fingerprint === 'string') head.systemFingerprint = data.system_fingerprint;
      if (isJsonObject(data.usage)) usage = data.usage as unknown as OpenAIUsage;
      const list = Array.isArray(data.choices) ? (data.choices as unknown[]) : [];
      list.forEach((raw, position) => {
        if (!isJsonObject(raw)) return;
        const choice = choiceAt(index(raw.index, position));
        const delta = isJsonObject(raw.delta) ? raw.delta : {};
        if (typeof delta.content === 'string') {
          choice.content += delta.content;
          choice.hasContent = true;
        }
        if (typeof delta.refusal === 'string') choice.refusal = (choice.refusal ?? '') + delta.refusal;
        const calls = Array.isArray(delta.tool_calls) ? (delta.tool_calls as unknown[]) : [];
        calls.forEach((rawCall, callPosition) => {
          if (!isJsonObject(rawCall)) return;
          const at = index(rawCall.index, callPosition);
          const call = choice.toolCalls.get(at) ?? { id: '', type: 'function' as const, name: '', arguments: '' };
          if (typeof rawCall.id === 'string' && rawCall.id) call.id = rawCall.id;
          const fn = isJsonObject(rawCall.function) ? rawCall.function : {};
          if (typeof fn.name === 'string' && fn.name) call.name = call.name && call.name !== fn.name ? call.name + fn.name : fn.name;
          if (typeof fn.arguments === 'string') call.arguments += fn.arguments;
          choice.toolCalls.set(at, call);
        });
        if (typeof raw.finish_reason === 'string') {
          choice.finishReason = raw.finish_reason as OpenAIFinishReason;
          complete = true;
        }
      });
    },
    finish() {
      if (!complete || !head) throw new AggregateStreamError(INCOMPLETE_MESSAGE, false);
      const out: OpenAIChatResponse = {
        id: head.id,
        object: 'chat.completion',
        created: head.created,
        model: head.model,
        choices: [...choices.entries()]
          .sort(([a], [b]) => a - b)
          .map(([i, choice]) => {
            const toolCalls: OpenAIToolCall[] = [...choice.toolCalls.entries()]
              .sort(([a], [b]) => a - b)
              .map(([, call]) => ({ id: call.id, type: call.type, function: { name: call.name, arguments: call.arguments } }));
            const message: OpenAIResponseMessage = {
              role: 'assistant',
              content: choice.hasContent ? choice.content : toolCalls.length > 0 ? null : '',
              refusal: choice.refusal,
              ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
            };
            return { index: i, message, finish_reason: choice.finishReason, logprobs: null };
          }),
        ...(usage ? { usage } : {}),
        ...(head.systemFingerprint !== undefined ? { system_fingerprint: head.systemFingerprint } : {}),
      };
      return out as unknown as JsonObject;
    },
  };
}

/** Responses API terminal events that carry a usable answer (`incomplete`: cut by max tokens or the like). */
const TERMINAL = new Set(['response.completed', 'response.incomplete']);

/**
 * Responses events → the `response` object: the one `response.completed` (or `.incomplete`)
 * carries. Codex's backend (store: false) sends that final object with an empty `output`, having
 * streamed each item in `response.output_item.done`: the output is then rebuilt from those items
 * by `output_index`, or, with no items at all, from the streamed text deltas. `response.failed`
 * and `error` events fail the whole answer with the upstream's message.
 */
export function createResponsesAggregator(): StreamAggregator {
  let terminal: JsonObject | undefined;
  const items = new Map<number, JsonObject>();
  let text = '';
  let textItemId: string | undefined;

  return {
    push(event) {
      const data = eventJson(event);
      if (!data || data === 'done') return;
      const type = typeof data.type === 'string' ? data.type : event.event;
      if (type === 'error') throw new AggregateStreamError(upstreamErrorMessage(data), true);
      if (type === 'response.failed') {
        const response = isJsonObject(data.response) ? data.response : {};
        throw new AggregateStreamError(isJsonObject(response.error) ? upstreamErrorMessage(response) : 'The upstream reported that the response failed', true);
      }
      if (type === 'response.output_item.done' && isJsonObject(data.item)) items.set(index(data.output_index, items.size), data.item);
      else if (type === 'response.output_text.delta' && typeof data.delta === 'string') {
        text += data.delta;
        if (typeof data.item_id === 'string') textItemId ??= data.item_id;
      } else if (type !== undefined && TERMINAL.has(type) && isJsonObject(data.response)) terminal = data.response;
    },
    finish() {
      if (!terminal) throw new AggregateStreamError(INCOMPLETE_MESSAGE, false);
      const output = terminal.output;
      if (Array.isArray(output) && output.length > 0) return terminal;
      if (items.size > 0) return { ...terminal, output: [...items.entries()].sort(([a], [b]) => a - b).map(([, item]) => item) };
      if (text === '') return { ...terminal, output: [] };
      const message = {
        type: 'message',
        id: textItemId ?? `msg_${typeof terminal.id === 'string' ? terminal.id : 'aggregated'}`,
        status: 'completed',
        role: 'assistant',
        content: [{ type: 'output_text', text, annotations: [] }],
      };
      return { ...terminal, output: [message] };
    },
  };
}
