import * as keys from '../../domain/keys.service.js';
import { UnauthorizedError } from '../../lib/errors.js';
import { errorResponseSchema } from './common.schemas.js';
import { defineRoute, type ApiRoute, type RouteContext } from '../route.js';
import { writeContext, writeDeps } from '../write.js';
import { createKeySchema, keyListSchema, keySchema, keyWithSecretSchema, listKeysQuerySchema, updateOwnKeySchema } from './keys.schemas.js';
import { issueInput } from './keys.routes.js';
import { keyDigesterFor } from './masters.routes.js';
import { idParamsSchema } from './masters.schemas.js';

/**
 * Master self-service (`Authorization: Bearer <master key>`): a master issues, lists and deletes
 * its own child keys. Another master's key id is a 404, never a 403 (DESIGN §9.7).
 */

function masterIdOf(ctx: RouteContext): number {
  const actor = ctx.state.actor;
  if (actor?.type !== 'master') throw new UnauthorizedError('Missing or invalid master key');
  return actor.masterId;
}

const tags = ['master'];

export const tokenRoutes: ApiRoute[] = [
  defineRoute({
    method: 'post',
    path: '/v1/tokens',
    summary: 'Issue a child key (issued_by=master); the key is shown once',
    tags,
    auth: 'master',
    request: { body: createKeySchema },
    responses: {
      201: { description: 'Issued', schema: keyWithSecretSchema },
      409: { description: 'max_child_keys active or disabled keys already exist (conflict)', schema: errorResponseSchema },
    },
    handler: async (ctx, { body }, env) => {
      const masterId = masterIdOf(ctx);
      const issuer = { by: 'master', id: String(masterId) } as const;
      const issued = await keys.issueKey(writeDeps(env, ctx), writeContext(ctx), keyDigesterFor(env.deps), masterId, issuer, issueInput(body));
      ctx.status = 201;
      return issued;
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/tokens',
    summary: "The calling master's child keys, newest first",
    tags,
    auth: 'master',
    request: { query: listKeysQuerySchema },
    responses: { 200: { description: 'A page of keys', schema: keyListSchema } },
    handler: (ctx, { query }, { deps }) => {
      const { limit, offset, status } = query;
      return keys.listKeys(deps.knex, masterIdOf(ctx), { status }, { limit, offset }, { requireMaster: false });
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/tokens/:id',
    summary: "One of the calling master's child keys",
    tags,
    auth: 'master',
    request: { params: idParamsSchema },
    responses: { 200: { description: 'The key', schema: keySchema }, 404: { description: 'No such key of this master (not_found)', schema: errorResponseSchema } },
    handler: (ctx, { params }, { deps }) => keys.getKey(deps.knex, params.id, masterIdOf(ctx)),
  }),
  defineRoute({
    method: 'patch',
    path: '/v1/tokens/:id',
    summary: "Update one of the calling master's child keys (name, status, quota_limit, budgets)",
    tags,
    auth: 'master',
    request: { params: idParamsSchema, body: updateOwnKeySchema },
    responses: {
      200: { description: 'The updated key', schema: keySchema },
      404: { description: 'No such key of this master (not_found)', schema: errorResponseSchema },
      409: { description: 'No free slot to re-activate the key, or its quota is exhausted (conflict)', schema: errorResponseSchema },
    },
    handler: (ctx, { params, body }, env) => keys.updateKey(writeDeps(env, ctx), writeContext(ctx), params.id, body, { ownerMasterId: masterIdOf(ctx) }),
  }),
  defineRoute({
    method: 'delete',
    path: '/v1/tokens/:id',
    summary: "Delete one of the calling master's child keys",
    tags,
    auth: 'master',
    request: { params: idParamsSchema },
    responses: { 204: { description: 'Deleted' }, 404: { description: 'No such key of this master (not_found)', schema: errorResponseSchema } },
    handler: async (ctx, { params }, env) => {
      await keys.deleteKey(writeDeps(env, ctx), writeContext(ctx), params.id, masterIdOf(ctx));
      ctx.status = 204;
    },
  }),
];
