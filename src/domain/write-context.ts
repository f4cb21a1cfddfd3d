import type { Knex } from 'knex';
import { insertAuditEvent, type AuditEventInput } from '../db/audit.repository.js';
import { insertOutbox } from '../db/outbox.repository.js';
import type { SyncChange } from './sync/changes.js';

/**
 * The one shape of a control-plane write (DESIGN §6): in one PostgreSQL transaction the service
 * writes its rows, an audit event and the outbox rows; after commit the sync worker is nudged.
 * A nudge that fails (Redis down) loses nothing: the rows stay pending and the sweeper finds them.
 */

export interface Actor {
  type: 'admin' | 'master' | 'system' | 'internal';
  id: string;
}

/** Who is writing, and the request it came from (for audit events). */
export interface WriteContext {
  actor: Actor;
  requestId?: string;
  ip?: string;
}

/** Tells the sync worker that outbox rows are waiting (enqueues a `sync` job). */
export interface SyncNudge {
  (outboxIds: number[]): Promise<void>;
}

export interface WriteUnit {
  trx: Knex.Transaction;
  /** Records an audit event in the same transaction. Never put secrets in metadata. */
  audit(action: string, object: { type: string; id: string | number | null }, metadata?: Record<string, unknown>): Promise<void>;
  /** Records an outbox row in the same transaction; returns its id. */
  sync(change: SyncChange): Promise<number>;
}

export interface WriteDeps {
  knex: Knex;
  nudge: SyncNudge;
  /** Called when a nudge fails after commit (logged; the sweeper covers it). */
  onNudgeError?: (err: unknown) => void;
}

export async function write<T>(deps: WriteDeps, ctx: WriteContext, fn: (unit: WriteUnit) => Promise<T>): Promise<T> {
  const outboxIds: number[] = [];
  const result = await deps.knex.transaction(async (trx) => {
    const unit: WriteUnit = {
      trx,
      audit: (action, object, metadata = {}) => insertAuditEvent(trx, auditEvent(ctx, action, object, metadata)),
      sync: async (change) => {
        const id = await insertOutbox(trx, change);
        outboxIds.push(id);
        return id;
      },
    };
    return fn(unit);
  });
  if (outboxIds.length > 0) {
    try {
      await deps.nudge(outboxIds);
    } catch (err) {
      deps.onNudgeError?.(err);
    }
  }
  return result;
}

export function auditEvent(
  ctx: WriteContext,
  action: string,
  object: { type: string; id: string | number | null },
  metadata: Record<string, unknown> = {},
): AuditEventInput {
  return {
    actor_type: ctx.actor.type,
    actor_id: ctx.actor.id,
    action,
    object_type: object.type,
    object_id: object.id === null ? null : String(object.id),
    metadata,
    request_id: ctx.requestId ?? null,
    ip: ctx.ip ?? null,
  };
}
