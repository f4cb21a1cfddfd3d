/**
 * Shapes shared by the gateway's parts (translation, providers, limits, logs, the proxy engine).
 * The gateway reads only Redis; these types never mention the database.
 */

/** The API dialect a client speaks, or an upstream expects. */
export type WireFormat = 'openai' | 'anthropic' | 'gemini';

/** What a proxied request asks for, independent of dialect. */
export type Operation =
  | 'chat' // OpenAI POST /v1/chat/completions
  | 'completions' // OpenAI POST /v1/completions
  | 'embeddings' // OpenAI POST /v1/embeddings
  | 'responses' // OpenAI POST /v1/responses
  | 'messages' // Anthropic POST /v1/messages
  | 'count_tokens' // Anthropic POST /v1/messages/count_tokens
  | 'generate_content' // Gemini :generateContent
  | 'stream_generate_content'; // Gemini :streamGenerateContent

/** Token usage of one request, whatever dialect reported it. */
export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
}

/** One Server-Sent Event as parsed from (or written to) a stream. */
export interface SseEvent {
  /** `event:` field; undefined for unnamed events (OpenAI, Gemini). */
  event?: string;
  /** `data:` field (multi-line data joined with `\n`). */
  data: string;
}

/**
 * Translates an upstream stream into the client's dialect, one upstream event at a time. Each call
 * returns the SSE text to write to the client now (possibly empty). Implementations keep their
 * state explicit (a plain object advanced by pure functions) so they are table-testable.
 */
export interface StreamTranslator {
  push(event: SseEvent): string;
  /** Called once when the upstream stream ended cleanly; returns any closing events. */
  end(): string;
  /** Called when the upstream failed after the first byte: an error event in the client's dialect. */
  fail(message: string): string;
  /** Usage seen so far (upstream-reported), if any. */
  usage(): Usage | undefined;
  /** Text delivered to the client so far (for estimating usage when the upstream reports none). */
  deliveredText(): string;
}

/** One row of `request_logs`, as the gateway records it (DESIGN §4). Times are ISO strings. */
export interface RequestLogRecord {
  request_id: string;
  created_at: string;
  master_id: number | null;
  key_id: number | null;
  namespace: string | null;
  model: string | null;
  upstream_model: string | null;
  provider_group_id: number | null;
  api_key_id: number | null;
  format_in: WireFormat | null;
  format_out: WireFormat | null;
  stream: boolean;
  status_code: number;
  error_code: string | null;
  error_message: string | null;
  latency_ms: number;
  ttft_ms: number | null;
  prompt_tokens: number;
  completion_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  cost_list: number;
  cost_actual: number;
  /** `upstream` when the provider reported usage, `estimated` otherwise, null when no call was made. */
  usage_source: 'upstream' | 'estimated' | null;
  client_ip: string | null;
  attempts: number;
  request_body: string | null;
  abort_reason: string | null;
}
