import * as access from '../../domain/access.service.js';
import * as masters from '../../domain/masters.service.js';
import { KeyDigester } from '../../lib/key-digest.js';
import type { ApiDeps } from '../deps.js';
import { defineRoute, type ApiRoute } from '../route.js';
import { writeContext, writeDeps } from '../write.js';
import {
  createMasterSchema,
  idParamsSchema,
  listMastersQuerySchema,
  masterAccessSchema,
  masterAccessUpdatedSchema,
  masterListSchema,
  masterSchema,
  masterWithKeySchema,
  putMasterAccessSchema,
  updateMasterSchema,
} from './masters.schemas.js';

const digesters = new WeakMap<ApiDeps, KeyDigester>();

/** The process's key digester (HKDF subkey derived once per deps). */
export function keyDigesterFor(deps: ApiDeps): KeyDigester {
  let digester = digesters.get(deps);
  if (!digester) {
    digester = new KeyDigester(deps.secrets.master);
    digesters.set(deps, digester);
  }
  return digester;
}

const tags = ['masters'];

export const masterRoutes: ApiRoute[] = [
  defineRoute({
    method: 'post',
    path: '/admin/masters',
    summary: 'Create a master; the response carries its master key, shown once',
    tags,
    auth: 'admin',
    request: { body: createMasterSchema },
    responses: { 201: { description: 'Created', schema: masterWithKeySchema } },
    handler: async (ctx, { body }, env) => {
      const created = await masters.createMaster(writeDeps(env, ctx), writeContext(ctx), keyDigesterFor(env.deps), body);
      ctx.status = 201;
      return created;
    },
  }),
  defineRoute({
    method: 'get',
    path: '/admin/masters',
    summary: 'List masters, newest first',
    tags,
    auth: 'admin',
    request: { query: listMastersQuerySchema },
    responses: { 200: { description: 'A page of masters', schema: masterListSchema } },
    handler: (_ctx, { query }, { deps }) => {
      const { limit, offset, ...filters } = query;
      return masters.listMasters(deps.knex, filters, { limit, offset });
    },
  }),
  defineRoute({
    method: 'get',
    path: '/admin/masters/:id',
    summary: 'Get a master',
    tags,
    auth: 'admin',
    request: { params: idParamsSchema },
    responses: { 200: { description: 'The master', schema: masterSchema } },
    handler: (_ctx, { params }, { deps }) => masters.getMaster(deps.knex, params.id),
  }),
  defineRoute({
    method: 'patch',
    path: '/admin/masters/:id',
    summary: 'Update a master (name, group, max_child_keys, global_qps, status, quota_limit, budgets)',
    tags,
    auth: 'admin',
    request: { params: idParamsSchema, body: updateMasterSchema },
    responses: { 200: { description: 'The updated master', schema: masterSchema } },
    handler: (ctx, { params, body }, env) => masters.updateMaster(writeDeps(env, ctx), writeContext(ctx), params.id, body),
  }),
  defineRoute({
    method: 'delete',
    path: '/admin/masters/:id',
    summary: 'Delete a master and all of its child keys',
    tags,
    auth: 'admin',
    request: { params: idParamsSchema },
    responses: { 204: { description: 'Deleted' } },
    handler: async (ctx, { params }, env) => {
      await masters.deleteMaster(writeDeps(env, ctx), writeContext(ctx), params.id);
      ctx.status = 204;
    },
  }),
  defineRoute({
    method: 'post',
    path: '/admin/masters/:id/revoke',
    summary: 'Revoke every child key issued so far (bumps the epoch)',
    tags,
    auth: 'admin',
    request: { params: idParamsSchema },
    responses: { 200: { description: 'The master with its new epoch', schema: masterSchema } },
    handler: (ctx, { params }, env) => masters.revokeMaster(writeDeps(env, ctx), writeContext(ctx), params.id),
  }),
  defineRoute({
    method: 'post',
    path: '/admin/masters/:id/quota/reset',
    summary: "Reset a master's lifetime spend to 0 (audited)",
    description: "quota_used becomes 0 in PostgreSQL and the live spend counter in Redis is overwritten with 0 by the sync worker. Child keys' own spend and periodic budget windows are not reset.",
    tags,
    auth: 'admin',
    request: { params: idParamsSchema },
    responses: { 200: { description: 'The master after the reset', schema: masterSchema } },
    handler: (ctx, { params }, env) => masters.resetMasterQuotaUsed(writeDeps(env, ctx), writeContext(ctx), params.id),
  }),
  defineRoute({
    method: 'post',
    path: '/admin/masters/:id/rotate-key',
    summary: 'Replace the master key; the new one is shown once',
    tags,
    auth: 'admin',
    request: { params: idParamsSchema },
    responses: { 200: { description: 'The master with its new key', schema: masterWithKeySchema } },
    handler: (ctx, { params }, env) => masters.rotateMasterKey(writeDeps(env, ctx), writeContext(ctx), keyDigesterFor(env.deps), params.id),
  }),
  defineRoute({
    method: 'get',
    path: '/admin/masters/:id/access',
    summary: "A master's namespaces and default namespace",
    tags,
    auth: 'admin',
    request: { params: idParamsSchema },
    responses: { 200: { description: 'Access', schema: masterAccessSchema } },
    handler: (_ctx, { params }, { deps }) => access.getMasterAccess(deps.knex, params.id),
  }),
  defineRoute({
    method: 'put',
    path: '/admin/masters/:id/access',
    summary: "Set a master's namespaces; `propagate` narrows its keys to match",
    tags,
    auth: 'admin',
    request: { params: idParamsSchema, body: putMasterAccessSchema },
    responses: { 200: { description: 'The new access', schema: masterAccessUpdatedSchema } },
    handler: (ctx, { params, body }, env) => access.putMasterAccess(writeDeps(env, ctx), writeContext(ctx), params.id, body),
  }),
];
