import type { Knex } from 'knex';

/**
 * Named admins (docs/admins.md): they log in with `POST /admin/login` for HS256 JWTs. `name` is
 * stored lower-case (CHECK), so the unique constraint is case-insensitive. `password_hash` is
 * `scrypt$N$r$p$salt$hash` (src/lib/password.ts). `token_epoch` is bumped by a password change or
 * a disable: every JWT carries the epoch it was issued at and stops working once they differ.
 * `failed_logins` / `last_failed_login_at` / `locked_until` are the login lockout.
 *
 * It replaces `admin_users`, created early for this feature and never written by any code.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('admins', (t) => {
    t.bigIncrements('id');
    t.text('name').notNullable().unique({ indexName: 'admins_name_unique' });
    t.text('password_hash').notNullable();
    t.enu('role', ['admin', 'viewer']).notNullable().defaultTo('viewer');
    t.enu('status', ['active', 'disabled']).notNullable().defaultTo('active');
    t.integer('token_epoch').notNullable().defaultTo(0);
    t.integer('failed_logins').notNullable().defaultTo(0);
    t.timestamp('last_failed_login_at', { useTz: true });
    t.timestamp('locked_until', { useTz: true });
    t.timestamp('last_login_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`alter table admins add constraint admins_name_lower_check check (name = lower(name))`);
  await knex.schema.dropTable('admin_users');
}

export async function down(knex: Knex): Promise<void> {
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
  await knex.schema.dropTable('admins');
}
