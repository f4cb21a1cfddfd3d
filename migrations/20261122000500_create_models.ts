import type { Knex } from 'knex';

/** The model registry: capabilities and list prices (per 1M tokens, and per request). */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('models', (t) => {
    t.bigIncrements('id');
    t.text('name').notNullable().unique();
    t.enu('kind', ['chat', 'embedding', 'rerank', 'other']).notNullable().defaultTo('chat');
    t.integer('context_window');
    t.integer('max_output_tokens');
    t.boolean('supports_stream').notNullable().defaultTo(true);
    t.boolean('supports_vision').notNullable().defaultTo(false);
    t.boolean('supports_functions').notNullable().defaultTo(false);
    t.boolean('supports_tool_choice').notNullable().defaultTo(false);
    t.boolean('supports_fim').notNullable().defaultTo(false);
    t.specificType('price_input', 'numeric').notNullable().defaultTo(0);
    t.specificType('price_output', 'numeric').notNullable().defaultTo(0);
    t.specificType('price_cache_read', 'numeric').notNullable().defaultTo(0);
    t.specificType('price_cache_write', 'numeric').notNullable().defaultTo(0);
    t.specificType('price_per_request', 'numeric').notNullable().defaultTo(0);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.check(
      'price_input >= 0 and price_output >= 0 and price_cache_read >= 0 and price_cache_write >= 0 and price_per_request >= 0',
      {},
      'models_prices_check',
    );
    t.check(
      '(context_window is null or context_window > 0) and (max_output_tokens is null or max_output_tokens > 0)',
      {},
      'models_token_limits_check',
    );
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('models');
}
