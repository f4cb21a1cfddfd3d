import { getLogWebhook, updateLogWebhook } from '../../domain/log-webhook.service.js';
import { SecretBox } from '../../lib/secret-box.js';
import type { ApiDeps } from '../deps.js';
import { defineRoute, type ApiRoute } from '../route.js';
import { writeContext, writeDeps } from '../write.js';
import { logWebhookSchema, updateLogWebhookSchema } from './log-webhook.schemas.js';

/** One SecretBox per process secret. */
const boxes = new WeakMap<ApiDeps, SecretBox>();
function boxOf(deps: ApiDeps): SecretBox {
  let box = boxes.get(deps);
  if (!box) boxes.set(deps, (box = new SecretBox(deps.secrets.master)));
  return box;
}

export const logWebhookRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/admin/log-webhook',
    summary: 'The log webhook (error-threshold alerts to one receiver)',
    tags: ['log-webhook'],
    auth: 'admin',
    responses: { 200: { description: 'The configuration (never the secret) and the last firing', schema: logWebhookSchema } },
    handler: (_ctx, _input, { deps }) => getLogWebhook(deps.knex),
  }),
  defineRoute({
    method: 'put',
    path: '/admin/log-webhook',
    summary: 'Configure the log webhook',
    description:
      'Replaces the configuration (`secret` is kept when left out). Every 30 s the worker counts the requests of the last `window_seconds` whose status is ≥ `status_code_threshold` (and whose error message matches, if set); at `error_count_threshold` or more it POSTs one signed event (Standard Webhooks) with a sample of up to 10 of them, then stays quiet for `cooldown_seconds`.',
    tags: ['log-webhook'],
    auth: 'admin',
    request: { body: updateLogWebhookSchema },
    responses: { 200: { description: 'The configuration after the update', schema: logWebhookSchema } },
    handler: (ctx, { body }, env) => updateLogWebhook(writeDeps(env, ctx), writeContext(ctx), boxOf(env.deps), body),
  }),
];
