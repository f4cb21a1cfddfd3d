import type { Knex } from 'knex';

/**
 * Upstream credentials of a provider group. Secrets are AES-256-GCM ciphertext (tag appended) with
 * a random 12-byte nonce, AAD bound to the row id, under the `upstream-encryption` subkey version
 * `key_version`. For OAuth types the secret is the current access token and the refresh token is
 * kept (encrypted the same way) in the refresh_token_* columns.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('api_keys', (t) => {
    t.bigIncrements('id');
    t.bigInteger('group_id').notNullable().references('id').inTable('provider_groups').onDelete('CASCADE');
    t.text('name').notNullable().defaultTo('');
    // NULL only for an OAuth key that has not been refreshed yet.
    t.binary('secret_ciphertext');
    t.binary('secret_nonce');
    t.integer('key_version').notNullable().defaultTo(1);
    t.integer('weight').notNullable().defaultTo(1);
    t.enu('status', ['active', 'disabled', 'auto_disabled', 'manual_disabled']).notNullable().defaultTo('active');
    t.boolean('auto_ban').notNullable().defaultTo(true);
    t.text('ban_reason');
    t.timestamp('ban_until', { useTz: true });
    // Counters flushed from the data plane (stats queue).
    t.bigInteger('request_count').notNullable().defaultTo(0);
    t.bigInteger('success_count').notNullable().defaultTo(0);
    t.bigInteger('failure_count').notNullable().defaultTo(0);
    t.bigInteger('token_count').notNullable().defaultTo(0);
    t.timestamp('last_used_at', { useTz: true });
    // OAuth subscription types (codex, claude-code, gemini-cli, antigravity).
    t.binary('refresh_token_ciphertext');
    t.binary('refresh_token_nonce');
    t.timestamp('access_token_expires_at', { useTz: true });
    t.text('account_id');
    t.timestamp('last_refresh_at', { useTz: true });
    t.text('refresh_error');
    t.integer('refresh_failure_count').notNullable().defaultTo(0);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['group_id', 'status'], 'api_keys_group_id_status_idx');
    t.index(['status'], 'api_keys_status_idx');
    t.check('weight >= 0', {}, 'api_keys_weight_check');
    t.check('(secret_ciphertext is null) = (secret_nonce is null)', {}, 'api_keys_secret_pair_check');
    t.check('(refresh_token_ciphertext is null) = (refresh_token_nonce is null)', {}, 'api_keys_refresh_token_pair_check');
  });
  // The token-refresh sweep: OAuth keys by expiry.
  await knex.raw(
    `create index api_keys_access_token_expires_at_idx on api_keys (access_token_expires_at)
       where refresh_token_ciphertext is not null`,
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('api_keys');
}
