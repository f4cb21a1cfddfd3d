import { createNamespace, deleteNamespaceById, getNamespace, listNamespaceDtos, updateNamespaceById } from '../../domain/namespaces.service.js';
import { defineRoute, type ApiRoute } from '../route.js';
import { writeContext, writeDeps } from '../write.js';
import { idParamsSchema } from './models.schemas.js';
import { createNamespaceSchema, listNamespacesQuerySchema, namespaceListSchema, namespaceSchema, updateNamespaceSchema } from './namespaces.schemas.js';

export const namespaceRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/admin/namespaces',
    summary: 'List namespaces (newest first; `default` always exists)',
    tags: ['namespaces'],
    auth: 'admin',
    request: { query: listNamespacesQuerySchema },
    responses: { 200: { description: 'A page of namespaces', schema: namespaceListSchema } },
    handler: (_ctx, { query }, { deps }) => {
      const { limit, offset, ...filters } = query;
      return listNamespaceDtos(deps.knex, filters, { limit, offset });
    },
  }),
  defineRoute({
    method: 'post',
    path: '/admin/namespaces',
    summary: 'Create a namespace',
    tags: ['namespaces'],
    auth: 'admin',
    request: { body: createNamespaceSchema },
    responses: { 201: { description: 'Created', schema: namespaceSchema } },
    handler: async (ctx, { body }, env) => {
      const namespace = await createNamespace(writeDeps(env, ctx), writeContext(ctx), body);
      ctx.status = 201;
      return namespace;
    },
  }),
  defineRoute({
    method: 'get',
    path: '/admin/namespaces/:id',
    summary: 'Get a namespace',
    tags: ['namespaces'],
    auth: 'admin',
    request: { params: idParamsSchema },
    responses: { 200: { description: 'The namespace', schema: namespaceSchema } },
    handler: (_ctx, { params }, { deps }) => getNamespace(deps.knex, params.id),
  }),
  defineRoute({
    method: 'patch',
    path: '/admin/namespaces/:id',
    summary: "Change a namespace's description",
    tags: ['namespaces'],
    auth: 'admin',
    request: { params: idParamsSchema, body: updateNamespaceSchema },
    responses: { 200: { description: 'The updated namespace', schema: namespaceSchema } },
    handler: (ctx, { params, body }, env) => updateNamespaceById(writeDeps(env, ctx), writeContext(ctx), params.id, body),
  }),
  defineRoute({
    method: 'delete',
    path: '/admin/namespaces/:id',
    summary: 'Delete a namespace nothing uses',
    description: '409 `conflict` naming the bindings, masters and keys that still use it; `default` cannot be deleted.',
    tags: ['namespaces'],
    auth: 'admin',
    request: { params: idParamsSchema },
    responses: { 204: { description: 'Deleted' } },
    handler: async (ctx, { params }, env) => {
      await deleteNamespaceById(writeDeps(env, ctx), writeContext(ctx), params.id);
      ctx.status = 204;
    },
  }),
];
