import type { Middleware } from 'koa';
import { Histogram, type Registry } from 'prom-client';
import type { ApiState } from '../context.js';

export interface HttpMetricsOptions {
  registry: Registry;
  /** Route label for paths owned by a prefix-mounted app (Bull Board); undefined for the rest. */
  routeFor?: (path: string) => string | undefined;
}

/**
 * `ez_http_request_duration_seconds{method,route,status}`. The route label is the matched route
 * template (`/admin/keys/:id`), never the raw path, so cardinality stays bounded.
 */
export function httpMetrics(options: HttpMetricsOptions): Middleware<ApiState> {
  const histogram = new Histogram({
    name: 'ez_http_request_duration_seconds',
    help: 'API request duration in seconds, by method, matched route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [options.registry],
  });
  return async (ctx, next) => {
    const end = histogram.startTimer();
    try {
      await next();
    } finally {
      const matched = (ctx as { _matchedRoute?: string | RegExp })._matchedRoute;
      // routeFor first: a mounted sub-app (Bull Board) runs its own router and sets its own template.
      const route = options.routeFor?.(ctx.path) ?? (typeof matched === 'string' ? matched : 'unmatched');
      end({ method: ctx.method, route, status: String(ctx.status) });
    }
  };
}
