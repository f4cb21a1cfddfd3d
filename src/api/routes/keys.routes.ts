import * as access from '../../domain/access.service.js';
import * as keys from '../../domain/keys.service.js';
import { errorResponseSchema } from './common.schemas.js';
import { defineRoute, type ApiRoute } from '../route.js';
import { writeContext, writeDeps } from '../write.js';
import { createKeySchema, keyAccessSchema, keyListSchema, keySchema, keyWithSecretSchema, listKeysQuerySchema, putKeyAccessSchema, updateKeySchema } from './keys.schemas.js';
import { keyDigesterFor } from './masters.routes.js';
import { idParamsSchema } from './masters.schemas.js';

const tags = ['keys'];

export const keyRoutes: ApiRoute[] = [
  defineRoute({
    method: 'post',
    path: '/admin/masters/:id/keys',
    summary: 'Issue a child key under a master (issued_by=admin); the key is shown once',
    tags,
    auth: 'admin',
    request: { params: idParamsSchema, body: createKeySchema },
    responses: {
      201: { description: 'Issued', schema: keyWithSecretSchema },
      403: { description: 'The master is suspended (forbidden)', schema: errorResponseSchema },
      404: { description: 'No such master (not_found)', schema: errorResponseSchema },
      409: { description: 'The master has max_child_keys active or disabled keys (conflict)', schema: errorResponseSchema },
    },
    handler: async (ctx, { params, body }, env) => {
      const who = writeContext(ctx);
      const issued = await keys.issueKey(writeDeps(env, ctx), who, keyDigesterFor(env.deps), params.id, { by: 'admin', id: who.actor.id }, issueInput(body));
      ctx.status = 201;
      return issued;
    },
  }),
  defineRoute({
    method: 'get',
    path: '/admin/masters/:id/keys',
    summary: "A master's child keys, newest first",
    tags,
    auth: 'admin',
    request: { params: idParamsSchema, query: listKeysQuerySchema },
    responses: { 200: { description: 'A page of keys', schema: keyListSchema } },
    handler: (_ctx, { params, query }, { deps }) => {
      const { limit, offset, status } = query;
      return keys.listKeys(deps.knex, params.id, { status }, { limit, offset }, { requireMaster: true });
    },
  }),
  defineRoute({
    method: 'get',
    path: '/admin/keys/:id',
    summary: 'Get a child key',
    tags,
    auth: 'admin',
    request: { params: idParamsSchema },
    responses: { 200: { description: 'The key', schema: keySchema } },
    handler: (_ctx, { params }, { deps }) => keys.getKey(deps.knex, params.id),
  }),
  defineRoute({
    method: 'patch',
    path: '/admin/keys/:id',
    summary: 'Update a child key',
    tags,
    auth: 'admin',
    request: { params: idParamsSchema, body: updateKeySchema },
    responses: {
      200: { description: 'The updated key', schema: keySchema },
      409: { description: 'No free slot to re-activate the key, or `active` asked for an exhausted key without quota room (conflict)', schema: errorResponseSchema },
    },
    handler: (ctx, { params, body }, env) => {
      const { expires_at: expiresAt, ...rest } = body;
      const patch: keys.UpdateKeyInput = { ...rest, ...(expiresAt === undefined ? {} : { expires_at: expiresAt === null ? null : new Date(expiresAt) }) };
      return keys.updateKey(writeDeps(env, ctx), writeContext(ctx), params.id, patch);
    },
  }),
  defineRoute({
    method: 'post',
    path: '/admin/keys/:id/quota/reset',
    summary: "Reset a child key's lifetime spend to 0 (audited); an exhausted key becomes active",
    description: 'quota_used becomes 0 in PostgreSQL and the live spend counter in Redis is overwritten with 0 by the sync worker. Periodic budget windows are not reset.',
    tags,
    auth: 'admin',
    request: { params: idParamsSchema },
    responses: {
      200: { description: 'The key after the reset', schema: keySchema },
      404: { description: 'No such key (not_found)', schema: errorResponseSchema },
      409: { description: 'Re-activating the exhausted key would pass max_child_keys (conflict)', schema: errorResponseSchema },
    },
    handler: (ctx, { params }, env) => keys.resetKeyQuotaUsed(writeDeps(env, ctx), writeContext(ctx), params.id),
  }),
  defineRoute({
    method: 'delete',
    path: '/admin/keys/:id',
    summary: 'Delete a child key',
    tags,
    auth: 'admin',
    request: { params: idParamsSchema },
    responses: { 204: { description: 'Deleted' } },
    handler: async (ctx, { params }, env) => {
      await keys.deleteKey(writeDeps(env, ctx), writeContext(ctx), params.id);
      ctx.status = 204;
    },
  }),
  defineRoute({
    method: 'get',
    path: '/admin/keys/:id/access',
    summary: "A key's namespaces and default namespace (empty / null = the master's)",
    tags,
    auth: 'admin',
    request: { params: idParamsSchema },
    responses: { 200: { description: 'Access', schema: keyAccessSchema } },
    handler: (_ctx, { params }, { deps }) => access.getKeyAccess(deps.knex, params.id),
  }),
  defineRoute({
    method: 'put',
    path: '/admin/keys/:id/access',
    summary: "Set a key's namespaces (within its master's) and default namespace",
    tags,
    auth: 'admin',
    request: { params: idParamsSchema, body: putKeyAccessSchema },
    responses: { 200: { description: 'The new access', schema: keyAccessSchema } },
    handler: (ctx, { params, body }, env) => access.putKeyAccess(writeDeps(env, ctx), writeContext(ctx), params.id, body),
  }),
];

/** The validated creation body as the service takes it (ISO instant → Date). */
export function issueInput(body: (typeof createKeySchema)['_zod']['output']): keys.IssueKeyInput {
  const { expires_at: expiresAt, ...rest } = body;
  return { ...rest, ...(expiresAt === undefined ? {} : { expires_at: new Date(expiresAt) }) };
}
