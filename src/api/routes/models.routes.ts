import { createModel, deleteModelById, getModel, listModelDtos, updateModelById } from '../../domain/models.service.js';
import { DEFAULT_PRICE_TABLE } from '../../domain/pricing/price-table.js';
import { loadPrices } from '../../domain/pricing/price-table.service.js';
import { defineRoute, type ApiRoute } from '../route.js';
import { writeContext, writeDeps } from '../write.js';
import {
  createModelSchema,
  idParamsSchema,
  listModelsQuerySchema,
  loadPricesBodySchema,
  modelListSchema,
  modelSchema,
  priceLoadResultSchema,
  updateModelSchema,
} from './models.schemas.js';

export const modelRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/admin/models',
    summary: 'List registered models (newest first)',
    tags: ['models'],
    auth: 'admin',
    request: { query: listModelsQuerySchema },
    responses: { 200: { description: 'A page of models', schema: modelListSchema } },
    handler: (_ctx, { query }, { deps }) => {
      const { limit, offset, ...filters } = query;
      return listModelDtos(deps.knex, filters, { limit, offset });
    },
  }),
  defineRoute({
    method: 'post',
    path: '/admin/models',
    summary: 'Register a model',
    tags: ['models'],
    auth: 'admin',
    request: { body: createModelSchema },
    responses: { 201: { description: 'Created', schema: modelSchema } },
    handler: async (ctx, { body }, env) => {
      const model = await createModel(writeDeps(env, ctx), writeContext(ctx), body);
      ctx.status = 201;
      return model;
    },
  }),
  defineRoute({
    method: 'post',
    path: '/admin/models/prices/load',
    summary: 'Load the shipped default price table into the registry',
    description:
      'Creates missing models with their kind, limits and list prices; refreshes prices whose `price_source` is `default:*`; keeps prices an admin set unless `overwrite` (docs/pricing.md). The same as `ez-api prices load`.',
    tags: ['models'],
    auth: 'admin',
    request: { body: loadPricesBodySchema },
    responses: { 200: { description: 'What the load did (or would do, for a dry run)', schema: priceLoadResultSchema } },
    handler: (ctx, { body }, env) => loadPrices(writeDeps(env, ctx), writeContext(ctx), DEFAULT_PRICE_TABLE, { overwrite: body.overwrite, dryRun: body.dry_run }),
  }),
  defineRoute({
    method: 'get',
    path: '/admin/models/:id',
    summary: 'Get a model',
    tags: ['models'],
    auth: 'admin',
    request: { params: idParamsSchema },
    responses: { 200: { description: 'The model', schema: modelSchema } },
    handler: (_ctx, { params }, { deps }) => getModel(deps.knex, params.id),
  }),
  defineRoute({
    method: 'patch',
    path: '/admin/models/:id',
    summary: 'Change a model',
    tags: ['models'],
    auth: 'admin',
    request: { params: idParamsSchema, body: updateModelSchema },
    responses: { 200: { description: 'The updated model', schema: modelSchema } },
    handler: (ctx, { params, body }, env) => updateModelById(writeDeps(env, ctx), writeContext(ctx), params.id, body),
  }),
  defineRoute({
    method: 'delete',
    path: '/admin/models/:id',
    summary: 'Delete a model',
    tags: ['models'],
    auth: 'admin',
    request: { params: idParamsSchema },
    responses: { 204: { description: 'Deleted' } },
    handler: async (ctx, { params }, env) => {
      await deleteModelById(writeDeps(env, ctx), writeContext(ctx), params.id);
      ctx.status = 204;
    },
  }),
];
