import type { AdmitRequest, Refusal, SpendActual } from '../limits/index.js';
import type { Usage } from '../types.js';

export type { AdmitRequest } from '../limits/index.js';

/**
 * What the proxy engine needs from the limits, health and log parts, as narrow interfaces: the
 * engine is tested with real implementations, but does not depend on how they are built.
 */

export type AdmitResult =
  /** `settle`: the request's real tokens and, when it reserved spend, its real cost (never rejects). */
  | { ok: true; settle(actualTokens: number, spend?: SpendActual): Promise<void> }
  | ({ ok: false } & Refusal);

export interface LimitsPort {
  admit(request: AdmitRequest): Promise<AdmitResult>;
}

export interface HealthPort {
  /** Synchronous: may this upstream key be tried now? (Planning: unavailable keys go last.) */
  isAvailable(apiKeyId: number, nowMs: number): boolean;
  /**
   * Called just before sending to a key. A key whose breaker is half-open lets one probe through:
   * the first caller claims it (true), every other caller gets false and must skip the key. Keys
   * out for other reasons (cool-down, ban, open breaker) stay a last resort: true.
   */
  acquire(apiKeyId: number, nowMs: number): boolean;
  /** The request sent to a key ended without a verdict (the client left first): frees a claimed probe. */
  release(apiKeyId: number, nowMs: number): void;
  recordSuccess(apiKeyId: number, nowMs: number): void;
  recordFailure(apiKeyId: number, nowMs: number): void;
  /** 429 with Retry-After: keep the key out for that long. */
  coolDown(apiKeyId: number, untilMs: number): void;
  /** 401/403 on an auto_ban key: out until an admin (or the ban's end) brings it back. */
  ban(apiKeyId: number, reason: string, untilMs: number | null): void;
}

/** Reports what the gateway learned about an upstream key to the control plane (provider-events queue). */
export interface ProviderEventsPort {
  autoBan(event: { apiKeyId: number; reason: string; until: string | null; statusCode: number; at: string }): void;
  /** An OAuth key's access token got a 401: ask the token-refresh queue to renew it (deduplicated across gateways). */
  oauthUnauthorized(event: { apiKeyId: number; at: string }): void;
  /** A key's or master's lifetime quota refused a request (the port reports each subject at most once a minute). */
  quotaExhausted(event: { subject: 'key' | 'master'; id: number; spentMicros: number; at: string }): void;
}

export interface UsageReport {
  usage: Usage | undefined;
  /** Set when no upstream usage arrived and tokens were estimated. */
  estimated: boolean;
}

/** How one upstream call ended, as a metrics label (a small fixed set). */
export type AttemptOutcome =
  | 'success'
  | 'connect_error'
  | 'timeout'
  | 'status_429'
  | 'status_5xx'
  | 'status_401_403'
  | 'status_4xx'
  | 'aborted'
  | 'refused_address'
  | 'error';

/** What the engine reports about one proxied request when it ends (all labels already bounded). */
export interface ProxiedRequest {
  /** Final status code as a string, or `aborted` when the client left first. */
  status: string;
  /** Public model name known to the replica, else `other`. */
  model: string;
  /** Provider type of the last upstream attempted, `none` when no call was made. */
  providerType: string;
  formatIn: string;
  attempts: ReadonlyArray<{ providerType: string; outcome: AttemptOutcome; headersSeconds: number | null }>;
  /** Streams that delivered something: request start → first event written. */
  ttftSeconds: number | null;
  /** Non-stream requests that reached an upstream: total time minus upstream time. */
  overheadSeconds: number | null;
}

export interface MetricsPort {
  proxied(request: ProxiedRequest): void;
}

/** What one proxied request did to one upstream key (summed over its attempts on that key). */
export interface UpstreamKeyUsage {
  apiKeyId: number;
  /** Upstream calls made with the key. */
  requests: number;
  /** Calls answered 2xx. */
  success: number;
  /** Calls that failed (status ≥ 300, transport error, timeout); calls the client abandoned count in neither. */
  failure: number;
  /**
   * Failures that are the provider's, not the request's: transport errors, timeouts, 5xx and
   * 401/403 (its credentials). Not 4xx answers to a bad request, not 429 (rate limiting).
   */
  faults: number;
  /** Prompt + completion tokens of the request, on the key that served it. */
  tokens: number;
}

/** Per upstream key counters for the `stats` flush; fire and forget, never delays a response. */
export interface UpstreamStatsPort {
  record(usage: readonly UpstreamKeyUsage[], atMs: number): void;
}
