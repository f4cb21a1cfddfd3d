import type { Middleware } from 'koa';
import type { ApiState } from '../context.js';

/** The API answers JSON: nothing on it should load, frame or run anything. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'";

/**
 * Security headers for every response. Pages that render HTML (/docs, Bull Board) replace the
 * Content-Security-Policy with their own; static assets replace Cache-Control.
 */
export function securityHeaders(): Middleware<ApiState> {
  return async (ctx, next) => {
    ctx.set({
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'no-referrer',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Content-Security-Policy': API_CSP,
      // Admin responses can carry secrets shown once; nothing here is cacheable by default.
      'Cache-Control': 'no-store',
    });
    await next();
    ctx.remove('X-Powered-By');
  };
}
