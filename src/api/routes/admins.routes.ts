import {
  changeOwnPassword,
  createAdmin,
  deleteAdminById,
  getAdminDto,
  listAdminDtos,
  login,
  LoginLockedError,
  updateAdminById,
  type AdminCaller,
  type LoginDeps,
  type LoginResult,
} from '../../domain/admins.service.js';
import { redisUnknownNameLockout } from '../../domain/login-lockout.js';
import { ForbiddenError } from '../../lib/errors.js';
import { adminTokenCodec } from '../middleware/admin-jwt.js';
import { defineRoute, type ApiRoute, type RouteContext, type RouteEnv } from '../route.js';
import { writeContext, writeDeps } from '../write.js';
import {
  adminIdParamsSchema,
  adminListSchema,
  adminSchema,
  changeOwnPasswordSchema,
  createAdminSchema,
  listAdminsQuerySchema,
  loginBodySchema,
  loginResponseSchema,
  updateAdminSchema,
} from './admins.schemas.js';
import { errorResponseSchema } from './common.schemas.js';

const tags = ['admins'];

function loginDeps(env: RouteEnv, ctx: RouteContext): LoginDeps {
  const onError = (err: unknown) =>
    ctx.state.logger.warn({ err: { message: (err as Error).message } }, 'login lockout store unavailable; unknown names are not counted');
  return { ...writeDeps(env, ctx), codec: adminTokenCodec(env.deps), unknownNames: redisUnknownNameLockout(env.deps.redis, onError) };
}

const callerOf = (ctx: RouteContext): AdminCaller => {
  const actor = ctx.state.actor;
  return { adminId: actor?.type === 'admin' ? actor.adminId : undefined };
};

/** The token answer; never cached by a browser or proxy. */
function tokenResponse(ctx: RouteContext, result: LoginResult) {
  ctx.set('Cache-Control', 'no-store');
  return { token: result.token, token_type: 'Bearer' as const, expires_at: result.expiresAt.toISOString(), admin: result.admin };
}

/** A lock answer carries `Retry-After` (the error handler keeps headers set before the throw). */
async function withRetryAfter<T>(ctx: RouteContext, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof LoginLockedError) ctx.set('Retry-After', String(err.retryAfterSeconds));
    throw err;
  }
}

const errorOf = (description: string) => ({ description, schema: errorResponseSchema });

export const adminAccountRoutes: ApiRoute[] = [
  defineRoute({
    method: 'post',
    path: '/admin/login',
    summary: 'Log in as a named admin and get a JWT',
    description:
      'Answers an HS256 JWT for `Authorization: Bearer` on every admin route (lifetime `EZ_ADMIN_JWT_TTL_SECONDS`, default 12 h). A wrong name, a wrong password and a disabled admin get the same 401. Five failed logins in a row lock the name for 15 minutes: 429 with `Retry-After`, whatever the password, until the lock ends.',
    tags,
    auth: 'none',
    request: { body: loginBodySchema },
    responses: {
      200: { description: 'Logged in', schema: loginResponseSchema },
      401: errorOf('Wrong name or password, or a disabled admin (invalid_credentials)'),
      429: errorOf('Locked after repeated failures (rate_limited); see Retry-After'),
    },
    handler: (ctx, { body }, env) =>
      withRetryAfter(ctx, async () => tokenResponse(ctx, await login(loginDeps(env, ctx), body, { requestId: ctx.state.requestId, ip: ctx.ip }))),
  }),
  defineRoute({
    method: 'post',
    path: '/admin/me/password',
    summary: 'Change your own password (named admins)',
    description:
      'Every other session of this admin ends (their JWTs stop working); the answer carries a fresh token. A wrong `current_password` counts as a failed login. Viewers may call it too; the bootstrap token has no password (403).',
    tags,
    auth: 'admin',
    request: { body: changeOwnPasswordSchema },
    responses: {
      200: { description: 'Changed; a new token', schema: loginResponseSchema },
      403: errorOf('Called with the bootstrap token (forbidden)'),
      429: errorOf('Locked after repeated failures (rate_limited); see Retry-After'),
    },
    handler: async (ctx, { body }, env) => {
      const { adminId } = callerOf(ctx);
      if (adminId === undefined) throw new ForbiddenError('The bootstrap token has no password; log in as a named admin');
      return withRetryAfter(ctx, async () => tokenResponse(ctx, await changeOwnPassword(loginDeps(env, ctx), writeContext(ctx), adminId, body)));
    },
  }),
  defineRoute({
    method: 'get',
    path: '/admin/admins',
    summary: 'List named admins (never their password hashes)',
    tags,
    auth: 'admin',
    request: { query: listAdminsQuerySchema },
    responses: { 200: { description: 'A page of admins, by id', schema: adminListSchema } },
    handler: (_ctx, { query }, { deps }) => {
      const { limit, offset, ...filters } = query;
      return listAdminDtos(deps.knex, filters, { limit, offset });
    },
  }),
  defineRoute({
    method: 'post',
    path: '/admin/admins',
    summary: 'Create a named admin',
    tags,
    auth: 'admin',
    request: { body: createAdminSchema },
    responses: { 201: { description: 'Created', schema: adminSchema }, 409: errorOf('The name is taken (conflict)') },
    handler: async (ctx, { body }, env) => {
      const admin = await createAdmin(writeDeps(env, ctx), writeContext(ctx), body);
      ctx.status = 201;
      return admin;
    },
  }),
  defineRoute({
    method: 'get',
    path: '/admin/admins/:id',
    summary: 'Get a named admin',
    tags,
    auth: 'admin',
    request: { params: adminIdParamsSchema },
    responses: { 200: { description: 'The admin', schema: adminSchema } },
    handler: (_ctx, { params }, { deps }) => getAdminDto(deps.knex, params.id),
  }),
  defineRoute({
    method: 'patch',
    path: '/admin/admins/:id',
    summary: "Change a named admin's role, status or password",
    description:
      'A new password or `status: disabled` ends the admin’s sessions at once. An admin cannot disable or demote themselves (409 `cannot_modify_self`), nor the last active admin (409 `last_admin`; the bootstrap token may).',
    tags,
    auth: 'admin',
    request: { params: adminIdParamsSchema, body: updateAdminSchema },
    responses: { 200: { description: 'The updated admin', schema: adminSchema }, 409: errorOf('cannot_modify_self or last_admin') },
    handler: (ctx, { params, body }, env) => updateAdminById(writeDeps(env, ctx), writeContext(ctx), callerOf(ctx), params.id, body),
  }),
  defineRoute({
    method: 'delete',
    path: '/admin/admins/:id',
    summary: 'Delete a named admin',
    description: 'Their JWTs stop working at once. Not yourself (409 `cannot_modify_self`), not the last active admin (409 `last_admin`; the bootstrap token may).',
    tags,
    auth: 'admin',
    request: { params: adminIdParamsSchema },
    responses: { 204: { description: 'Deleted' }, 409: errorOf('cannot_modify_self or last_admin') },
    handler: async (ctx, { params }, env) => {
      await deleteAdminById(writeDeps(env, ctx), writeContext(ctx), callerOf(ctx), params.id);
      ctx.status = 204;
    },
  }),
];
