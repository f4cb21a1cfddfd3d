import type { Operation, StreamTranslator, Usage, WireFormat } from '../types.js';

/**
 * How one client operation reaches one upstream dialect: the upstream operation, the request
 * body in the upstream's dialect, and the way back (a whole JSON response, or a stream). Same-
 * dialect bridges pass bodies through (only `model` changes); cross-dialect ones translate.
 * The table of bridges is src/gateway/proxy/bridges.ts.
 */
export interface BridgeRequest {
  /** The client's parsed body. */
  body: Record<string, unknown>;
  /** The client's raw bytes, forwarded as-is when nothing needs to change. */
  raw: Buffer;
  /** What the client asked for (`model` field or path). */
  publicModel: string;
  upstreamModel: string;
  stream: boolean;
}

export interface BridgeResponseContext {
  requestId: string;
  publicModel: string;
  /** Unix seconds, for `created` fields. */
  created: number;
  /** The client asked for usage in its stream (OpenAI `stream_options.include_usage`). */
  clientWantsUsage: boolean;
}

export interface Bridge {
  clientFormat: WireFormat;
  upstreamFormat: WireFormat;
  /** The upstream operation; Gemini's depends on whether the call streams. */
  upstreamOp(stream: boolean): Operation;
  /** The upstream body; a Buffer when forwarded untouched. */
  requestBody(request: BridgeRequest): Buffer | string;
  /** Non-streamed: the upstream's JSON (already unwrapped) → the client's body and usage. */
  response(upstream: Record<string, unknown>, raw: Buffer, ctx: BridgeResponseContext): { body: Buffer | string; usage: Usage | undefined };
  /** Streamed: a translator from upstream SSE events to the client's SSE text. */
  stream(ctx: BridgeResponseContext): StreamTranslator;
  /** An upstream error body → the message to give the client (already redacted by the caller). */
  errorMessage(upstream: unknown): string | undefined;
}
