import { enqueue } from '../../jobs/queues.js';
import type { WriteContext, WriteDeps } from '../domain/write-context.js';
import { UnauthorizedError } from '../lib/errors.js';
import type { RouteContext, RouteEnv } from './route.js';

/**
 * What a route hands to a control-plane service for a write: the database, the nudge that wakes
 * the sync worker after commit, and who is writing (for the audit event). One place, so every
 * admin and master write records its outbox row and audit event the same way.
 */
/** Longest an admin response waits for the sync nudge after its transaction committed (ms). */
const NUDGE_TIMEOUT_MS = 1_000;

export function writeDeps(env: RouteEnv, ctx: RouteContext): WriteDeps {
  const { deps } = env;
  return {
    knex: deps.knex,
    nudge: async (outboxIds) => {
      const last = Math.max(...outboxIds);
      // The write has committed: a Redis that hangs instead of refusing must not hold the response.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        enqueue(deps.queues, 'sync', { outboxId: last, reason: 'write' }, { jobId: `outbox-${last}` }),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`sync nudge timed out after ${NUDGE_TIMEOUT_MS} ms`)), NUDGE_TIMEOUT_MS);
        }),
      ]).finally(() => clearTimeout(timer));
    },
    onNudgeError: (err) =>
      ctx.state.logger.warn({ err: { message: (err as Error).message } }, 'sync nudge failed after commit; the sweeper will apply the change'),
  };
}

export function writeContext(ctx: RouteContext): WriteContext {
  const actor = ctx.state.actor;
  if (!actor) throw new UnauthorizedError();
  return { actor: { type: actor.type, id: actor.id }, requestId: ctx.state.requestId, ip: ctx.ip };
}
