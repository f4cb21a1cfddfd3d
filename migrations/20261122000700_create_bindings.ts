import type { Knex } from 'knex';

/**
 * Explicit routes: (namespace, public_model) → candidates, a JSON array of
 * `{group_id, route_group, weight, selector_type: exact|regex|normalize_exact, selector_value}`.
 * group_id inside JSON cannot be a foreign key: the sync step reports a candidate whose group is
 * gone as `config_error`.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('bindings', (t) => {
    t.bigIncrements('id');
    t.text('namespace').notNullable();
    t.text('public_model').notNullable();
    t.text('route_group').notNullable().defaultTo('default');
    t.jsonb('candidates').notNullable().defaultTo(knex.raw(`'[]'::jsonb`));
    t.enu('status', ['active', 'disabled']).notNullable().defaultTo('active');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['namespace', 'public_model'], { indexName: 'bindings_namespace_public_model_unique' });
    t.check(`jsonb_typeof(candidates) = 'array'`, {}, 'bindings_candidates_check');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('bindings');
}
