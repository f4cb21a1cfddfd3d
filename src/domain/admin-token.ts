import { jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import type { AdminRole } from '../db/admins.repository.js';
import { deriveSubkey } from '../lib/secrets.js';

/**
 * Admin JWTs (docs/admins.md): HS256 under the `jwt-signing` HKDF subkey of EZ_SECRET, so every
 * api process sharing EZ_SECRET accepts the others' tokens. Claims: `sub` (admin id), `name`,
 * `role` (informational: the admin's row decides), `epoch` (the admin's token_epoch at issue),
 * `iat`, `exp`, `iss: ez-api`, `aud: ez-api-admin`.
 */

export const ADMIN_JWT_ISSUER = 'ez-api';
export const ADMIN_JWT_AUDIENCE = 'ez-api-admin';
const ALGORITHM = 'HS256';

/** Three base64url parts: only credentials of this shape are ever tried as JWTs. */
export const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

const claimsSchema = z.object({
  sub: z.string().regex(/^[1-9][0-9]{0,15}$/),
  name: z.string(),
  role: z.enum(['admin', 'viewer']),
  epoch: z.number().int().min(0),
  iat: z.number(),
  exp: z.number(),
});

export interface AdminTokenClaims {
  adminId: number;
  name: string;
  role: AdminRole;
  epoch: number;
}

export interface IssuedAdminToken {
  token: string;
  expiresAt: Date;
}

export class AdminTokenCodec {
  readonly #key: Uint8Array;

  /** `ttlSeconds`: lifetime of an issued token (config `EZ_ADMIN_JWT_TTL_SECONDS`). */
  constructor(
    masterSecret: string,
    readonly ttlSeconds: number,
  ) {
    this.#key = new Uint8Array(deriveSubkey(masterSecret, 'jwt-signing'));
  }

  async sign(admin: { id: number; name: string; role: AdminRole; token_epoch: number }, now: Date = new Date()): Promise<IssuedAdminToken> {
    const iat = Math.floor(now.getTime() / 1_000);
    const exp = iat + this.ttlSeconds;
    const token = await new SignJWT({ name: admin.name, role: admin.role, epoch: admin.token_epoch })
      .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
      .setSubject(String(admin.id))
      .setIssuer(ADMIN_JWT_ISSUER)
      .setAudience(ADMIN_JWT_AUDIENCE)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(this.#key);
    return { token, expiresAt: new Date(exp * 1_000) };
  }

  /**
   * The claims of a token this codec signed that has not expired at `now`, or undefined for
   * anything else (bad signature, `alg` other than HS256 — `none` included —, wrong issuer or
   * audience, expired, malformed claims).
   */
  async verify(token: string, now: Date = new Date()): Promise<AdminTokenClaims | undefined> {
    if (!JWT_SHAPE.test(token)) return undefined;
    try {
      const { payload } = await jwtVerify(token, this.#key, {
        algorithms: [ALGORITHM],
        issuer: ADMIN_JWT_ISSUER,
        audience: ADMIN_JWT_AUDIENCE,
        requiredClaims: ['sub', 'iat', 'exp'],
        currentDate: now,
      });
      const claims = claimsSchema.safeParse(payload);
      if (!claims.success) return undefined;
      return { adminId: Number(claims.data.sub), name: claims.data.name, role: claims.data.role, epoch: claims.data.epoch };
    } catch {
      return undefined;
    }
  }
}
