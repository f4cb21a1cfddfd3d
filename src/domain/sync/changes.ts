/**
 * What an admin write tells the sync worker (one `sync_outbox` row each). Rows name *what* changed;
 * the worker recomputes the Redis projection from PostgreSQL's current state when it applies them,
 * so a retried or reordered row can never write stale content (docs/sync.md).
 *
 * `reset_spent` (an admin's quota reset, docs/budgets.md): the apply overwrites the live spend
 * counter (`usage:<key|master>:<id>:spent`) with PostgreSQL's quota_used instead of only raising
 * it — the one case where a spend counter goes down. Kept in the outbox row's payload.
 */
export type SyncChange =
  | { resource: 'master'; id: number; action: 'upsert' | 'delete'; reset_spent?: boolean }
  /** `digest` is the key's digest at write time, so a deleted key's record can be removed. */
  | { resource: 'key'; id: number; action: 'upsert' | 'delete'; digest: string; reset_spent?: boolean }
  /** Provider groups, upstream keys, models, namespaces or bindings: the routing projection. */
  | { resource: 'routing'; action: 'upsert' }
  | { resource: 'features'; action: 'upsert' }
  /** Rebuild everything from PostgreSQL (POST /admin/sync/snapshot, or an emptied Redis). */
  | { resource: 'snapshot'; action: 'rebuild' };

export type SyncResource = SyncChange['resource'];
