import type { Knex } from 'knex';

/**
 * Alerts dedup and announcements (issue #7, docs/alerts.md):
 * - at most one OPEN (active or acknowledged) alert per fingerprint, enforced by a unique partial
 *   index, so two workers or api replicas reporting the same fingerprint at once create one row
 *   (the loser's `INSERT … ON CONFLICT` bumps the winner's row). Existing duplicates are closed
 *   first: the newest open alert of a fingerprint stays, older ones become `resolved` by
 *   `system:dedup-migration`.
 * - `announced_at` / `resolved_announced_at`: when the `alert.created` / `alert.resolved` webhook
 *   events were published. NULL = still to publish; the detector tick publishes what the api or a
 *   worker could not (Redis down) or did not (alerts raised by the sync worker or a gateway).
 *   Rows that exist already count as announced.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    update alerts a
       set status = 'resolved', resolved_at = now(), resolved_by = 'system:dedup-migration', updated_at = now()
     where a.fingerprint is not null
       and a.status in ('active', 'acknowledged')
       and exists (select 1 from alerts b
                    where b.fingerprint = a.fingerprint and b.status in ('active', 'acknowledged') and b.id > a.id)`);
  await knex.raw(`
    create unique index alerts_open_fingerprint_uq on alerts (fingerprint)
     where fingerprint is not null and status in ('active', 'acknowledged')`);
  await knex.schema.alterTable('alerts', (t) => {
    t.timestamp('announced_at', { useTz: true });
    t.timestamp('resolved_announced_at', { useTz: true });
  });
  await knex.raw('update alerts set announced_at = created_at');
  await knex.raw(`update alerts set resolved_announced_at = coalesce(resolved_at, now()) where status = 'resolved'`);
  await knex.raw('create index alerts_unannounced_idx on alerts (id) where announced_at is null');
  await knex.raw(`create index alerts_resolved_unannounced_idx on alerts (id) where status = 'resolved' and resolved_announced_at is null`);
  await knex.raw('create index alerts_last_seen_at_idx on alerts (last_seen_at)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index alerts_last_seen_at_idx');
  await knex.raw('drop index alerts_resolved_unannounced_idx');
  await knex.raw('drop index alerts_unannounced_idx');
  await knex.schema.alterTable('alerts', (t) => {
    t.dropColumn('resolved_announced_at');
    t.dropColumn('announced_at');
  });
  await knex.raw('drop index alerts_open_fingerprint_uq');
}
