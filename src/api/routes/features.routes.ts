import { getFeatures, updateFeatures } from '../../domain/features.service.js';
import { defineRoute, type ApiRoute } from '../route.js';
import { writeContext, writeDeps } from '../write.js';
import { featuresSchema, updateFeaturesSchema } from './features.schemas.js';

export const featureRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/admin/features',
    summary: 'Feature flags (defaults overlaid with what an admin set)',
    tags: ['features'],
    auth: 'admin',
    responses: { 200: { description: 'The flags', schema: featuresSchema } },
    handler: (_ctx, _input, { deps }) => getFeatures(deps.knex),
  }),
  defineRoute({
    method: 'put',
    path: '/admin/features',
    summary: 'Set or remove feature flags',
    description: 'Named flags are set (or removed with `null`); the others keep their value. Applied to `meta:features` by the sync worker.',
    tags: ['features'],
    auth: 'admin',
    request: { body: updateFeaturesSchema },
    responses: { 200: { description: 'The flags after the update', schema: featuresSchema } },
    handler: (ctx, { body }, env) => updateFeatures(writeDeps(env, ctx), writeContext(ctx), body.flags),
  }),
];
