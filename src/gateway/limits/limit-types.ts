/** What one proxied request asks the limiter for. Limits of 0 mean unlimited. */
export interface AdmitRequest {
  masterId: number;
  /** Requests per second for the master across every gateway; 0 = unlimited. */
  masterQps: number;
  keyId: number;
  /** Requests per 60 s for the child key; 0 = unlimited. */
  keyRpm: number;
  /** Tokens per 60 s for the child key; 0 = unlimited. */
  keyTpm: number;
  /** Tokens charged up front (prompt estimate + expected output); corrected by `settle`. */
  estimatedTokens: number;
  /** The gateway's request id (only for tracing: uniqueness of log entries does not rely on it). */
  requestId: string;
}

export type LimitReason = 'master_qps' | 'key_rpm' | 'key_tpm';

/** An admission, to be passed to `settle` once the real usage is known. */
export interface Reservation {
  requestId: string;
  masterId: number;
  keyId: number;
  /** The entry this admission added to the QPS/RPM logs. */
  member: string;
  /** Admission time on the window clock (Redis TIME unless a clock was injected), ms. */
  atMs: number;
  /** TPM bucket charged, or null when the key's TPM was unlimited. */
  tpmBucket: number | null;
  /** Tokens charged up front (the estimate, capped at the TPM limit). */
  chargedTokens: number;
  /** True when Redis was unreachable and the in-process fallback decided. */
  degraded: boolean;
}

export type AdmitResult =
  | { ok: true; reservation: Reservation }
  | { ok: false; reason: LimitReason; retryAfterMs: number; limit: number };

/** What the limiter does when Redis fails (docs/limits.md, "Failure behaviour"). */
export type RedisFailureMode =
  /** Enforce the same limits per process until Redis answers again (default). */
  | 'local'
  /** Admit everything. */
  | 'open'
  /** Throw LimiterUnavailableError (the caller answers 503). */
  | 'closed';

export class LimiterUnavailableError extends Error {
  override readonly name = 'LimiterUnavailableError';
  readonly code = 'limiter_unavailable';
  constructor(options?: { cause?: unknown }) {
    super('rate limiter unavailable', options);
  }
}
