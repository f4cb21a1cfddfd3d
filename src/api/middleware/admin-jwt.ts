import type { Knex } from 'knex';
import { findAdminById } from '../../db/admins.repository.js';
import { AdminTokenCodec, JWT_SHAPE } from '../../domain/admin-token.js';
import { adminActorId } from '../../domain/admins.service.js';
import type { ApiDeps } from '../deps.js';
import type { AdminTokenVerifier } from './admin-auth.js';

/**
 * Named admins' JWTs (docs/admins.md), after the bootstrap token in `verifiers`. Only credentials
 * shaped like a JWT (three base64url parts) are tried, so the bootstrap path never touches
 * PostgreSQL. jose checks signature (HS256 only), `exp`, `iss` and `aud`; then one primary-key
 * read refuses an admin that is gone, disabled, or whose `token_epoch` moved past the token's
 * (password change, disable). The role comes from the row, so a demotion applies at once. A
 * database error propagates: the error handler answers 503, not 401.
 */
export function adminJwtVerifier(options: { knex: Knex; codec: AdminTokenCodec; now?: () => Date }): AdminTokenVerifier {
  return async (token) => {
    if (!JWT_SHAPE.test(token)) return undefined;
    const claims = await options.codec.verify(token, options.now?.() ?? new Date());
    if (!claims) return undefined;
    const row = await findAdminById(options.knex, claims.adminId);
    if (!row || row.status !== 'active' || row.token_epoch !== claims.epoch) return undefined;
    return { type: 'admin', id: adminActorId(row), role: row.role, adminId: Number(row.id), name: row.name };
  };
}

const codecs = new WeakMap<ApiDeps, AdminTokenCodec>();

/** One codec per api deps (the subkey is derived once). */
export function adminTokenCodec(deps: ApiDeps): AdminTokenCodec {
  let codec = codecs.get(deps);
  if (!codec) codecs.set(deps, (codec = new AdminTokenCodec(deps.secrets.master, deps.config.adminJwtTtlSeconds)));
  return codec;
}
