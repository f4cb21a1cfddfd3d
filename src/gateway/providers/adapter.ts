import type { ProviderType } from '../../domain/provider-presets.js';
import type { ProviderSnapshot } from '../../lib/redis-layout.js';
import type { Operation, WireFormat } from '../types.js';

/**
 * The contract every provider family implements (STYLE.md "Providers as data"): one folder per
 * family under `src/gateway/providers/`, one registry (`registry.ts`), one generic engine that
 * applies them. Adapters are data plus pure functions: no I/O, no clock, no randomness (the request
 * id is passed in), so they are table-tested in test/unit/providers/.
 *
 * How the engine uses an adapter, per attempt:
 * 1. `adapterFor(provider.type)`; `supports(op)` false → this provider cannot serve the request.
 * 2. `target({ op, provider, upstreamModel, stream })` → where to send it: `origin` keys the undici
 *    Pool, `path` is path + query, `headers` carry the credential and the headers the upstream
 *    requires. Throws `ProviderConfigError` when the snapshot cannot produce a request (no base URL
 *    for `compatible`, no credential yet, no project for Vertex/Code Assist…): a configuration
 *    fault of that upstream key, not of the client — skip to the next candidate, never retry it.
 * 3. `upstreamHeaders(target.headers, clientHeaders, op)` (headers.ts) adds the few client headers
 *    the engine forwards.
 * 4. The body in the upstream's wire format (`wireFormat`), with `model` already set to
 *    `upstreamModel` where that dialect carries it in the body, goes through `wrapBody` when the
 *    adapter defines one (Code Assist envelope, Codex's required flags).
 * 5. Each upstream SSE `data:` JSON object — and a non-streamed JSON body — goes through
 *    `unwrapEvent` when defined, before the translator for `wireFormat` sees it.
 */

export interface TargetArgs {
  /** The operation in the upstream's dialect (after any translation). */
  op: Operation;
  provider: ProviderSnapshot;
  /** The model name the binding resolved for this provider (not URL-encoded). */
  upstreamModel: string;
  /** Whether the upstream call streams. For the Gemini dialect, `op === 'stream_generate_content'` also streams. */
  stream: boolean;
}

export interface UpstreamTarget {
  /** `scheme://host[:port]`, no path, no trailing slash: the key of the undici Pool. */
  origin: string;
  /** Path plus query, starting with `/`, never containing `//`, never carrying a credential. */
  path: string;
  /** Credential and required headers, lower-case names. */
  headers: Record<string, string>;
}

export interface WrapContext extends TargetArgs {
  /** The gateway's request id (X-Request-ID), for upstreams that want one in the body. */
  requestId: string;
}

export interface ProviderAdapter {
  /** The folder's name, for logs and tests. */
  readonly family: string;
  /** Provider types (normalized) this adapter serves; each type belongs to exactly one adapter. */
  readonly types: readonly ProviderType[];
  /** The dialect the upstream speaks: the engine translates the client's request into it. */
  readonly wireFormat: WireFormat;
  /** Operations the upstream serves natively (data; `supports` reads it). */
  readonly operations: readonly Operation[];
  /**
   * True when the upstream answers with an SSE stream whatever the request asks (Codex): the engine
   * must aggregate the stream itself for a client that did not ask to stream.
   */
  readonly alwaysStreams: boolean;
  supports(op: Operation): boolean;
  target(args: TargetArgs): UpstreamTarget;
  /** Rewrites the upstream-dialect body into the envelope the upstream expects. Pure; returns a new object. */
  wrapBody?(body: Record<string, unknown>, ctx: WrapContext): Record<string, unknown>;
  /** Unwraps one upstream SSE data object (or a whole non-streamed body) back into plain `wireFormat`. */
  unwrapEvent?(payload: Record<string, unknown>): Record<string, unknown>;
}

export type ProviderConfigReason =
  | 'missing_base_url'
  | 'invalid_base_url'
  | 'missing_credential'
  | 'unsupported_credential'
  | 'missing_project'
  | 'invalid_location'
  | 'missing_model'
  | 'unsupported_operation';

/**
 * A provider snapshot that cannot produce an upstream request. Messages name the provider and the
 * field, never a credential or a base URL (whose path may embed a token).
 */
export class ProviderConfigError extends Error {
  readonly code = 'provider_config_error';

  constructor(
    readonly reason: ProviderConfigReason,
    message: string,
    readonly providerId: number,
  ) {
    super(message);
    this.name = 'ProviderConfigError';
  }
}

/** Builds `supports` from the adapter's operation list. */
export function operationSet(operations: readonly Operation[]): (op: Operation) => boolean {
  const set = new Set<Operation>(operations);
  return (op) => set.has(op);
}

/** Throws `unsupported_operation` unless the adapter serves `op`. */
export function assertSupported(adapter: Pick<ProviderAdapter, 'family' | 'supports'>, args: TargetArgs): void {
  if (!adapter.supports(args.op)) {
    throw new ProviderConfigError(
      'unsupported_operation',
      `provider ${args.provider.id} (${args.provider.type}) does not serve operation "${args.op}"`,
      args.provider.id,
    );
  }
}
