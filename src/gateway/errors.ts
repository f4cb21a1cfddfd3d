import type { BudgetMetric, BudgetPeriod } from '../lib/budgets.js';
import { AppError } from '../lib/errors.js';
import { microsToUsd } from '../lib/pricing.js';

/**
 * The one place where gateway failures become HTTP responses, in the client's own wire format
 * (DESIGN §7): OpenAI `{"error":{"message","type","param","code"}}`, Anthropic
 * `{"type":"error","error":{"type","message"}}`, Gemini `{"error":{"code","message","status"}}`.
 * Add a case by adding a row to ERROR_TABLE; every format then knows how to say it.
 */

export const CLIENT_FORMATS = ['openai', 'anthropic', 'gemini'] as const;
export type ClientFormat = (typeof CLIENT_FORMATS)[number];

interface ErrorRow {
  status: number;
  /** OpenAI `error.type`. */
  openai: string;
  /** Anthropic `error.type`. */
  anthropic: string;
  /** Gemini `error.status` (google.rpc.Code name). */
  gemini: string;
}

const ERROR_TABLE = {
  invalid_request: { status: 400, openai: 'invalid_request_error', anthropic: 'invalid_request_error', gemini: 'INVALID_ARGUMENT' },
  missing_api_key: { status: 401, openai: 'invalid_request_error', anthropic: 'authentication_error', gemini: 'UNAUTHENTICATED' },
  invalid_api_key: { status: 401, openai: 'invalid_request_error', anthropic: 'authentication_error', gemini: 'UNAUTHENTICATED' },
  forbidden: { status: 403, openai: 'permission_error', anthropic: 'permission_error', gemini: 'PERMISSION_DENIED' },
  not_found: { status: 404, openai: 'invalid_request_error', anthropic: 'not_found_error', gemini: 'NOT_FOUND' },
  model_not_found: { status: 404, openai: 'invalid_request_error', anthropic: 'not_found_error', gemini: 'NOT_FOUND' },
  method_not_allowed: { status: 405, openai: 'invalid_request_error', anthropic: 'invalid_request_error', gemini: 'INVALID_ARGUMENT' },
  request_timeout: { status: 408, openai: 'invalid_request_error', anthropic: 'invalid_request_error', gemini: 'DEADLINE_EXCEEDED' },
  payload_too_large: { status: 413, openai: 'invalid_request_error', anthropic: 'request_too_large', gemini: 'INVALID_ARGUMENT' },
  rate_limited: { status: 429, openai: 'rate_limit_error', anthropic: 'rate_limit_error', gemini: 'RESOURCE_EXHAUSTED' },
  // OpenAI's own answer for a used-up quota is type and code `insufficient_quota` (docs/budgets.md).
  insufficient_quota: { status: 429, openai: 'insufficient_quota', anthropic: 'rate_limit_error', gemini: 'RESOURCE_EXHAUSTED' },
  budget_exceeded: { status: 429, openai: 'rate_limit_error', anthropic: 'rate_limit_error', gemini: 'RESOURCE_EXHAUSTED' },
  internal_error: { status: 500, openai: 'server_error', anthropic: 'api_error', gemini: 'INTERNAL' },
  upstream_error: { status: 502, openai: 'server_error', anthropic: 'api_error', gemini: 'UNAVAILABLE' },
  upstream_timeout: { status: 504, openai: 'server_error', anthropic: 'api_error', gemini: 'DEADLINE_EXCEEDED' },
  no_upstream: { status: 503, openai: 'server_error', anthropic: 'overloaded_error', gemini: 'UNAVAILABLE' },
  service_unavailable: { status: 503, openai: 'server_error', anthropic: 'api_error', gemini: 'UNAVAILABLE' },
} as const satisfies Record<string, ErrorRow>;

export type GatewayErrorCode = keyof typeof ERROR_TABLE;

/** The one message for every failed key check, so a caller cannot tell which check failed. */
export const INVALID_API_KEY_MESSAGE = 'Invalid API key';

export class GatewayError extends Error {
  readonly status: number;
  /** Extra response headers (Allow, Retry-After, Connection). */
  readonly headers: Readonly<Record<string, string>>;
  readonly param: string | null;

  constructor(
    readonly code: GatewayErrorCode,
    message: string,
    options: { param?: string; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'GatewayError';
    this.status = ERROR_TABLE[code].status;
    this.headers = options.headers ?? {};
    this.param = options.param ?? null;
  }
}

export const gatewayErrors = {
  missingApiKey: () =>
    new GatewayError('missing_api_key', 'Missing API key: send it as "Authorization: Bearer <key>", "x-api-key", "x-goog-api-key" or "?key="'),
  invalidApiKey: () => new GatewayError('invalid_api_key', INVALID_API_KEY_MESSAGE),
  notFound: (method: string, path: string) => new GatewayError('not_found', `Unknown route: ${method} ${path}`),
  methodNotAllowed: (method: string, path: string, allow: readonly string[]) =>
    new GatewayError('method_not_allowed', `Method ${method} is not allowed on ${path}`, { headers: { Allow: allow.join(', ') } }),
  payloadTooLarge: (limitBytes: number) =>
    // The rest of an oversized body is not read: close the connection instead of draining it.
    new GatewayError('payload_too_large', `Request body exceeds the limit of ${limitBytes} bytes`, { headers: { Connection: 'close' } }),
  unavailable: (cause?: unknown) =>
    new GatewayError('service_unavailable', 'The gateway cannot reach its configuration store; retry shortly', {
      headers: { 'Retry-After': '1' },
      cause,
    }),
  invalidJson: () => new GatewayError('invalid_request', 'Request body is not valid JSON'),
  invalidBody: (message: string, param?: string) => new GatewayError('invalid_request', message, param ? { param } : {}),
  forbidden: (message: string) => new GatewayError('forbidden', message),
  modelNotFound: (model: string) =>
    new GatewayError('model_not_found', `The model \`${model}\` does not exist or you do not have access to it`, { param: 'model' }),
  /**
   * A lifetime quota is used up. No Retry-After (waiting does not help) and `x-should-retry: false`,
   * which the official OpenAI and Anthropic SDKs honour instead of retrying a 429.
   */
  insufficientQuota: (subject: 'key' | 'master', limitMicros?: number) =>
    new GatewayError(
      'insufficient_quota',
      subject === 'key'
        ? `This API key has used up its quota (key quota_limit${limitMicros !== undefined && limitMicros >= 0 ? ` $${microsToUsd(limitMicros)}` : ''}); ask its owner to raise it`
        : 'The account this API key belongs to has used up its quota (master quota_limit)',
      { headers: { 'x-should-retry': 'false' } },
    ),
  /** A periodic budget is spent until its window ends (Retry-After). */
  budgetExceeded: (subject: 'key' | 'master', period: BudgetPeriod, metric: BudgetMetric, limit: number, retryAfterMs: number) =>
    new GatewayError(
      'budget_exceeded',
      `Budget exceeded: the ${subject === 'key' ? 'key' : 'account (master)'}'s ${period} budget of ${metric === 'cost_usd' ? `$${microsToUsd(limit)}` : `${limit} ${metric}`} is used up until the ${period} ends`,
      { headers: { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterMs / 1_000))) } },
    ),
  rateLimited: (message: string, retryAfterMs: number) =>
    new GatewayError('rate_limited', message, { headers: { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterMs / 1_000))) } }),
  noUpstream: () => new GatewayError('no_upstream', 'No upstream is available for this model right now; retry shortly', { headers: { 'Retry-After': '1' } }),
  upstreamFailed: (message = 'The upstream provider failed to answer') => new GatewayError('upstream_error', message),
  upstreamTimeout: (message = 'The upstream provider did not answer in time') => new GatewayError('upstream_timeout', message),
};

const APP_ERROR_CODES: Partial<Record<AppError['code'], GatewayErrorCode>> = {
  validation_failed: 'invalid_request',
  invalid_json: 'invalid_request',
  unsupported_media_type: 'invalid_request',
  payload_too_large: 'payload_too_large',
  unauthorized: 'invalid_api_key',
  forbidden: 'forbidden',
  not_found: 'not_found',
  route_not_found: 'not_found',
  method_not_allowed: 'method_not_allowed',
  rate_limited: 'rate_limited',
  service_unavailable: 'service_unavailable',
  request_timeout: 'request_timeout',
};

/** Anything thrown → a GatewayError. Unknown errors become a generic 500 that reveals nothing. */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  if (err instanceof AppError) {
    const code = APP_ERROR_CODES[err.code];
    if (code) return new GatewayError(code, code === 'invalid_api_key' ? INVALID_API_KEY_MESSAGE : err.message, { cause: err });
  }
  return new GatewayError('internal_error', 'Internal gateway error', { cause: err });
}

/** Which wire format a path speaks: /v1/messages* is Anthropic, /v1beta/* Gemini, the rest OpenAI. */
export function formatForPath(pathname: string): ClientFormat {
  if (pathname === '/v1/messages' || pathname.startsWith('/v1/messages/')) return 'anthropic';
  if (pathname === '/v1beta' || pathname.startsWith('/v1beta/')) return 'gemini';
  return 'openai';
}

export type ErrorBody =
  | { error: { message: string; type: string; param: string | null; code: string } }
  | { type: 'error'; error: { type: string; message: string } }
  | { error: { code: number; message: string; status: string } };

/** The status and body of an error in one client format. */
export function renderError(err: GatewayError, format: ClientFormat): { status: number; body: ErrorBody } {
  const row: ErrorRow = ERROR_TABLE[err.code];
  switch (format) {
    case 'openai':
      return { status: row.status, body: { error: { message: err.message, type: row.openai, param: err.param, code: err.code } } };
    case 'anthropic':
      return { status: row.status, body: { type: 'error', error: { type: row.anthropic, message: err.message } } };
    case 'gemini':
      return { status: row.status, body: { error: { code: row.status, message: err.message, status: row.gemini } } };
  }
}
