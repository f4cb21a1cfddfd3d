import type { Middleware } from 'koa';
import { UnauthorizedError } from '../../lib/errors.js';
import { safeEqual } from '../../lib/secrets.js';
import type { ApiState } from '../context.js';

/** The header data planes (other gateways) present on the internal routes (DESIGN §7). */
export const INTERNAL_TOKEN_HEADER = 'X-Internal-Token';
export const INTERNAL_REALM = 'EZ-API internal';
/** Longer headers are refused without comparing them. */
const MAX_TOKEN_LENGTH = 4_096;

/**
 * Internal authentication for data plane → control plane calls (`POST /logs`,
 * `POST /internal/…`): the `X-Internal-Token` header must equal EZ_INTERNAL_TOKEN, compared in
 * constant time. Anything else — missing, empty, wrong, oversized — is one generic 401. No actor
 * is set: the caller is infrastructure, not a person or a tenant.
 */
export function internalAuth(options: { internalToken: string }): Middleware<ApiState> {
  const expected = options.internalToken;
  return async (ctx, next) => {
    const presented = ctx.get(INTERNAL_TOKEN_HEADER);
    const ok = expected.length > 0 && presented.length > 0 && presented.length <= MAX_TOKEN_LENGTH && safeEqual(presented, expected);
    if (!ok) {
      ctx.set('WWW-Authenticate', `Internal-Token realm="${INTERNAL_REALM}"`);
      throw new UnauthorizedError(presented ? 'Invalid internal token' : `Internal token required: ${INTERNAL_TOKEN_HEADER}: <EZ_INTERNAL_TOKEN>`);
    }
    await next();
  };
}
