import { usageReport, type UsageReportInput } from '../../domain/usage-report.service.js';
import { UnauthorizedError } from '../../lib/errors.js';
import { defineRoute, type ApiRoute, type RouteContext } from '../route.js';
import { errorResponseSchema } from './common.schemas.js';
import { adminUsageQuerySchema, keyUsageQuerySchema, masterUsageQuerySchema, usageIdParamsSchema, usageReportSchema } from './usage.schemas.js';

/**
 * Usage reports (docs/usage.md): thin wrappers over usageReport(), each fixing the scope — the
 * calling master, one master, one key, or none.
 */

function masterIdOf(ctx: RouteContext): number {
  const actor = ctx.state.actor;
  if (actor?.type !== 'master') throw new UnauthorizedError('Missing or invalid master key');
  return actor.masterId;
}

/** Drops undefined query values (exactOptionalPropertyTypes). */
function inputOf(query: Record<string, unknown>, scope: Pick<UsageReportInput, 'master_id' | 'key_id'>): UsageReportInput {
  const defined = Object.fromEntries(Object.entries(query).filter(([, v]) => v !== undefined)) as UsageReportInput;
  return { ...defined, ...scope };
}

const DESCRIPTION =
  'Sums of usage_hourly over whole UTC hours: `since` is floored and `until` ceiled to the hour, and the answer ' +
  'names the range summed. Costs are exact decimal USD strings; quotas are in micro-USD.';
const responses = {
  200: { description: 'Totals, optional groups and the lifetime quotas', schema: usageReportSchema },
  404: { description: 'Unknown master or key (not_found)', schema: errorResponseSchema },
};
const tags = ['usage'];

export const usageRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/v1/usage',
    summary: "The calling master's usage, cost and lifetime quota",
    description: `${DESCRIPTION} Only the caller's own usage; \`key_id\` must be one of its keys.`,
    tags: ['master', ...tags],
    auth: 'master',
    request: { query: masterUsageQuerySchema },
    responses,
    handler: (ctx, { query }, { deps }) => usageReport(deps.knex, inputOf(query, { master_id: masterIdOf(ctx) }), new Date()),
  }),
  defineRoute({
    method: 'get',
    path: '/admin/usage',
    summary: 'Usage and cost across masters, optionally filtered by master, key or model and grouped',
    description: DESCRIPTION,
    tags: ['admin', ...tags],
    auth: 'admin',
    request: { query: adminUsageQuerySchema },
    responses,
    handler: (_ctx, { query }, { deps }) => usageReport(deps.knex, inputOf(query, {}), new Date()),
  }),
  defineRoute({
    method: 'get',
    path: '/admin/masters/:id/usage',
    summary: "One master's usage, cost and lifetime quota",
    description: DESCRIPTION,
    tags: ['admin', ...tags],
    auth: 'admin',
    request: { params: usageIdParamsSchema, query: masterUsageQuerySchema },
    responses,
    handler: (_ctx, { params, query }, { deps }) => usageReport(deps.knex, inputOf(query, { master_id: params.id }), new Date()),
  }),
  defineRoute({
    method: 'get',
    path: '/admin/keys/:id/usage',
    summary: "One child key's usage, cost and lifetime quota (and its master's)",
    description: DESCRIPTION,
    tags: ['admin', ...tags],
    auth: 'admin',
    request: { params: usageIdParamsSchema, query: keyUsageQuerySchema },
    responses,
    handler: (_ctx, { params, query }, { deps }) => usageReport(deps.knex, inputOf(query, { key_id: params.id }), new Date()),
  }),
];
