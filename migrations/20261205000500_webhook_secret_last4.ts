import type { Knex } from 'knex';

/**
 * `webhooks.secret_last4` (docs/webhooks.md "Masked secrets"): the last 4 characters of the
 * signing secret, written by create and rotate-secret, so listing webhooks shows `whsec_…last4`
 * without decrypting every secret. It cannot be backfilled here (the secrets are sealed under
 * EZ_SECRET, which migrations do not have): rows written before stay NULL until the api first
 * shows them, decrypts the secret once and stores its last 4 (or until the next rotation).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('webhooks', (t) => {
    t.text('secret_last4');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('webhooks', (t) => {
    t.dropColumn('secret_last4');
  });
}
