import { webhookEnqueuer } from '../../../jobs/webhooks/publish.js';
import {
  createWebhook,
  deleteWebhookById,
  getWebhook,
  listWebhookDeliveries,
  listWebhookDtos,
  rotateWebhookSecret,
  sendTestEvent,
  updateWebhookById,
} from '../../domain/webhooks.service.js';
import { SecretBox } from '../../lib/secret-box.js';
import type { ApiDeps } from '../deps.js';
import { defineRoute, type ApiRoute } from '../route.js';
import { writeContext, writeDeps } from '../write.js';
import {
  createWebhookSchema,
  deliveryListSchema,
  listDeliveriesQuerySchema,
  listWebhooksQuerySchema,
  rotateSecretSchema,
  testEventSchema,
  updateWebhookSchema,
  webhookIdParamsSchema,
  webhookListSchema,
  webhookSchema,
} from './webhooks.schemas.js';

/** One SecretBox per process secret. */
const boxes = new WeakMap<ApiDeps, SecretBox>();
function boxOf(deps: ApiDeps): SecretBox {
  let box = boxes.get(deps);
  if (!box) boxes.set(deps, (box = new SecretBox(deps.secrets.master)));
  return box;
}

const tags = ['webhooks'];

export const webhookRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/admin/webhooks',
    summary: 'List webhooks (oldest first; secrets masked)',
    tags,
    auth: 'admin',
    request: { query: listWebhooksQuerySchema },
    responses: { 200: { description: 'A page of webhooks', schema: webhookListSchema } },
    handler: (_ctx, { query }, { deps }) => {
      const { limit, offset, ...filters } = query;
      return listWebhookDtos(deps.knex, boxOf(deps), filters, { limit, offset });
    },
  }),
  defineRoute({
    method: 'post',
    path: '/admin/webhooks',
    summary: 'Create a webhook',
    description:
      'Events are POSTed as `{type, timestamp, data}` with Standard Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`). The answer carries the whole signing `secret`: it is never shown again (only `whsec_…last4`).',
    tags,
    auth: 'admin',
    request: { body: createWebhookSchema },
    responses: { 201: { description: 'Created; `secret` is shown this once', schema: webhookSchema } },
    handler: async (ctx, { body }, env) => {
      const webhook = await createWebhook(writeDeps(env, ctx), writeContext(ctx), boxOf(env.deps), body);
      ctx.status = 201;
      return webhook;
    },
  }),
  defineRoute({
    method: 'get',
    path: '/admin/webhooks/:id',
    summary: 'Get a webhook (secret masked)',
    tags,
    auth: 'admin',
    request: { params: webhookIdParamsSchema },
    responses: { 200: { description: 'The webhook', schema: webhookSchema } },
    handler: (_ctx, { params }, { deps }) => getWebhook(deps.knex, boxOf(deps), params.id),
  }),
  defineRoute({
    method: 'patch',
    path: '/admin/webhooks/:id',
    summary: 'Change a webhook (url, description, events, status)',
    description: 'Changing `status` (e.g. re-enabling a webhook the system disabled after a 410) clears `disabled_reason`.',
    tags,
    auth: 'admin',
    request: { params: webhookIdParamsSchema, body: updateWebhookSchema },
    responses: { 200: { description: 'The updated webhook', schema: webhookSchema } },
    handler: (ctx, { params, body }, env) => updateWebhookById(writeDeps(env, ctx), writeContext(ctx), boxOf(env.deps), params.id, body),
  }),
  defineRoute({
    method: 'delete',
    path: '/admin/webhooks/:id',
    summary: 'Delete a webhook and its delivery history',
    tags,
    auth: 'admin',
    request: { params: webhookIdParamsSchema },
    responses: { 204: { description: 'Deleted' } },
    handler: async (ctx, { params }, env) => {
      await deleteWebhookById(writeDeps(env, ctx), writeContext(ctx), params.id);
      ctx.status = 204;
    },
  }),
  defineRoute({
    method: 'post',
    path: '/admin/webhooks/:id/rotate-secret',
    summary: "Replace a webhook's signing secret",
    description: 'Body optional: `{secret}` to set a given `whsec_` secret, else one is generated. The answer carries the new secret once.',
    tags,
    auth: 'admin',
    request: { params: webhookIdParamsSchema, body: rotateSecretSchema },
    responses: { 200: { description: 'The webhook with its new `secret`, shown this once', schema: webhookSchema } },
    handler: (ctx, { params, body }, env) => rotateWebhookSecret(writeDeps(env, ctx), writeContext(ctx), boxOf(env.deps), params.id, body?.secret),
  }),
  defineRoute({
    method: 'post',
    path: '/admin/webhooks/:id/test',
    summary: 'Send a `webhook.test` ping',
    description: 'Enqueues one `webhook.test` event to this webhook, whatever it subscribes to; follow it in `GET /admin/webhooks/{id}/deliveries`. 409 while disabled.',
    tags,
    auth: 'admin',
    request: { params: webhookIdParamsSchema },
    responses: { 202: { description: 'Enqueued', schema: testEventSchema } },
    handler: async (ctx, { params }, env) => {
      const sent = await sendTestEvent(writeDeps(env, ctx), writeContext(ctx), params.id, webhookEnqueuer(env.deps.queues));
      ctx.status = 202;
      return sent;
    },
  }),
  defineRoute({
    method: 'get',
    path: '/admin/webhooks/:id/deliveries',
    summary: "A webhook's delivery attempts, newest first",
    description: 'One row per attempt (retries share the `event_id`). Keyset-paginated: pass `next_before` as `before`.',
    tags,
    auth: 'admin',
    request: { params: webhookIdParamsSchema, query: listDeliveriesQuerySchema },
    responses: { 200: { description: 'A page of attempts', schema: deliveryListSchema } },
    handler: (_ctx, { params, query }, { deps }) => listWebhookDeliveries(deps.knex, params.id, query),
  }),
];
