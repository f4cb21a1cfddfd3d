import type { Redis } from 'ioredis';
import { z } from 'zod';
import { pingDatabase } from '../../db/knex.js';
import { buildInfo } from '../../lib/version.js';
import { defineRoute, type ApiRoute } from '../route.js';
import {
  aboutResponseSchema,
  healthResponseSchema,
  readinessResponseSchema,
  statusResponseSchema,
  type DependencyCheck,
  type ReadinessResponse,
} from './system.schemas.js';

/** Each readiness check is bounded so a hung dependency cannot hang the probe. */
export const READINESS_TIMEOUT_MS = 2_000;

async function timed(check: () => Promise<'up' | 'timeout' | 'unreachable'>): Promise<DependencyCheck> {
  const started = performance.now();
  const outcome = await check().catch(() => 'unreachable' as const);
  const latency_ms = Math.round((performance.now() - started) * 10) / 10;
  return outcome === 'up' ? { status: 'up', latency_ms } : { status: 'down', latency_ms, error: outcome };
}

async function pingRedis(redis: Redis, timeoutMs: number): Promise<'up' | 'timeout' | 'unreachable'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      redis.ping().then((reply) => (reply === 'PONG' ? ('up' as const) : ('unreachable' as const))),
      new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      }),
    ]);
  } catch {
    // Never pass the driver's message on: it can name hosts and URLs.
    return 'unreachable';
  } finally {
    clearTimeout(timer);
  }
}

export const systemRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/status',
    summary: 'Liveness in one word',
    tags: ['system'],
    auth: 'none',
    responses: { 200: { description: 'The process answers', schema: statusResponseSchema } },
    handler: () => ({ status: 'ok' }),
  }),
  defineRoute({
    method: 'get',
    path: '/about',
    summary: 'Build information',
    tags: ['system'],
    auth: 'none',
    responses: { 200: { description: 'Name, version and commit', schema: aboutResponseSchema } },
    handler: () => ({ name: buildInfo.name, version: buildInfo.version, commit: buildInfo.commit }),
  }),
  defineRoute({
    method: 'get',
    path: '/health',
    summary: 'Process health (no dependency checks)',
    tags: ['system'],
    auth: 'none',
    responses: { 200: { description: 'The process is up', schema: healthResponseSchema } },
    handler: (_ctx, _input, env) => ({
      status: 'ok',
      uptime_seconds: Math.round((Date.now() - env.startedAt.getTime()) / 100) / 10,
      started_at: env.startedAt.toISOString(),
    }),
  }),
  defineRoute({
    method: 'get',
    path: '/health/ready',
    summary: 'Readiness: PostgreSQL and Redis answer',
    description: `Each check is bounded to ${READINESS_TIMEOUT_MS} ms. 503 names the failing dependency \`down\`.`,
    tags: ['system'],
    auth: 'none',
    responses: {
      200: { description: 'Both dependencies answer', schema: readinessResponseSchema },
      503: { description: 'A dependency is down', schema: readinessResponseSchema },
    },
    handler: async (ctx, _input, env) => {
      const { knex, redis } = env.deps;
      const [postgres, redisCheck] = await Promise.all([
        timed(async () => {
          // pingDatabase folds timeouts and errors into false; tell them apart by the clock.
          const started = performance.now();
          const ok = await pingDatabase(knex, READINESS_TIMEOUT_MS);
          if (ok) return 'up';
          return performance.now() - started >= READINESS_TIMEOUT_MS - 5 ? 'timeout' : 'unreachable';
        }),
        timed(() => pingRedis(redis, READINESS_TIMEOUT_MS)),
      ]);
      const ready = postgres.status === 'up' && redisCheck.status === 'up';
      const body: ReadinessResponse = { status: ready ? 'ready' : 'not_ready', checks: { postgres, redis: redisCheck } };
      ctx.status = ready ? 200 : 503;
      ctx.body = body;
    },
  }),
  defineRoute({
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics',
    tags: ['system'],
    auth: 'none',
    responses: { 200: { description: 'Prometheus text exposition format', schema: z.string(), contentType: 'text/plain; version=0.0.4' } },
    handler: async (ctx, _input, env) => {
      ctx.type = env.metrics.contentType;
      ctx.body = await env.metrics.metrics();
    },
  }),
];
