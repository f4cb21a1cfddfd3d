import { z } from 'zod';

export const statusResponseSchema = z.object({ status: z.literal('ok') }).meta({ id: 'StatusResponse' });

export const aboutResponseSchema = z
  .object({
    name: z.string().meta({ example: 'ez-api' }),
    version: z.string().meta({ example: '0.1.0' }),
    commit: z.string().meta({ description: 'Git commit of the build, or `unknown`' }),
  })
  .meta({ id: 'AboutResponse' });

export const healthResponseSchema = z
  .object({
    status: z.literal('ok'),
    uptime_seconds: z.number().meta({ description: 'Seconds since this process started serving' }),
    started_at: z.iso.datetime(),
  })
  .meta({ id: 'HealthResponse' });

export const dependencyCheckSchema = z
  .object({
    status: z.enum(['up', 'down']),
    latency_ms: z.number().meta({ description: 'Time the check took, in milliseconds' }),
    error: z.enum(['timeout', 'unreachable']).optional(),
  })
  .meta({ id: 'DependencyCheck' });

export const readinessResponseSchema = z
  .object({
    status: z.enum(['ready', 'not_ready']),
    checks: z.object({ postgres: dependencyCheckSchema, redis: dependencyCheckSchema }),
  })
  .meta({ id: 'ReadinessResponse' });

export type DependencyCheck = z.infer<typeof dependencyCheckSchema>;
export type ReadinessResponse = z.infer<typeof readinessResponseSchema>;
