import * as stats from '../../domain/stats.service.js';
import { flushSpent, flushUpstreamStats } from '../../domain/stats-flush.service.js';
import { UnauthorizedError } from '../../lib/errors.js';
import { defineRoute, type ApiRoute, type RouteContext } from '../route.js';
import { errorResponseSchema } from './common.schemas.js';
import { idParamsSchema } from './masters.schemas.js';
import {
  apiKeysSummaryQuerySchema,
  apiKeysSummarySchema,
  dashboardQuerySchema,
  dashboardSummarySchema,
  logStatsQuerySchema,
  logStatsSchema,
  realtimeSchema,
  statsFlushSchema,
} from './stats.schemas.js';

/**
 * Stats, dashboard and realtime (docs/control-plane.md "Stats"). Listed before providerRoutes in
 * routes/index.ts: `/admin/api-keys/:id` would otherwise catch `/admin/api-keys/stats/summary`.
 */

function masterIdOf(ctx: RouteContext): number {
  const actor = ctx.state.actor;
  if (actor?.type !== 'master') throw new UnauthorizedError('Missing or invalid master key');
  return actor.masterId;
}

const tags = ['stats'];

export const statsRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/admin/logs/stats',
    summary: 'Usage grouped by hour or minute and/or by model, key, master or provider group',
    description: 'Reads usage_hourly (usage_minutely for minutes). Minute grouping covers at most 6 hours and the last 7 days.',
    tags,
    auth: 'admin',
    request: { query: logStatsQuerySchema },
    responses: { 200: { description: 'Groups and totals', schema: logStatsSchema } },
    handler: (_ctx, { query }, { deps }) => {
      const { group_by, split_by, since, until, master_id, key_id, model, provider_group_id } = query;
      return stats.logStats(
        deps.knex,
        {
          group_by,
          ...(split_by ? { split_by } : {}),
          ...(since ? { since } : {}),
          ...(until ? { until } : {}),
          ...(master_id !== undefined ? { master_id } : {}),
          ...(key_id !== undefined ? { key_id } : {}),
          ...(model !== undefined ? { model } : {}),
          ...(provider_group_id !== undefined ? { provider_group_id } : {}),
        },
        new Date(),
      );
    },
  }),
  defineRoute({
    method: 'get',
    path: '/admin/dashboard/summary',
    summary: 'Requests, tokens, cost, error rate, latency p50/p95, entity counts and top models for a period',
    tags,
    auth: 'admin',
    request: { query: dashboardQuerySchema },
    responses: { 200: { description: 'The summary', schema: dashboardSummarySchema } },
    handler: (_ctx, { query }, { deps }) => stats.dashboardSummary(deps.knex, query.period, new Date()),
  }),
  defineRoute({
    method: 'get',
    path: '/admin/realtime',
    summary: "QPS, RPM, TPM and rate limiting across every master, from the gateways' Redis counters",
    tags,
    auth: 'admin',
    responses: { 200: { description: 'Realtime figures', schema: realtimeSchema } },
    handler: (_ctx, _input, { deps }) => stats.realtimeStats(deps.redis, {}, Date.now()),
  }),
  defineRoute({
    method: 'get',
    path: '/admin/masters/:id/realtime',
    summary: "One master's QPS, RPM, TPM and whether it is being rate limited",
    tags,
    auth: 'admin',
    request: { params: idParamsSchema },
    responses: {
      200: { description: 'Realtime figures', schema: realtimeSchema },
      404: { description: 'No such master (not_found)', schema: errorResponseSchema },
    },
    handler: (_ctx, { params }, { deps }) => stats.masterRealtimeStats(deps.knex, deps.redis, params.id, Date.now()),
  }),
  defineRoute({
    method: 'get',
    path: '/v1/realtime',
    summary: "The calling master's QPS, RPM, TPM and whether it is being rate limited",
    tags: ['master'],
    auth: 'master',
    responses: { 200: { description: 'Realtime figures', schema: realtimeSchema } },
    handler: (ctx, _input, { deps }) => stats.masterRealtimeStats(deps.knex, deps.redis, masterIdOf(ctx), Date.now()),
  }),
  defineRoute({
    method: 'get',
    path: '/admin/api-keys/stats/summary',
    summary: 'Per upstream key: flushed lifetime counters and usage within [since, until)',
    tags,
    auth: 'admin',
    request: { query: apiKeysSummaryQuerySchema },
    responses: { 200: { description: 'The summary', schema: apiKeysSummarySchema } },
    handler: (_ctx, { query }, { deps }) =>
      stats.apiKeysSummary(deps.knex, {
        ...(query.since ? { since: query.since } : {}),
        ...(query.until ? { until: query.until } : {}),
        ...(query.group_id !== undefined ? { group_id: query.group_id } : {}),
      }),
  }),
  defineRoute({
    method: 'post',
    path: '/internal/stats/flush',
    summary: "Flush the gateways' upstream key counters and live spend to PostgreSQL now",
    description: 'The same idempotent flush the `stats` job runs every minute; safe to run concurrently with it.',
    tags: ['internal'],
    auth: 'internal',
    responses: { 200: { description: 'What was flushed', schema: statsFlushSchema } },
    handler: async (_ctx, _input, { deps }) => {
      const upstream = await flushUpstreamStats({ knex: deps.knex, redis: deps.redis });
      const spent = await flushSpent({ knex: deps.knex, redis: deps.redis });
      return { ...upstream, spent };
    },
  }),
];
