import type { Knex } from 'knex';

/** Child keys issued under a master (by the master itself or by an admin). */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('keys', (t) => {
    t.bigIncrements('id');
    t.bigInteger('master_id').notNullable().references('id').inTable('masters').onDelete('CASCADE');
    t.text('key_digest').notNullable().unique();
    t.text('key_prefix').notNullable();
    t.text('key_last4').notNullable();
    t.text('name').notNullable().defaultTo('');
    t.enu('issued_by', ['master', 'admin']).notNullable();
    // Master id or admin user id/name, as text: the bootstrap admin token has no row.
    t.text('issuer_id');
    // The master's epoch when the key was issued; the gateway refuses the key once epoch moves past it.
    t.bigInteger('issued_at_epoch').notNullable().defaultTo(0);
    t.enu('status', ['active', 'disabled', 'expired', 'exhausted']).notNullable().defaultTo('active');
    t.specificType('scopes', 'text[]').notNullable().defaultTo('{}');
    // Empty = the master's namespaces; NULL default_namespace = the master's default.
    t.specificType('namespaces', 'text[]').notNullable().defaultTo('{}');
    t.text('default_namespace');
    t.boolean('model_limits_enabled').notNullable().defaultTo(false);
    t.specificType('model_limits', 'text[]').notNullable().defaultTo('{}');
    // Empty = any client address.
    t.specificType('allow_ips', 'cidr[]').notNullable().defaultTo('{}');
    t.timestamp('expires_at', { useTz: true });
    // -1 = unlimited.
    t.bigInteger('quota_limit').notNullable().defaultTo(-1);
    t.bigInteger('quota_used').notNullable().defaultTo(0);
    // 0 = unlimited.
    t.integer('rpm_limit').notNullable().defaultTo(0);
    t.bigInteger('tpm_limit').notNullable().defaultTo(0);
    t.timestamp('last_used_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['master_id', 'status'], 'keys_master_id_status_idx');
    t.check('quota_limit >= -1', {}, 'keys_quota_limit_check');
    t.check('quota_used >= 0', {}, 'keys_quota_used_check');
    t.check('rpm_limit >= 0 and tpm_limit >= 0', {}, 'keys_rate_limits_check');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('keys');
}
