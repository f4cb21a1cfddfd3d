import type { Knex } from 'knex';

/** Normalized (trimmed, lower-case) provider types, DESIGN §4 / PROVIDERS.md. */
const PROVIDER_TYPES = [
  'openai',
  'compatible',
  'anthropic',
  'claude',
  'claude-code',
  'codex',
  'gemini-cli',
  'antigravity',
  'gemini',
  'google',
  'aistudio',
  'vertex',
  'vertex-express',
];

/** A provider group: one upstream endpoint of one type; its api_keys are the credentials. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('provider_groups', (t) => {
    t.bigIncrements('id');
    t.text('name').notNullable().unique();
    t.enu('type', PROVIDER_TYPES).notNullable();
    // The routing tier (masters.group) this group serves in implicit bindings.
    t.text('route_group').notNullable().defaultTo('default');
    // NULL = the type's default endpoint.
    t.text('base_url');
    t.text('google_project');
    // Vertex types default to `global` in the service layer.
    t.text('google_location');
    t.specificType('models', 'text[]').notNullable().defaultTo('{}');
    t.enu('status', ['active', 'disabled']).notNullable().defaultTo('active');
    // Upstream timeouts in milliseconds; NULL = the gateway's defaults.
    t.integer('connect_timeout_ms');
    t.integer('first_byte_timeout_ms');
    t.integer('idle_timeout_ms');
    t.integer('request_timeout_ms');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['route_group', 'status'], 'provider_groups_route_group_status_idx');
    t.check(
      '(connect_timeout_ms is null or connect_timeout_ms > 0) and (first_byte_timeout_ms is null or first_byte_timeout_ms > 0) ' +
        'and (idle_timeout_ms is null or idle_timeout_ms > 0) and (request_timeout_ms is null or request_timeout_ms > 0)',
      {},
      'provider_groups_timeouts_check',
    );
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('provider_groups');
}
