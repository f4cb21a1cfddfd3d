import { createBinding, deleteBindingById, getBinding, listBindingDtos, updateBindingById } from '../../domain/bindings.service.js';
import { defineRoute, type ApiRoute } from '../route.js';
import { writeContext, writeDeps } from '../write.js';
import { bindingListSchema, bindingSchema, createBindingSchema, listBindingsQuerySchema, updateBindingSchema } from './bindings.schemas.js';
import { idParamsSchema } from './models.schemas.js';

const RESOLUTION_NOTE =
  "Each candidate carries its `resolution` against the group's current models and upstream keys; a candidate that does not resolve is saved and marked `config_error` or `no_provider`.";

export const bindingRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/admin/bindings',
    summary: 'List bindings (newest first)',
    description: RESOLUTION_NOTE,
    tags: ['bindings'],
    auth: 'admin',
    request: { query: listBindingsQuerySchema },
    responses: { 200: { description: 'A page of bindings', schema: bindingListSchema } },
    handler: (_ctx, { query }, { deps }) => {
      const { limit, offset, ...filters } = query;
      return listBindingDtos(deps.knex, filters, { limit, offset });
    },
  }),
  defineRoute({
    method: 'post',
    path: '/admin/bindings',
    summary: 'Bind a public model in a namespace to provider-group candidates',
    description: `${RESOLUTION_NOTE} 409 when the namespace already binds the model.`,
    tags: ['bindings'],
    auth: 'admin',
    request: { body: createBindingSchema },
    responses: { 201: { description: 'Created', schema: bindingSchema } },
    handler: async (ctx, { body }, env) => {
      const binding = await createBinding(writeDeps(env, ctx), writeContext(ctx), body);
      ctx.status = 201;
      return binding;
    },
  }),
  defineRoute({
    method: 'get',
    path: '/admin/bindings/:id',
    summary: 'Get a binding',
    description: RESOLUTION_NOTE,
    tags: ['bindings'],
    auth: 'admin',
    request: { params: idParamsSchema },
    responses: { 200: { description: 'The binding', schema: bindingSchema } },
    handler: (_ctx, { params }, { deps }) => getBinding(deps.knex, params.id),
  }),
  defineRoute({
    method: 'patch',
    path: '/admin/bindings/:id',
    summary: 'Change a binding',
    description: RESOLUTION_NOTE,
    tags: ['bindings'],
    auth: 'admin',
    request: { params: idParamsSchema, body: updateBindingSchema },
    responses: { 200: { description: 'The updated binding', schema: bindingSchema } },
    handler: (ctx, { params, body }, env) => updateBindingById(writeDeps(env, ctx), writeContext(ctx), params.id, body),
  }),
  defineRoute({
    method: 'delete',
    path: '/admin/bindings/:id',
    summary: 'Delete a binding',
    tags: ['bindings'],
    auth: 'admin',
    request: { params: idParamsSchema },
    responses: { 204: { description: 'Deleted' } },
    handler: async (ctx, { params }, env) => {
      await deleteBindingById(writeDeps(env, ctx), writeContext(ctx), params.id);
      ctx.status = 204;
    },
  }),
];
