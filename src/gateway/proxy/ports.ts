import type { Usage } from '../types.js';

/**
 * What the proxy engine needs from the limits, health and log parts, as narrow interfaces: the
 * engine is tested with real implementations, but does not depend on how they are built.
 */

export interface AdmitRequest {
  masterId: number;
  masterQps: number;
  keyId: number;
  keyRpm: number;
  keyTpm: number;
  estimatedTokens: number;
  requestId: string;
}

export type AdmitResult =
  | { ok: true; settle(actualTokens: number): Promise<void> }
  | { ok: false; reason: string; retryAfterMs: number; limit: number };

export interface LimitsPort {
  admit(request: AdmitRequest): Promise<AdmitResult>;
}

export interface HealthPort {
  /** Synchronous: may this upstream key be tried now? */
  isAvailable(apiKeyId: number, nowMs: number): boolean;
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
}

export interface UsageReport {
  usage: Usage | undefined;
  /** Set when no upstream usage arrived and tokens were estimated. */
  estimated: boolean;
}
