import type { Knex } from 'knex';

/** Optional named admins who log in (`POST /admin/login`) for JWTs; password_hash is scrypt. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('admin_users', (t) => {
    t.bigIncrements('id');
    t.text('username').notNullable().unique();
    t.text('password_hash').notNullable();
    t.enu('role', ['admin', 'viewer']).notNullable().defaultTo('admin');
    t.enu('status', ['active', 'disabled']).notNullable().defaultTo('active');
    t.timestamp('last_login_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('admin_users');
}
