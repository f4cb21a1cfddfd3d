import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import type { Logger } from '../../lib/logger.js';
import type { ApiState } from '../context.js';

export const REQUEST_ID_HEADER = 'X-Request-ID';
/** Incoming ids are kept only when they are short and harmless to log and echo. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Keeps a well-formed incoming `X-Request-ID`, else makes one; echoes it on every response
 * (errors included, since the header is set before anything downstream runs) and gives the
 * request a logger child carrying it.
 */
export function requestId(logger: Logger): Middleware<ApiState> {
  return async (ctx, next) => {
    const incoming = ctx.get(REQUEST_ID_HEADER);
    const id = REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = id;
    ctx.state.logger = logger.child({ requestId: id });
    ctx.set(REQUEST_ID_HEADER, id);
    await next();
  };
}
