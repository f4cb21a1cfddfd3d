import { MAX_LOG_BATCH } from '../../../jobs/logs/definition.js';
import { acceptLogBatch, listLogs } from '../../domain/request-log-queries.service.js';
import { UnauthorizedError } from '../../lib/errors.js';
import { defineRoute, type ApiRoute, type RouteContext } from '../route.js';
import { errorResponseSchema } from './common.schemas.js';
import { adminLogsQuerySchema, logBatchAcceptedSchema, logBatchSchema, masterLogsQuerySchema, requestLogListSchema } from './logs.schemas.js';

/**
 * Request logs: the admin's view of every row, a master's view of its own (DESIGN §9.7), and the
 * internal intake other data planes post batches to (DESIGN §6 "Logs").
 */

/** A full batch of records with request bodies outgrows the api's default body limit. */
export const LOG_BATCH_BODY_LIMIT_BYTES = 32 * 1024 * 1024;

const PAGINATION = 'Newest first, keyset-paginated: pass the `next_cursor` of one page as `cursor` to get the next.';

function masterIdOf(ctx: RouteContext): number {
  const actor = ctx.state.actor;
  if (actor?.type !== 'master') throw new UnauthorizedError('Missing or invalid master key');
  return actor.masterId;
}

export const logRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/admin/logs',
    summary: 'Request logs, newest first',
    description: `${PAGINATION} The range \`[since, until)\` defaults to the last 24 h and spans at most 31 days.`,
    tags: ['admin', 'logs'],
    auth: 'admin',
    request: { query: adminLogsQuerySchema },
    responses: { 200: { description: 'A page of request logs', schema: requestLogListSchema } },
    handler: (_ctx, { query }, { deps }) => listLogs({ knex: deps.knex, masterSecret: deps.secrets.master }, {}, query),
  }),
  defineRoute({
    method: 'get',
    path: '/v1/logs',
    summary: "The calling master's request logs, newest first",
    description: `${PAGINATION} Only the caller's own rows; request bodies are never returned here.`,
    tags: ['master', 'logs'],
    auth: 'master',
    request: { query: masterLogsQuerySchema },
    responses: { 200: { description: 'A page of request logs', schema: requestLogListSchema } },
    handler: (ctx, { query }, { deps }) =>
      listLogs({ knex: deps.knex, masterSecret: deps.secrets.master }, { masterId: masterIdOf(ctx) }, query),
  }),
  defineRoute({
    method: 'post',
    path: '/logs',
    summary: 'Accept a batch of request log records from a data plane',
    description:
      `Every record is validated as the \`logs\` queue validates it; one bad record refuses the whole batch (400 naming ` +
      `\`body.records.<index>.<field>\`). Accepted batches are queued (one job per ${MAX_LOG_BATCH} records, deterministic ` +
      'job ids) and persisted idempotently, so retrying a batch after a 503 or a timeout is safe.',
    tags: ['internal', 'logs'],
    auth: 'internal',
    bodyLimitBytes: LOG_BATCH_BODY_LIMIT_BYTES,
    request: { body: logBatchSchema },
    responses: {
      202: { description: 'Queued', schema: logBatchAcceptedSchema },
      503: { description: 'Redis unreachable: nothing or part of the batch was queued; retry it (service_unavailable)', schema: errorResponseSchema },
    },
    handler: async (ctx, { body }, { deps }) => {
      const { accepted } = await acceptLogBatch(deps.queues, body.records);
      ctx.status = 202;
      return { accepted };
    },
  }),
];
