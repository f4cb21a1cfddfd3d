import { formatSse } from '../sse.js';
import { anthropicToOpenaiChat, openaiChatToAnthropicResponse } from '../translate/anthropic-openai.js';
import { createAnthropicToOpenaiStream } from '../translate/anthropic-to-openai.stream.js';
import { createGeminiToOpenaiStream } from '../translate/gemini-to-openai.stream.js';
import { anthropicToOpenaiChatResponse, openaiChatToAnthropic } from '../translate/openai-anthropic.js';
import { geminiToOpenaiChatResponse, openaiChatToGemini } from '../translate/openai-gemini.js';
import { createOpenaiToAnthropicStream } from '../translate/openai-to-anthropic.stream.js';
import { createOpenaiUsageStripper } from '../translate/openai-passthrough.js';
import { anthropicErrorFrame } from '../translate/sse-frames.js';
import { mergeAnthropicUsage, usageFromAnthropic, usageFromGemini, usageFromOpenai } from '../translate/usage.js';
import type { AnthropicDeltaUsage, AnthropicUsage } from '../translate/wire/anthropic.js';
import type { GeminiUsageMetadata } from '../translate/wire/gemini.js';
import type { OpenAIUsage } from '../translate/wire/openai.js';
import type { AnthropicRequest } from '../translate/wire/anthropic.js';
import type { OpenAIChatRequest, OpenAIChatResponse } from '../translate/wire/openai.js';
import type { AnthropicResponse } from '../translate/wire/anthropic.js';
import type { GeminiResponse } from '../translate/wire/gemini.js';
import type { Operation, SseEvent, StreamTranslator, Usage, WireFormat } from '../types.js';
import { gatewayErrors } from '../errors.js';
import type { Bridge, BridgeRequest, BridgeResponseContext } from './bridge.js';
import { responsesIngress } from './responses-ingress.js';

/**
 * The bridge table: which client operation reaches which upstream dialect, and how. Same-dialect
 * bridges forward the client's bytes untouched when only nothing changes (model rewritten only
 * when the binding maps it), and stream upstream events through an observer that records usage.
 */

/** Anthropic requires max_tokens; this is used when an OpenAI client sends none. */
export const DEFAULT_ANTHROPIC_MAX_TOKENS = 4_096;

type Json = Record<string, unknown>;

function errorMessageOf(upstream: unknown): string | undefined {
  if (typeof upstream === 'string') return upstream.slice(0, 500) || undefined;
  const error = (upstream as { error?: unknown } | undefined)?.error;
  if (typeof error === 'string') return error;
  const message = (error as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? message : undefined;
}

/** The client's bytes when the model is unchanged, else the body with `model` replaced. */
function withModel(request: BridgeRequest, extra: Json = {}): Buffer | string {
  if (request.body.model === request.upstreamModel && Object.keys(extra).length === 0) return request.raw;
  return JSON.stringify({ ...request.body, model: request.upstreamModel, ...extra });
}

/** Collects the text a stream delivered, for estimating usage when the upstream reports none. */
class Delivered {
  private parts: string[] = [];
  add(text: unknown): void {
    if (typeof text === 'string' && text) this.parts.push(text);
  }
  text(): string {
    return this.parts.join('');
  }
}

function parseData(event: SseEvent): Json | undefined {
  if (!event.data || event.data === '[DONE]') return undefined;
  try {
    const parsed = JSON.parse(event.data) as unknown;
    return typeof parsed === 'object' && parsed !== null ? (parsed as Json) : undefined;
  } catch {
    return undefined;
  }
}

/** Anthropic → Anthropic stream: events pass through; usage from message_start + message_delta. */
export function anthropicPassthroughStream(): StreamTranslator {
  let usage: AnthropicUsage | undefined;
  const delivered = new Delivered();
  return {
    push(event) {
      const data = parseData(event);
      if (data?.type === 'message_start') usage = (data.message as { usage?: AnthropicUsage } | undefined)?.usage ?? usage;
      if (data?.type === 'message_delta' && data.usage) usage = mergeAnthropicUsage(usage, data.usage as AnthropicDeltaUsage);
      if (data?.type === 'content_block_delta') delivered.add((data.delta as { text?: unknown } | undefined)?.text);
      return formatSse(event);
    },
    end: () => '',
    fail: (message) => anthropicErrorFrame(message),
    usage: () => (usage ? usageFromAnthropic(usage) : undefined),
    deliveredText: () => delivered.text(),
  };
}

/** Gemini → Gemini stream: chunks pass through; the last usageMetadata is cumulative. */
export function geminiPassthroughStream(): StreamTranslator {
  let usage: Usage | undefined;
  const delivered = new Delivered();
  return {
    push(event) {
      const data = parseData(event);
      if (data?.usageMetadata) usage = usageFromGemini(data.usageMetadata as GeminiUsageMetadata);
      const candidates = data?.candidates as Array<{ content?: { parts?: Array<{ text?: unknown }> } }> | undefined;
      for (const part of candidates?.[0]?.content?.parts ?? []) delivered.add(part.text);
      return formatSse(event);
    },
    end: () => '',
    fail: (message) => formatSse({ data: JSON.stringify({ error: { code: 502, message, status: 'UNAVAILABLE' } }) }),
    usage: () => usage,
    deliveredText: () => delivered.text(),
  };
}

function passthrough(format: WireFormat, op: Operation, stream: (ctx: BridgeResponseContext) => StreamTranslator, requestBody: Bridge['requestBody'], usageOf: (json: Json) => Usage | undefined): Bridge {
  return {
    clientFormat: format,
    upstreamFormat: format,
    upstreamOp: () => op,
    requestBody,
    response: (upstream, raw) => ({ body: raw, usage: usageOf(upstream) }),
    stream,
    errorMessage: errorMessageOf,
  };
}

const openaiUsage = (json: Json) => (json.usage ? usageFromOpenai(json.usage as OpenAIUsage) : undefined);
const anthropicUsage = (json: Json) => (json.usage ? usageFromAnthropic(json.usage as AnthropicUsage) : undefined);
const geminiUsage = (json: Json) => (json.usageMetadata ? usageFromGemini(json.usageMetadata as GeminiUsageMetadata) : undefined);

/** OpenAI-style streams always ask for usage; the pass-through strips it again if unasked. */
function openaiBody(request: BridgeRequest): Buffer | string {
  if (!request.stream) return withModel(request);
  const options = (request.body.stream_options as Json | undefined) ?? {};
  if (options.include_usage === true) return withModel(request);
  return withModel(request, { stream_options: { ...options, include_usage: true } });
}

/** Responses API usage: `{input_tokens, output_tokens, input_tokens_details.cached_tokens}`. */
interface ResponsesUsage {
  input_tokens?: number;
  output_tokens?: number;
  input_tokens_details?: { cached_tokens?: number } | null;
}

function usageFromResponses(u: ResponsesUsage): Usage {
  return {
    prompt_tokens: u.input_tokens ?? 0,
    completion_tokens: u.output_tokens ?? 0,
    cache_read_tokens: u.input_tokens_details?.cached_tokens ?? 0,
    cache_write_tokens: 0,
  };
}

const responsesUsage = (json: Json) => (typeof json.usage === 'object' && json.usage !== null ? usageFromResponses(json.usage as ResponsesUsage) : undefined);

/**
 * The Responses ingress rule applied to the upstream body (responses-ingress.ts): refused fields
 * end the request with 400 `unsupported field "x"`; the client's bytes are forwarded untouched
 * when nothing was dropped and the model is unchanged.
 */
export function responsesBody(request: BridgeRequest): Buffer | string {
  const ingress = responsesIngress(request.body);
  if (!ingress.ok) throw gatewayErrors.invalidBody(ingress.message, ingress.field);
  if (ingress.dropped.length === 0 && request.body.model === request.upstreamModel) return request.raw;
  return JSON.stringify({ ...ingress.body, model: request.upstreamModel });
}

/** Responses → Responses stream: events pass through; usage from `response.completed` (or `.incomplete`/`.failed`). */
export function responsesPassthroughStream(): StreamTranslator {
  let usage: Usage | undefined;
  const delivered = new Delivered();
  return {
    push(event) {
      const data = parseData(event);
      if (data?.type === 'response.output_text.delta') delivered.add(data.delta);
      const response = data?.response as { usage?: ResponsesUsage | null } | undefined;
      if (typeof response?.usage === 'object' && response.usage !== null) usage = usageFromResponses(response.usage);
      return formatSse(event);
    },
    end: () => '',
    fail: (message) => formatSse({ event: 'error', data: JSON.stringify({ type: 'error', code: 'upstream_error', message, param: null }) }),
    usage: () => usage,
    deliveredText: () => delivered.text(),
  };
}

function openaiPassthrough(op: Operation): Bridge {
  return passthrough('openai', op, (ctx) => createOpenaiUsageStripper(ctx.clientWantsUsage), openaiBody, openaiUsage);
}

const BRIDGES = {
  openai: {
    chat: openaiPassthrough('chat'),
    completions: openaiPassthrough('completions'),
    embeddings: openaiPassthrough('embeddings'),
    responses: passthrough('openai', 'responses', () => responsesPassthroughStream(), responsesBody, responsesUsage),
  },
  anthropic: {
    messages: passthrough('anthropic', 'messages', () => anthropicPassthroughStream(), (r) => withModel(r), anthropicUsage),
    count_tokens: passthrough('anthropic', 'count_tokens', () => anthropicPassthroughStream(), (r) => withModel(r), () => undefined),
  },
  gemini: {
    generate_content: passthrough('gemini', 'generate_content', () => geminiPassthroughStream(), (r) => r.raw, geminiUsage),
    stream_generate_content: passthrough('gemini', 'stream_generate_content', () => geminiPassthroughStream(), (r) => r.raw, geminiUsage),
  },
} as const;

/** OpenAI chat clients on an Anthropic upstream. */
const openaiChatOnAnthropic: Bridge = {
  clientFormat: 'openai',
  upstreamFormat: 'anthropic',
  upstreamOp: () => 'messages',
  requestBody: (r) =>
    JSON.stringify(openaiChatToAnthropic(r.body as unknown as OpenAIChatRequest, { upstreamModel: r.upstreamModel, defaultMaxTokens: DEFAULT_ANTHROPIC_MAX_TOKENS })),
  response: (upstream, _raw, ctx) => ({
    body: JSON.stringify(anthropicToOpenaiChatResponse(upstream as unknown as AnthropicResponse, { model: ctx.publicModel, created: ctx.created })),
    usage: anthropicUsage(upstream),
  }),
  stream: (ctx) => createAnthropicToOpenaiStream({ id: `chatcmpl-${ctx.requestId}`, created: ctx.created, model: ctx.publicModel, includeUsage: ctx.clientWantsUsage }),
  errorMessage: errorMessageOf,
};

/** OpenAI chat clients on a Gemini upstream. */
const openaiChatOnGemini: Bridge = {
  clientFormat: 'openai',
  upstreamFormat: 'gemini',
  upstreamOp: (stream) => (stream ? 'stream_generate_content' : 'generate_content'),
  requestBody: (r) => JSON.stringify(openaiChatToGemini(r.body as unknown as OpenAIChatRequest, { upstreamModel: r.upstreamModel })),
  response: (upstream, _raw, ctx) => ({
    body: JSON.stringify(geminiToOpenaiChatResponse(upstream as unknown as GeminiResponse, { model: ctx.publicModel, id: `chatcmpl-${ctx.requestId}`, created: ctx.created })),
    usage: geminiUsage(upstream),
  }),
  stream: (ctx) => createGeminiToOpenaiStream({ id: `chatcmpl-${ctx.requestId}`, created: ctx.created, model: ctx.publicModel, includeUsage: ctx.clientWantsUsage }),
  errorMessage: errorMessageOf,
};

/** Anthropic clients on an OpenAI-style upstream (only with dp_claude_cross_upstream on). */
const anthropicOnOpenai: Bridge = {
  clientFormat: 'anthropic',
  upstreamFormat: 'openai',
  upstreamOp: () => 'chat',
  requestBody: (r) => JSON.stringify(anthropicToOpenaiChat(r.body as unknown as AnthropicRequest, { upstreamModel: r.upstreamModel })),
  response: (upstream, _raw, ctx) => ({
    body: JSON.stringify(openaiChatToAnthropicResponse(upstream as unknown as OpenAIChatResponse, { model: ctx.publicModel, id: `msg_${ctx.requestId}` })),
    usage: openaiUsage(upstream),
  }),
  stream: (ctx) => createOpenaiToAnthropicStream({ model: ctx.publicModel, id: `msg_${ctx.requestId}` }),
  errorMessage: errorMessageOf,
};

/** The bridge for a client operation on an upstream dialect, or undefined when there is none. */
export function bridgeFor(op: Operation, client: WireFormat, upstream: WireFormat, features: Readonly<Record<string, string>>): Bridge | undefined {
  if (client === upstream) return (BRIDGES[client] as Partial<Record<Operation, Bridge>>)[op];
  if (client === 'openai' && op === 'chat') return upstream === 'anthropic' ? openaiChatOnAnthropic : openaiChatOnGemini;
  if (client === 'anthropic' && op === 'messages' && upstream === 'openai' && features.dp_claude_cross_upstream === 'true') return anthropicOnOpenai;
  return undefined;
}
