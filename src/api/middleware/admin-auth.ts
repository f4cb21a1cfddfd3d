import type { Middleware } from 'koa';
import { ForbiddenError, UnauthorizedError } from '../../lib/errors.js';
import { safeEqual } from '../../lib/secrets.js';
import type { AdminActor, ApiContext, ApiState } from '../context.js';

export const ADMIN_REALM = 'EZ-API admin';
/** Longer Authorization headers are refused unread. */
const MAX_CREDENTIAL_LENGTH = 4_096;

/**
 * Turns a presented credential into an admin, or undefined when it is not one this verifier
 * knows. Named admins: `POST /admin/login` issues JWTs and `adminJwtVerifier` (admin-jwt.ts)
 * joins `verifiers` in app.ts — routes and Bull Board keep calling the same middleware.
 */
export type AdminTokenVerifier = (token: string) => AdminActor | undefined | Promise<AdminActor | undefined>;

/** The bootstrap admin: EZ_ADMIN_TOKEN, compared in constant time. */
export function bootstrapTokenVerifier(adminToken: string): AdminTokenVerifier {
  return (token) => (safeEqual(token, adminToken) ? { type: 'admin', id: 'bootstrap', role: 'admin' } : undefined);
}

export interface AdminAuthOptions {
  verifiers: AdminTokenVerifier[];
  /**
   * The 401 challenge: `bearer` for the JSON API; `basic` where a browser should prompt for
   * credentials (Bull Board at /admin/queues).
   */
  challenge: 'bearer' | 'basic';
}

interface Credential {
  scheme: 'bearer' | 'basic';
  token: string;
}

/** `Bearer <token>`, or `Basic base64(<any user>:<token>)` so a browser can log in. */
export function parseAuthorization(header: string): Credential | undefined {
  if (!header || header.length > MAX_CREDENTIAL_LENGTH) return undefined;
  const match = /^(\S+)\s+(\S+)\s*$/.exec(header);
  if (!match) return undefined;
  const scheme = match[1]!.toLowerCase();
  const value = match[2]!;
  if (scheme === 'bearer') return { scheme: 'bearer', token: value };
  if (scheme !== 'basic') return undefined;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const password = decoded.slice(colon + 1);
  return password ? { scheme: 'basic', token: password } : undefined;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Browsers replay cached Basic credentials on cross-site form posts (CSRF). Bearer tokens are
 * never sent implicitly, so only Basic-authenticated writes need the same-origin check.
 */
function isCrossSiteWrite(ctx: ApiContext): boolean {
  if (SAFE_METHODS.has(ctx.method)) return false;
  const site = ctx.get('Sec-Fetch-Site');
  if (site && site !== 'same-origin' && site !== 'none') return true;
  const origin = ctx.get('Origin');
  if (!origin) return false;
  try {
    return new URL(origin).host !== ctx.host;
  } catch {
    return true;
  }
}

/** What a `viewer` may do (docs/admins.md): read, except secret reveals; and change their own password. */
const VIEWER_METHODS = new Set(['GET', 'HEAD']);
const VIEWER_WRITABLE_PATHS = new Set(['/admin/me/password']);
const ADMIN_ONLY_READS = [/^\/admin\/api-keys\/[^/]+\/reveal\/?$/];

function viewerRefusal(ctx: ApiContext): string | undefined {
  if (VIEWER_WRITABLE_PATHS.has(ctx.path)) return undefined;
  if (!VIEWER_METHODS.has(ctx.method)) return `Role viewer may only read (GET, HEAD); ${ctx.method} needs role admin`;
  if (ADMIN_ONLY_READS.some((re) => re.test(ctx.path))) return 'Role viewer may not reveal secrets; this needs role admin';
  return undefined;
}

/**
 * Admin authentication: sets `ctx.state.actor` or answers 401 unauthorized with a
 * `WWW-Authenticate` challenge (the header is set before throwing; the error handler keeps it).
 */
export function adminAuth(options: AdminAuthOptions): Middleware<ApiState> {
  const challenge =
    options.challenge === 'basic' ? `Basic realm="${ADMIN_REALM}", charset="UTF-8"` : `Bearer realm="${ADMIN_REALM}"`;
  return async (ctx, next) => {
    const credential = parseAuthorization(ctx.get('Authorization'));
    let actor: AdminActor | undefined;
    if (credential) {
      for (const verify of options.verifiers) {
        actor = await verify(credential.token);
        if (actor) break;
      }
    }
    if (!actor) {
      ctx.set('WWW-Authenticate', challenge);
      throw new UnauthorizedError(credential ? 'Invalid admin credentials' : 'Admin credentials required: Authorization: Bearer <admin token>');
    }
    if (credential?.scheme === 'basic' && isCrossSiteWrite(ctx)) {
      throw new ForbiddenError('Cross-site writes with Basic credentials are refused; use a Bearer token');
    }
    const refusal = actor.role === 'viewer' ? viewerRefusal(ctx) : undefined;
    if (refusal) throw new ForbiddenError(refusal);
    ctx.state.actor = actor;
    await next();
  };
}
