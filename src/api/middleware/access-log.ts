import type { Middleware } from 'koa';
import type { ApiState } from '../context.js';

/** Probes hit these every few seconds: log them at debug so they do not drown real traffic. */
const QUIET_PATHS = new Set(['/status', '/health', '/health/ready', '/metrics']);

/**
 * One line per request: requestId (from the child logger), method, path, status, ms.
 * Only the path is logged — never the query string (`?key=`) or any header.
 */
export function accessLog(): Middleware<ApiState> {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const fields = { method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(ms * 100) / 100 };
      if (QUIET_PATHS.has(ctx.path)) ctx.state.logger.debug(fields, 'request');
      else ctx.state.logger.info(fields, 'request');
    }
  };
}
