import { formatSse } from '../sse.js';
import { anthropicToOpenaiChat, openaiChatToAnthropicResponse } from '../translate/anthropic-openai.js';
import { createAnthropicToOpenaiStream } from '../translate/anthropic-to-openai.stream.js';
import { createGeminiToOpenaiStream } from '../translate/gemini-to-openai.stream.js';
import { anthropicToOpenaiChatResponse, openaiChatToAnthropic } from '../translate/openai-anthropic.js';
import { geminiToOpenaiChatResponse, openaiChatToGemini } from '../translate/openai-gemini.js';
import { createOpenaiToAnthropicStream } from '../translate/openai-to-anthropic.stream.js';
import { createOpenaiUsageStripper } from '../translate/openai-passthrough.js';
import { anthropicToResponses, DEFAULT_RESPONSES_INSTRUCTIONS, openaiChatToResponses, responsesToOpenaiChatResponse, usageFromResponses } from '../translate/openai-responses.js';
import { chainStreams, createResponsesToOpenaiStream } from '../translate/openai-responses.stream.js';
import { anthropicErrorFrame } from '../translate/sse-frames.js';
import { anthropicToGemini, geminiToAnthropicResponse } from '../translate/anthropic-gemini.js';
import { anthropicToGeminiResponse, geminiToAnthropic } from '../translate/gemini-anthropic.js';
import { geminiToOpenaiChat, openaiChatToGeminiResponse } from '../translate/gemini-openai.js';
import { geminiToResponses } from '../translate/gemini-responses.js';
import { createOpenaiToGeminiStream } from '../translate/openai-to-gemini.stream.js';
import { mergeAnthropicUsage, usageFromAnthropic, usageFromGemini, usageFromOpenai } from '../translate/usage.js';
import type { AnthropicDeltaUsage, AnthropicUsage } from '../translate/wire/anthropic.js';
import type { GeminiUsageMetadata } from '../translate/wire/gemini.js';
import type { OpenAIUsage } from '../translate/wire/openai.js';
import type { AnthropicRequest } from '../translate/wire/anthropic.js';
import type { OpenAIChatRequest, OpenAIChatResponse } from '../translate/wire/openai.js';
import type { AnthropicResponse } from '../translate/wire/anthropic.js';
import type { GeminiResponse } from '../translate/wire/gemini.js';
import type { ResponsesResponse, ResponsesUsage } from '../translate/wire/responses.js';
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

/**
 * OpenAI chat clients on an upstream that serves only the Responses API (Codex): chat → Responses
 * request, Responses stream → chat chunks (docs/bridges.md). A non-stream client on an
 * always-streaming upstream gets the chunks folded by the engine (relayAggregated).
 */
export const openaiChatOnResponses: Bridge = {
  clientFormat: 'openai',
  upstreamFormat: 'openai',
  upstreamOp: () => 'responses',
  requestBody: (r) =>
    JSON.stringify(openaiChatToResponses(r.body as unknown as OpenAIChatRequest, { upstreamModel: r.upstreamModel, stream: r.stream, defaultInstructions: DEFAULT_RESPONSES_INSTRUCTIONS })),
  response: (upstream, _raw, ctx) => ({ body: JSON.stringify(chatFromResponses(upstream, ctx)), usage: responsesUsage(upstream) }),
  stream: (ctx) => createResponsesToOpenaiStream({ id: `chatcmpl-${ctx.requestId}`, created: ctx.created, model: ctx.publicModel, includeUsage: ctx.clientWantsUsage }),
  errorMessage: errorMessageOf,
};

/** A whole Responses answer as a chat completion; a failed response is the upstream's failure (502). */
function chatFromResponses(upstream: Json, ctx: BridgeResponseContext): OpenAIChatResponse {
  const res = upstream as ResponsesResponse;
  if (res.status === 'failed') throw gatewayErrors.upstreamFailed(`The upstream provider failed: ${res.error?.message ?? 'the response failed'}`);
  return responsesToOpenaiChatResponse(res, { model: ctx.publicModel, id: `chatcmpl-${ctx.requestId}`, created: ctx.created });
}

/**
 * Anthropic clients on a Responses-only upstream (only with dp_claude_cross_upstream on): the
 * Anthropic ↔ chat mapping of anthropicOnOpenai composed with the chat ↔ Responses one.
 */
export const anthropicOnResponses: Bridge = {
  clientFormat: 'anthropic',
  upstreamFormat: 'openai',
  upstreamOp: () => 'responses',
  requestBody: (r) =>
    JSON.stringify(anthropicToResponses(r.body as unknown as AnthropicRequest, { upstreamModel: r.upstreamModel, stream: r.stream, defaultInstructions: DEFAULT_RESPONSES_INSTRUCTIONS })),
  response: (upstream, _raw, ctx) => ({
    body: JSON.stringify(openaiChatToAnthropicResponse(chatFromResponses(upstream, ctx), { model: ctx.publicModel, id: `msg_${ctx.requestId}` })),
    usage: responsesUsage(upstream),
  }),
  stream: (ctx) =>
    chainStreams(
      createResponsesToOpenaiStream({ id: `chatcmpl-${ctx.requestId}`, created: ctx.created, model: ctx.publicModel, includeUsage: true }),
      createOpenaiToAnthropicStream({ model: ctx.publicModel, id: `msg_${ctx.requestId}` }),
    ),
  errorMessage: errorMessageOf,
};

/**
 * Anthropic clients on a Gemini upstream (only with dp_claude_cross_upstream on): the Anthropic ↔
 * chat mapping of anthropicOnOpenai composed with the chat ↔ Gemini one of openaiChatOnGemini.
 */
export const anthropicOnGemini: Bridge = {
  clientFormat: 'anthropic',
  upstreamFormat: 'gemini',
  upstreamOp: (stream) => (stream ? 'stream_generate_content' : 'generate_content'),
  requestBody: (r) => JSON.stringify(anthropicToGemini(r.body as unknown as AnthropicRequest, { upstreamModel: r.upstreamModel })),
  response: (upstream, _raw, ctx) => ({
    body: JSON.stringify(geminiToAnthropicResponse(upstream as unknown as GeminiResponse, { model: ctx.publicModel, id: `msg_${ctx.requestId}` })),
    usage: geminiUsage(upstream),
  }),
  // The first stage's id seeds the ids of function calls Gemini sent without one: the same as the non-stream answer's.
  stream: (ctx) =>
    chainStreams(
      createGeminiToOpenaiStream({ id: `msg_${ctx.requestId}`, created: ctx.created, model: ctx.publicModel, includeUsage: true }),
      createOpenaiToAnthropicStream({ model: ctx.publicModel, id: `msg_${ctx.requestId}` }),
    ),
  errorMessage: errorMessageOf,
};

/** Gemini clients on an OpenAI-style upstream (only with dp_gemini_cross_upstream on). */
export const geminiOnOpenai: Bridge = {
  clientFormat: 'gemini',
  upstreamFormat: 'openai',
  upstreamOp: () => 'chat',
  requestBody: (r) => JSON.stringify(geminiToOpenaiChat(r.body, { upstreamModel: r.upstreamModel, stream: r.stream })),
  response: (upstream, _raw, ctx) => ({
    body: JSON.stringify(openaiChatToGeminiResponse(upstream as unknown as OpenAIChatResponse, { model: ctx.publicModel, id: ctx.requestId })),
    usage: openaiUsage(upstream),
  }),
  stream: (ctx) => createOpenaiToGeminiStream({ model: ctx.publicModel, id: ctx.requestId }),
  errorMessage: errorMessageOf,
};

/** Gemini clients on an Anthropic upstream (only with dp_gemini_cross_upstream on): Gemini ↔ chat composed with chat ↔ Anthropic. */
export const geminiOnAnthropic: Bridge = {
  clientFormat: 'gemini',
  upstreamFormat: 'anthropic',
  upstreamOp: () => 'messages',
  requestBody: (r) => JSON.stringify(geminiToAnthropic(r.body, { upstreamModel: r.upstreamModel, stream: r.stream, defaultMaxTokens: DEFAULT_ANTHROPIC_MAX_TOKENS })),
  response: (upstream, _raw, ctx) => ({
    body: JSON.stringify(anthropicToGeminiResponse(upstream as unknown as AnthropicResponse, { model: ctx.publicModel, id: ctx.requestId })),
    usage: anthropicUsage(upstream),
  }),
  stream: (ctx) =>
    chainStreams(
      createAnthropicToOpenaiStream({ id: `chatcmpl-${ctx.requestId}`, created: ctx.created, model: ctx.publicModel, includeUsage: true }),
      createOpenaiToGeminiStream({ model: ctx.publicModel, id: ctx.requestId }),
    ),
  errorMessage: errorMessageOf,
};

/** Gemini clients on a Responses-only upstream (only with dp_gemini_cross_upstream on): Gemini ↔ chat composed with chat ↔ Responses. */
export const geminiOnResponses: Bridge = {
  clientFormat: 'gemini',
  upstreamFormat: 'openai',
  upstreamOp: () => 'responses',
  requestBody: (r) => JSON.stringify(geminiToResponses(r.body, { upstreamModel: r.upstreamModel, stream: r.stream, defaultInstructions: DEFAULT_RESPONSES_INSTRUCTIONS })),
  response: (upstream, _raw, ctx) => ({
    body: JSON.stringify(openaiChatToGeminiResponse(chatFromResponses(upstream, ctx), { model: ctx.publicModel, id: ctx.requestId })),
    usage: responsesUsage(upstream),
  }),
  stream: (ctx) =>
    chainStreams(
      createResponsesToOpenaiStream({ id: `chatcmpl-${ctx.requestId}`, created: ctx.created, model: ctx.publicModel, includeUsage: true }),
      createOpenaiToGeminiStream({ model: ctx.publicModel, id: ctx.requestId }),
    ),
  errorMessage: errorMessageOf,
};

const isGeminiGenerate = (op: Operation): boolean => op === 'generate_content' || op === 'stream_generate_content';

/** The bridge for a client operation on an upstream that serves only the Responses API, if any. */
function responsesOnlyBridge(op: Operation, client: WireFormat, features: Readonly<Record<string, string>>): Bridge | undefined {
  if (client === 'openai' && op === 'chat') return openaiChatOnResponses;
  if (client === 'anthropic' && op === 'messages' && features.dp_claude_cross_upstream === 'true') return anthropicOnResponses;
  if (client === 'gemini' && isGeminiGenerate(op) && features.dp_gemini_cross_upstream === 'true') return geminiOnResponses;
  return undefined;
}

/**
 * The bridge for a client operation on an upstream dialect, or undefined when there is none.
 * `supports` (the adapter's) picks the Responses translation for an OpenAI-dialect upstream that
 * does not serve the client's own operation but serves `responses` (Codex).
 */
export function bridgeFor(
  op: Operation,
  client: WireFormat,
  upstream: WireFormat,
  features: Readonly<Record<string, string>>,
  supports?: (op: Operation) => boolean,
): Bridge | undefined {
  const direct = directBridgeFor(op, client, upstream, features);
  // OpenAI-dialect bridges call one operation whatever `stream` is, so upstreamOp(false) is the one.
  if (!supports || upstream !== 'openai' || (direct && supports(direct.upstreamOp(false))) || !supports('responses')) return direct;
  return responsesOnlyBridge(op, client, features) ?? direct;
}

function directBridgeFor(op: Operation, client: WireFormat, upstream: WireFormat, features: Readonly<Record<string, string>>): Bridge | undefined {
  if (client === upstream) return (BRIDGES[client] as Partial<Record<Operation, Bridge>>)[op];
  if (client === 'openai' && op === 'chat') return upstream === 'anthropic' ? openaiChatOnAnthropic : openaiChatOnGemini;
  if (client === 'anthropic' && op === 'messages' && upstream === 'openai' && features.dp_claude_cross_upstream === 'true') return anthropicOnOpenai;
  if (client === 'anthropic' && op === 'messages' && upstream === 'gemini' && features.dp_claude_cross_upstream === 'true') return anthropicOnGemini;
  if (client === 'gemini' && isGeminiGenerate(op) && features.dp_gemini_cross_upstream === 'true') return upstream === 'openai' ? geminiOnOpenai : geminiOnAnthropic;
  return undefined;
}
