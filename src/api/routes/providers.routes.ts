import {
  createApiKey,
  createCustomProvider,
  createGroup,
  createPresetProvider,
  deleteApiKeyById,
  deleteGroup,
  getApiKey,
  getGroup,
  listApiKeysPage,
  listGroups,
  revealApiKey,
  updateApiKeyById,
  updateGroup,
  type ProvidersRead,
  type ProvidersWrite,
} from '../../domain/providers.service.js';
import { SecretBox } from '../../lib/secret-box.js';
import type { ApiDeps } from '../deps.js';
import { defineRoute, type ApiRoute, type RouteContext, type RouteEnv } from '../route.js';
import { writeContext, writeDeps } from '../write.js';
import { errorResponseSchema } from './common.schemas.js';
import {
  apiKeyListSchema,
  apiKeySchema,
  createApiKeySchema,
  createProviderGroupSchema,
  customProviderSchema,
  idParamsSchema,
  listApiKeysQuerySchema,
  listProviderGroupsQuerySchema,
  presetProviderSchema,
  providerCreatedSchema,
  providerGroupListSchema,
  providerGroupSchema,
  revealedApiKeySchema,
  updateApiKeySchema,
  updateProviderGroupSchema,
} from './providers.schemas.js';

/** One SecretBox per process secret (deriving the subkey is cheap, but there is no need to repeat it). */
const boxes = new WeakMap<ApiDeps, SecretBox>();
function boxOf(deps: ApiDeps): SecretBox {
  let box = boxes.get(deps);
  if (!box) boxes.set(deps, (box = new SecretBox(deps.secrets.master)));
  return box;
}

/** A documented error response (DESIGN §7 body). */
const problem = (description: string) => ({ description, schema: errorResponseSchema });

const reader = ({ deps }: RouteEnv): ProvidersRead => ({ knex: deps.knex, box: boxOf(deps) });
const writer = (env: RouteEnv, ctx: RouteContext): ProvidersWrite => ({ deps: writeDeps(env, ctx), ctx: writeContext(ctx), box: boxOf(env.deps) });

const groupRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/admin/provider-groups',
    summary: 'List provider groups (newest first)',
    tags: ['providers'],
    auth: 'admin',
    request: { query: listProviderGroupsQuerySchema },
    responses: { 200: { description: 'A page of provider groups, each with its api key count', schema: providerGroupListSchema } },
    handler: (_ctx, { query }, env) => {
      const { limit, offset, ...filters } = query;
      return listGroups(reader(env), filters, { limit, offset });
    },
  }),
  defineRoute({
    method: 'post',
    path: '/admin/provider-groups',
    summary: 'Create a provider group',
    tags: ['providers'],
    auth: 'admin',
    request: { body: createProviderGroupSchema },
    responses: { 201: { description: 'Created', schema: providerGroupSchema } },
    handler: async (ctx, { body }, env) => {
      const group = await createGroup(writer(env, ctx), body);
      ctx.status = 201;
      return group;
    },
  }),
  defineRoute({
    method: 'get',
    path: '/admin/provider-groups/:id',
    summary: 'Get a provider group',
    tags: ['providers'],
    auth: 'admin',
    request: { params: idParamsSchema },
    responses: { 200: { description: 'The provider group', schema: providerGroupSchema }, 404: problem('No such group') },
    handler: (_ctx, { params }, env) => getGroup(reader(env), params.id),
  }),
  defineRoute({
    method: 'patch',
    path: '/admin/provider-groups/:id',
    summary: 'Change a provider group',
    tags: ['providers'],
    auth: 'admin',
    request: { params: idParamsSchema, body: updateProviderGroupSchema },
    responses: { 200: { description: 'The updated group', schema: providerGroupSchema }, 404: problem('No such group') },
    handler: (ctx, { params, body }, env) => updateGroup(writer(env, ctx), params.id, body),
  }),
  defineRoute({
    method: 'delete',
    path: '/admin/provider-groups/:id',
    summary: 'Delete a provider group and its api keys',
    tags: ['providers'],
    auth: 'admin',
    request: { params: idParamsSchema },
    responses: { 204: { description: 'Deleted (its api keys with it)' }, 404: problem('No such group') },
    handler: async (ctx, { params }, env) => {
      await deleteGroup(writer(env, ctx), params.id);
      ctx.status = 204;
    },
  }),
];

const apiKeyRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/admin/api-keys',
    summary: 'List upstream api keys (newest first, secrets masked)',
    tags: ['providers'],
    auth: 'admin',
    request: { query: listApiKeysQuerySchema },
    responses: { 200: { description: 'A page of api keys', schema: apiKeyListSchema } },
    handler: (_ctx, { query }, env) => {
      const { limit, offset, ...filters } = query;
      return listApiKeysPage(reader(env), filters, { limit, offset });
    },
  }),
  defineRoute({
    method: 'post',
    path: '/admin/api-keys',
    summary: 'Add an upstream api key to a provider group',
    tags: ['providers'],
    auth: 'admin',
    request: { body: createApiKeySchema },
    responses: { 201: { description: 'Created (secret masked)', schema: apiKeySchema } },
    handler: async (ctx, { body }, env) => {
      const key = await createApiKey(writer(env, ctx), body);
      ctx.status = 201;
      return key;
    },
  }),
  defineRoute({
    method: 'get',
    path: '/admin/api-keys/:id',
    summary: 'Get an upstream api key (secret masked)',
    tags: ['providers'],
    auth: 'admin',
    request: { params: idParamsSchema },
    responses: { 200: { description: 'The api key', schema: apiKeySchema }, 404: problem('No such key') },
    handler: (_ctx, { params }, env) => getApiKey(reader(env), params.id),
  }),
  defineRoute({
    method: 'patch',
    path: '/admin/api-keys/:id',
    summary: 'Change an upstream api key (replace the secret, weight, status, auto-ban; clear a ban)',
    tags: ['providers'],
    auth: 'admin',
    request: { params: idParamsSchema, body: updateApiKeySchema },
    responses: { 200: { description: 'The updated key (secret masked)', schema: apiKeySchema }, 404: problem('No such key') },
    handler: (ctx, { params, body }, env) => updateApiKeyById(writer(env, ctx), params.id, body),
  }),
  defineRoute({
    method: 'delete',
    path: '/admin/api-keys/:id',
    summary: 'Delete an upstream api key',
    tags: ['providers'],
    auth: 'admin',
    request: { params: idParamsSchema },
    responses: { 204: { description: 'Deleted' }, 404: problem('No such key') },
    handler: async (ctx, { params }, env) => {
      await deleteApiKeyById(writer(env, ctx), params.id);
      ctx.status = 204;
    },
  }),
  defineRoute({
    method: 'get',
    path: '/admin/api-keys/:id/reveal',
    summary: 'Reveal an upstream secret in plaintext (audited)',
    description: 'The only route that returns an upstream secret. Every call writes an `api_key.reveal` audit event (actor, request id, ip).',
    tags: ['providers'],
    auth: 'admin',
    request: { params: idParamsSchema },
    responses: {
      200: { description: 'The plaintext secret', schema: revealedApiKeySchema },
      404: problem('No such key'),
      409: problem('The key has no secret yet, or it cannot be decrypted'),
    },
    handler: (ctx, { params }, env) => {
      ctx.set('Cache-Control', 'no-store');
      return revealApiKey(writer(env, ctx), params.id);
    },
  }),
];

const shortcutRoutes: ApiRoute[] = [
  defineRoute({
    method: 'post',
    path: '/admin/providers/preset',
    summary: 'Add OpenAI, Anthropic or Gemini with the official endpoint and starter models',
    tags: ['providers'],
    auth: 'admin',
    request: { body: presetProviderSchema },
    responses: { 201: { description: 'The group and its first key', schema: providerCreatedSchema }, 409: problem('The group name is taken') },
    handler: async (ctx, { body }, env) => {
      const created = await createPresetProvider(writer(env, ctx), body);
      ctx.status = 201;
      return created;
    },
  }),
  defineRoute({
    method: 'post',
    path: '/admin/providers/custom',
    summary: 'Add any OpenAI-compatible endpoint (type `compatible`)',
    tags: ['providers'],
    auth: 'admin',
    request: { body: customProviderSchema },
    responses: { 201: { description: 'The group and its first key', schema: providerCreatedSchema }, 409: problem('The group name is taken') },
    handler: async (ctx, { body }, env) => {
      const created = await createCustomProvider(writer(env, ctx), body);
      ctx.status = 201;
      return created;
    },
  }),
];

export const providerRoutes: ApiRoute[] = [...groupRoutes, ...apiKeyRoutes, ...shortcutRoutes];
