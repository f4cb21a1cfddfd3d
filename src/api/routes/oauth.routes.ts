import { webhookEnqueuer } from '../../../jobs/webhooks/publish.js';
import { refreshApiKeyNow, type TokenRefreshDeps } from '../../domain/oauth/token-refresh.service.js';
import { SecretBox } from '../../lib/secret-box.js';
import type { ApiDeps } from '../deps.js';
import { defineRoute, type ApiRoute, type RouteContext, type RouteEnv } from '../route.js';
import { writeContext, writeDeps } from '../write.js';
import { errorResponseSchema } from './common.schemas.js';
import { idParamsSchema, oauthRefreshResultSchema } from './oauth.schemas.js';

/**
 * `POST /admin/api-keys/:id/refresh` (DESIGN §7): refreshes an OAuth key's access token now, in
 * the api process, under the same per-key row lock as the token-refresh worker (so it never races
 * a worker into a second token-endpoint call), and answers with the outcome, the new expiry and
 * the status — never a token.
 */

const boxes = new WeakMap<ApiDeps, SecretBox>();
function boxOf(deps: ApiDeps): SecretBox {
  let box = boxes.get(deps);
  if (!box) boxes.set(deps, (box = new SecretBox(deps.secrets.master)));
  return box;
}

const refreshDeps = (env: RouteEnv, ctx: RouteContext): TokenRefreshDeps => ({
  write: writeDeps(env, ctx),
  box: boxOf(env.deps),
  oauth: env.deps.config.oauth,
  now: () => new Date(),
  events: { enqueue: webhookEnqueuer(env.deps.queues) },
});

const problem = (description: string) => ({ description, schema: errorResponseSchema });

export const oauthRoutes: ApiRoute[] = [
  defineRoute({
    method: 'post',
    path: '/admin/api-keys/:id/refresh',
    summary: 'Refresh an OAuth api key now (codex, claude-code, gemini-cli, antigravity)',
    description:
      'Exchanges the stored refresh token at the type\'s token endpoint and stores (and syncs to the gateways) the new access token. Answers 200 with the `outcome` also when the token endpoint failed: `retryable_failure` (try again later) or `disabled` (the refresh token was refused; set a new one with PATCH).',
    tags: ['providers'],
    auth: 'admin',
    request: { params: idParamsSchema },
    responses: {
      200: { description: 'What the refresh did, the expiry and the status', schema: oauthRefreshResultSchema },
      400: problem('`not_oauth`: the key is not of an OAuth type or has no refresh token'),
      404: problem('No such key'),
    },
    handler: async (ctx, { params }, env) => {
      const result = await refreshApiKeyNow(refreshDeps(env, ctx), writeContext(ctx), params.id);
      const key = result.key!;
      ctx.set('Cache-Control', 'no-store');
      return {
        id: key.id,
        outcome: result.outcome,
        detail: result.reason,
        status: key.status,
        access_token_expires_at: key.access_token_expires_at,
        last_refresh_at: key.last_refresh_at,
        refresh_error: key.refresh_error,
        refresh_failure_count: key.refresh_failure_count,
      };
    },
  }),
];
