/**
 * What an admin write tells the sync worker (one `sync_outbox` row each). Rows name *what* changed;
 * the worker recomputes the Redis projection from PostgreSQL's current state when it applies them,
 * so a retried or reordered row can never write stale content (docs/sync.md).
 */
export type SyncChange =
  | { resource: 'master'; id: number; action: 'upsert' | 'delete' }
  /** `digest` is the key's digest at write time, so a deleted key's record can be removed. */
  | { resource: 'key'; id: number; action: 'upsert' | 'delete'; digest: string }
  /** Provider groups, upstream keys, models, namespaces or bindings: the routing projection. */
  | { resource: 'routing'; action: 'upsert' }
  | { resource: 'features'; action: 'upsert' }
  /** Rebuild everything from PostgreSQL (POST /admin/sync/snapshot, or an emptied Redis). */
  | { resource: 'snapshot'; action: 'rebuild' };

export type SyncResource = SyncChange['resource'];
