import type { Knex } from 'knex';

/**
 * A child key may be pinned to a routing group (the import format's `key.group`); NULL means the
 * master's group. Issuance refuses a group other than the master's (docs/control-plane.md).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('keys', (t) => {
    t.text('group');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('keys', (t) => {
    t.dropColumn('group');
  });
}
