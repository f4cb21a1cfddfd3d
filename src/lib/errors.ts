/**
 * Typed application errors with stable codes. Services throw these; exactly one place per
 * process maps them to HTTP (src/api/middleware/error-handler.ts for the api).
 */

export interface FieldError {
  /** Dotted path of the offending field, e.g. `body.name` or `query.limit`. */
  field: string;
  message: string;
}

export type AppErrorCode =
  | 'validation_failed'
  | 'invalid_json'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'route_not_found'
  | 'method_not_allowed'
  | 'conflict'
  /** A status change the resource's current status does not allow (e.g. resolving a dismissed alert). */
  | 'invalid_transition'
  | 'rate_limited'
  | 'service_unavailable'
  | 'request_timeout'
  /** An OAuth-only action on a key that is not an OAuth key (or has no refresh token). */
  | 'not_oauth'
  /** `POST /admin/login`: wrong name or password, or a disabled admin (one answer for all three). */
  | 'invalid_credentials'
  /** An admin tried to disable, demote or delete themselves. */
  | 'cannot_modify_self'
  /** The change would leave no active admin with the `admin` role. */
  | 'last_admin'
  | 'internal_error';

export class AppError extends Error {
  constructor(
    readonly code: AppErrorCode,
    message: string,
    readonly details?: FieldError[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class ValidationError extends AppError {
  constructor(message: string, details: FieldError[] = []) {
    super('validation_failed', message, details);
  }
}

export class InvalidJsonError extends AppError {
  constructor(message = 'Request body is not valid JSON') {
    super('invalid_json', message);
  }
}

export class PayloadTooLargeError extends AppError {
  constructor(limitBytes: number) {
    super('payload_too_large', `Request body exceeds the limit of ${limitBytes} bytes`);
  }
}

export class UnsupportedMediaTypeError extends AppError {
  constructor(message = 'Request body must be application/json') {
    super('unsupported_media_type', message);
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'Missing or invalid credentials') {
    super('unauthorized', message);
  }
}

export class ForbiddenError extends AppError {
  constructor(message = 'Not allowed') {
    super('forbidden', message);
  }
}

export class NotFoundError extends AppError {
  constructor(resource: string, id?: string | number) {
    super('not_found', id === undefined ? `${resource} not found` : `${resource} ${id} not found`);
  }
}

export class RouteNotFoundError extends AppError {
  constructor(method: string, path: string) {
    super('route_not_found', `No route for ${method} ${path}`);
  }
}

export class MethodNotAllowedError extends AppError {
  constructor(method: string, path: string) {
    super('method_not_allowed', `Method ${method} is not allowed on ${path}`);
  }
}

export class NotOAuthError extends AppError {
  constructor(message: string) {
    super('not_oauth', message);
  }
}

export class ConflictError extends AppError {
  constructor(message: string, details?: FieldError[]) {
    super('conflict', message, details);
  }
}

/** A field error that also names the current (`from`) and the requested (`to`) status. */
export interface TransitionFieldError extends FieldError {
  from: string;
  to: string;
}

/** 409 `invalid_transition`: details `[{field, message, from, to}]` name the current and requested status. */
export class InvalidTransitionError extends AppError {
  constructor(message: string, transition: { field: string; from: string; to: string }) {
    const detail: TransitionFieldError = { field: transition.field, message: `is ${transition.from}`, from: transition.from, to: transition.to };
    super('invalid_transition', message, [detail]);
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(message = 'A dependency is unavailable; try again shortly', options?: { cause?: unknown }) {
    super('service_unavailable', message, undefined, options);
  }
}

export class RequestTimeoutError extends AppError {
  constructor(message = 'Request timed out') {
    super('request_timeout', message);
  }
}
