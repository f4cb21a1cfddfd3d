import type { Knex } from 'knex';

/** Tenants. A master key is stored only as its keyed digest (src/lib/key-digest.ts). */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('masters', (t) => {
    t.bigIncrements('id');
    t.text('name').notNullable().unique();
    // Routing tier: the provider groups whose route_group equals it serve this master's implicit bindings.
    t.text('group').notNullable().defaultTo('default');
    t.specificType('namespaces', 'text[]').notNullable().defaultTo('{default}');
    t.text('default_namespace').notNullable().defaultTo('default');
    t.integer('max_child_keys').notNullable().defaultTo(10);
    // Requests per second across all of the master's child keys; 0 = unlimited.
    t.integer('global_qps').notNullable().defaultTo(3);
    t.enu('status', ['active', 'suspended']).notNullable().defaultTo('active');
    // Bumped to revoke every child key at once: a key is valid only while issued_at_epoch >= epoch.
    t.bigInteger('epoch').notNullable().defaultTo(0);
    t.text('key_digest').notNullable().unique();
    t.text('key_prefix').notNullable();
    t.text('key_last4').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.check('max_child_keys >= 0', {}, 'masters_max_child_keys_check');
    t.check('global_qps >= 0', {}, 'masters_global_qps_check');
    t.check('epoch >= 0', {}, 'masters_epoch_check');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('masters');
}
