import type { Knex } from 'knex';

/**
 * Alerts raised by the detector, by data planes (`POST /internal/alerts/report`) and by workers.
 * `fingerprint` dedupes: a report matching an active/acknowledged alert bumps count and
 * last_seen_at instead of inserting a row. `type` is open text (rate_limit, error_spike,
 * quota_exceeded, provider_down, traffic_spike, sync_failed, token_refresh_failed, …).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('alerts', (t) => {
    t.bigIncrements('id');
    t.text('type').notNullable();
    t.enu('severity', ['info', 'warning', 'critical']).notNullable().defaultTo('warning');
    t.enu('status', ['active', 'acknowledged', 'resolved', 'dismissed']).notNullable().defaultTo('active');
    t.text('title').notNullable();
    t.text('message').notNullable().defaultTo('');
    t.text('fingerprint');
    // What the alert is about, e.g. ('api_key', '42'), ('master', '7'), ('sync_outbox', '913').
    t.text('related_type');
    t.text('related_id');
    t.jsonb('metadata').notNullable().defaultTo(knex.raw(`'{}'::jsonb`));
    t.integer('count').notNullable().defaultTo(1);
    t.timestamp('first_seen_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_seen_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('acknowledged_at', { useTz: true });
    t.text('acknowledged_by');
    t.timestamp('resolved_at', { useTz: true });
    t.text('resolved_by');
    t.timestamp('dismissed_at', { useTz: true });
    t.text('dismissed_by');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['fingerprint', 'status'], 'alerts_fingerprint_status_idx');
    t.index(['status', 'created_at'], 'alerts_status_created_at_idx');
    t.index(['related_type', 'related_id'], 'alerts_related_idx');
    t.index(['created_at'], 'alerts_created_at_idx');
    t.check('count >= 1', {}, 'alerts_count_check');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('alerts');
}
