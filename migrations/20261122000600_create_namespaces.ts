import type { Knex } from 'knex';

/**
 * Namespaces group public model names (`ns.model`). Masters, keys and bindings refer to them by
 * name (text and text[] columns, no foreign keys: arrays cannot carry one); services validate.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('namespaces', (t) => {
    t.bigIncrements('id');
    t.text('name').notNullable().unique();
    t.text('description').notNullable().defaultTo('');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('namespaces');
}
