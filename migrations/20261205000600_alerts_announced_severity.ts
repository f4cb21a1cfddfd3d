import type { Knex } from 'knex';

/**
 * `alerts.announced_severity` (docs/alerts.md "Announcements"): the severity webhook subscribers
 * last heard for the alert (`alert.created`, then each `alert.escalated`). An open alert whose
 * severity is above it has an escalation still to publish: the api and workers publish it right
 * after their commit, the detector tick publishes what they could not (Redis down) or did not
 * (alerts raised by a gateway event or a worker). Alerts already announced count as announced at
 * their current severity.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('alerts', (t) => {
    t.enu('announced_severity', ['info', 'warning', 'critical']);
  });
  await knex.raw('update alerts set announced_severity = severity where announced_at is not null');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('alerts', (t) => {
    t.dropColumn('announced_severity');
  });
}
