import type { SseEvent } from '../types.js';
import { isJsonObject, tryParseJson, type JsonObject } from './json.js';

/**
 * Folding a client-format SSE stream into the one JSON answer the same client gets without
 * `stream` (docs/gateway.md "Always-streaming upstreams"). The engine feeds an aggregator the
 * events its stream translator writes — exactly what a streaming client would read — so the
 * folded answer is the streamed answer, whole. Aggregators are pure (no I/O, no clock); their
 * state is the accumulator they close over, advanced one event at a time.
 */
export interface StreamAggregator {
  /** One client-format event. Throws `AggregateStreamError` on an error event. */
  push(event: SseEvent): void;
  /**
   * The stream ended: the whole answer. Throws `AggregateStreamError` when the stream ended before
   * the answer was complete (no terminal event) — a half answer is never returned.
   */
  finish(): JsonObject;
}

/**
 * A stream that cannot be folded into an answer. `fromUpstream` when the upstream itself reported
 * the failure (its message is in `message`); otherwise the stream ended early or was malformed.
 */
export class AggregateStreamError extends Error {
  readonly code = 'aggregate_stream_error';

  constructor(
    message: string,
    readonly fromUpstream: boolean,
  ) {
    super(message);
    this.name = 'AggregateStreamError';
  }
}

export const INCOMPLETE_MESSAGE = 'The upstream stream ended before the answer was complete';

/** An error event's message: `{error: {message}}`, `{error: "…"}` or `{message}` (Responses `error` events). */
export function upstreamErrorMessage(data: JsonObject): string {
  const error = data.error;
  if (typeof error === 'string' && error) return error;
  if (isJsonObject(error) && typeof error.message === 'string' && error.message) return error.message;
  if (typeof data.message === 'string' && data.message) return data.message;
  return 'The upstream reported an error mid-stream';
}

/** The event's JSON object; `'done'` for OpenAI's `[DONE]`; undefined for anything else (ignored). */
export function eventJson(event: SseEvent): JsonObject | 'done' | undefined {
  if (event.data === '[DONE]') return 'done';
  const value = tryParseJson(event.data);
  return isJsonObject(value) ? value : undefined;
}
