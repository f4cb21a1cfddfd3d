import type { Middleware } from 'koa';
import { findMasterByKeyDigest } from '../../db/masters.repository.js';
import { ForbiddenError, UnauthorizedError } from '../../lib/errors.js';
import type { KeyDigester } from '../../lib/key-digest.js';
import type { ApiState } from '../context.js';
import { parseAuthorization } from './admin-auth.js';

/**
 * Master authentication for the tenant routes (`/v1/tokens`, `/v1/logs`, …): `Authorization:
 * Bearer <master key>`, digested with the shared rule and looked up in PostgreSQL. A suspended
 * master is known but refused (403); anything else is one generic 401.
 */
export function masterAuth(options: { knex: Parameters<typeof findMasterByKeyDigest>[0]; digester: KeyDigester }): Middleware<ApiState> {
  return async (ctx, next) => {
    const credential = parseAuthorization(ctx.get('Authorization'));
    const master = credential?.scheme === 'bearer' ? await findMasterByKeyDigest(options.knex, options.digester.digest(credential.token)) : undefined;
    if (!master) {
      ctx.set('WWW-Authenticate', 'Bearer realm="EZ-API master"');
      throw new UnauthorizedError('Missing or invalid master key');
    }
    if (master.status !== 'active') throw new ForbiddenError('This master is suspended');
    ctx.state.actor = { type: 'master', id: String(master.id), masterId: master.id };
    await next();
  };
}
