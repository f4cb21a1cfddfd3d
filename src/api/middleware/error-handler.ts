import type { Middleware } from 'koa';
import {
  CheckViolationError,
  DataError,
  DBError,
  ForeignKeyViolationError,
  NotNullViolationError,
  UniqueViolationError,
} from 'objection';
import { AppError, type AppErrorCode, type FieldError } from '../../lib/errors.js';
import type { ApiState } from '../context.js';

/**
 * THE one place that turns an error into an HTTP response for the api (STYLE.md). Everything
 * else throws: AppError subclasses from src/lib/errors.ts, or whatever a dependency throws.
 * A database or driver error's own text never reaches the client; 5xx are logged with the
 * request id so an operator can find the real cause.
 */

export const STATUS_BY_CODE: Readonly<Record<AppErrorCode, number>> = {
  validation_failed: 400,
  invalid_json: 400,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  route_not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  invalid_transition: 409,
  rate_limited: 429,
  request_timeout: 408,
  service_unavailable: 503,
  not_oauth: 400,
  invalid_credentials: 401,
  cannot_modify_self: 409,
  last_admin: 409,
  internal_error: 500,
};

export interface ErrorBody {
  error: { code: AppErrorCode; message: string; details?: FieldError[] };
}

export interface MappedError {
  status: number;
  body: ErrorBody;
  /** How loudly to log: `error` for bugs, `warn` for unavailable dependencies, `debug` for client errors. */
  level: 'error' | 'warn' | 'debug';
}

const INTERNAL: MappedError = {
  status: 500,
  body: { error: { code: 'internal_error', message: 'Internal server error' } },
  level: 'error',
};
const UNAVAILABLE: MappedError = {
  status: 503,
  body: { error: { code: 'service_unavailable', message: 'A dependency is unavailable; try again shortly' } },
  level: 'warn',
};

function clientError(status: number, code: AppErrorCode, message: string, details?: FieldError[]): MappedError {
  return { status, body: { error: details?.length ? { code, message, details } : { code, message } }, level: 'debug' };
}

/** Socket-level and driver codes meaning "could not reach PostgreSQL or Redis". */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
]);
const CONNECTION_MESSAGES = [
  /^Connection is closed\.?$/, // ioredis
  /enableOfflineQueue options is false/, // ioredis producer while disconnected
  /^Connection terminated/, // pg
  /^Knex: Timeout acquiring a connection/,
  /^timeout exceeded when trying to connect$/, // pg-pool
];
const CONNECTION_NAMES = new Set(['KnexTimeoutError', 'MaxRetriesPerRequestError']);

interface ErrorLike {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  cause?: unknown;
  nativeError?: unknown;
  errors?: unknown;
  status?: unknown;
  expose?: unknown;
}

const asErrorLike = (err: unknown): ErrorLike | undefined => (err !== null && typeof err === 'object' ? (err as ErrorLike) : undefined);

/** The error and what it wraps (objection's nativeError, `cause`, AggregateError), bounded. */
function chain(err: unknown): ErrorLike[] {
  const out: ErrorLike[] = [];
  const queue: unknown[] = [err];
  while (queue.length && out.length < 8) {
    const e = asErrorLike(queue.shift());
    if (!e || out.includes(e)) continue;
    out.push(e);
    queue.push(e.nativeError, e.cause);
    if (Array.isArray(e.errors)) queue.push(...e.errors.slice(0, 4));
  }
  return out;
}

function isConnectionError(err: unknown): boolean {
  return chain(err).some(
    (e) =>
      (typeof e.code === 'string' && (CONNECTION_CODES.has(e.code) || e.code.startsWith('08'))) ||
      (typeof e.name === 'string' && CONNECTION_NAMES.has(e.name)) ||
      (typeof e.message === 'string' && CONNECTION_MESSAGES.some((re) => re.test(e.message as string))),
  );
}

/** PostgreSQL SQLSTATE of a driver error, for queries that objection did not wrap (raw knex). */
function sqlState(err: unknown): string | undefined {
  for (const e of chain(err)) {
    if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return e.code;
  }
  return undefined;
}

const CODE_BY_STATUS = new Map<number, AppErrorCode>(
  (Object.entries(STATUS_BY_CODE) as Array<[AppErrorCode, number]>)
    .filter(([code]) => code !== 'invalid_json' && code !== 'route_not_found' && code !== 'not_oauth' && code !== 'invalid_transition')
    .filter(([code]) => code !== 'invalid_credentials' && code !== 'cannot_modify_self' && code !== 'last_admin')
    .map(([code, status]) => [status, code]),
);

/** Pure mapping from anything thrown to status + body (table-tested). */
export function mapError(err: unknown): MappedError {
  if (err instanceof AppError) {
    const status = STATUS_BY_CODE[err.code];
    if (status >= 500) {
      return { status, body: { error: { code: err.code, message: err.message } }, level: status === 503 ? 'warn' : 'error' };
    }
    return clientError(status, err.code, err.message, err.details);
  }
  if (err instanceof UniqueViolationError) return clientError(409, 'conflict', 'A resource with the same unique value already exists');
  if (err instanceof ForeignKeyViolationError) return clientError(409, 'conflict', 'The request refers to a resource that does not exist or is still in use');
  if (err instanceof NotNullViolationError || err instanceof CheckViolationError || err instanceof DataError) {
    return clientError(400, 'validation_failed', 'The request contains a value the database cannot accept');
  }
  if (isConnectionError(err)) return UNAVAILABLE;
  if (err instanceof DBError || sqlState(err)) {
    const state = sqlState(err);
    if (state === '23505') return clientError(409, 'conflict', 'A resource with the same unique value already exists');
    if (state === '23503') return clientError(409, 'conflict', 'The request refers to a resource that does not exist or is still in use');
    if (state === '23502' || state === '23514' || state?.startsWith('22')) {
      return clientError(400, 'validation_failed', 'The request contains a value the database cannot accept');
    }
    return INTERNAL;
  }
  // http-errors thrown by Koa or a library (ctx.throw(400), ctx.assert): their messages are safe to show when `expose`.
  const e = asErrorLike(err);
  if (e && typeof e.status === 'number' && e.status >= 400 && e.status < 500 && e.expose === true) {
    const code = CODE_BY_STATUS.get(e.status) ?? 'validation_failed';
    return clientError(e.status, code, typeof e.message === 'string' ? e.message : 'Bad request');
  }
  return INTERNAL;
}

export function errorHandler(): Middleware<ApiState> {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const mapped = mapError(err);
      const log = ctx.state.logger;
      const fields = { err, status: mapped.status, code: mapped.body.error.code, method: ctx.method, path: ctx.path };
      if (mapped.level === 'error') log.error(fields, 'request failed');
      else if (mapped.level === 'warn') log.warn(fields, 'dependency unavailable');
      else log.debug({ status: mapped.status, code: mapped.body.error.code }, 'request refused');
      if (ctx.headerSent || !ctx.writable) return;
      ctx.status = mapped.status;
      ctx.body = mapped.body;
      ctx.type = 'application/json';
    }
  };
}
