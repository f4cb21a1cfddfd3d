import { requestSnapshot, retryFailedRows, syncStatus, waitForOutboxRow } from '../../domain/sync/sync-admin.service.js';
import { defineRoute, type ApiRoute } from '../route.js';
import { writeContext, writeDeps } from '../write.js';
import { retryResponseSchema, snapshotQuerySchema, snapshotResponseSchema, syncStatusSchema } from './sync.schemas.js';

export const syncRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/admin/sync/status',
    summary: 'Outbox backlog, last error, and the PostgreSQL vs Redis config version',
    tags: ['sync'],
    auth: 'admin',
    responses: { 200: { description: 'Sync status', schema: syncStatusSchema } },
    handler: (_ctx, _input, env) => syncStatus(env.deps.knex, env.deps.redis),
  }),
  defineRoute({
    method: 'post',
    path: '/admin/sync/snapshot',
    summary: 'Rebuild Redis from PostgreSQL',
    description:
      'Queues a full rebuild (the cure for an emptied Redis) and waits up to `wait_ms` for it: 200 when applied, 202 when still pending.',
    tags: ['sync'],
    auth: 'admin',
    request: { query: snapshotQuerySchema },
    responses: {
      200: { description: 'Applied', schema: snapshotResponseSchema },
      202: { description: 'Queued, not applied yet', schema: snapshotResponseSchema },
    },
    handler: async (ctx, { query }, env) => {
      const id = await requestSnapshot(writeDeps(env, ctx), writeContext(ctx));
      const outcome = await waitForOutboxRow(env.deps.knex, id, query.wait_ms);
      ctx.status = outcome.status === 'done' ? 200 : 202;
      return { outbox_id: id, ...outcome };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/admin/sync/retry',
    summary: 'Put failed outbox rows back in line',
    tags: ['sync'],
    auth: 'admin',
    responses: { 200: { description: 'How many rows were re-queued', schema: retryResponseSchema } },
    handler: async (ctx, _input, env) => ({ retried: await retryFailedRows(writeDeps(env, ctx), writeContext(ctx)) }),
  }),
];
