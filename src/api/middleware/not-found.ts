import type { Middleware } from 'koa';
import { MethodNotAllowedError, RouteNotFoundError } from '../../lib/errors.js';
import type { ApiState } from '../context.js';

const shown = (path: string) => (path.length > 200 ? `${path.slice(0, 200)}…` : path);

/**
 * Sits between the error handler and the router: a request nothing answered becomes
 * 404 route_not_found; the router's bare 405 (wrong method on a known path; `Allow` already
 * set by router.allowedMethods) and 501 (a method no route implements) become 405
 * method_not_allowed with our error body.
 */
export function notFound(): Middleware<ApiState> {
  return async (ctx, next) => {
    await next();
    if (ctx.body !== undefined && ctx.body !== null) return;
    if (ctx.status === 405 || ctx.status === 501) {
      if (ctx.response.get('Allow')) throw new MethodNotAllowedError(ctx.method, shown(ctx.path));
      ctx.remove('Allow');
      throw new RouteNotFoundError(ctx.method, shown(ctx.path));
    }
    if (ctx.status === 404) throw new RouteNotFoundError(ctx.method, shown(ctx.path));
  };
}
