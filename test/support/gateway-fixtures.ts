import type { Redis } from 'ioredis';
import { describeSecret } from '../../src/domain/client-keys.js';
import { write, type WriteContext } from '../../src/domain/write-context.js';
import { KeyDigester } from '../../src/lib/key-digest.js';
import { SecretBox } from '../../src/lib/secret-box.js';
import { testEnv } from './hooks.js';
import { syncNow, TEST_SECRET } from './sync.js';

/**
 * Control-plane data for gateway tests, written through the real write path (rows + outbox) and
 * applied to Redis by the real sync code, so the gateway reads exactly what production writes.
 */
const ctx: WriteContext = { actor: { type: 'admin', id: 'gateway-fixtures' } };
const deps = () => ({ knex: testEnv().knex, nudge: async () => {} });
const digester = new KeyDigester(TEST_SECRET);
const box = new SecretBox(TEST_SECRET);

export async function seedMaster(name: string, extra: Record<string, unknown> = {}): Promise<number> {
  return write(deps(), ctx, async (unit) => {
    const secret = describeSecret(`ezm_${name}-${'0'.repeat(24)}`, digester);
    const [row] = await unit
      .trx('masters')
      .insert({ name, key_digest: secret.digest, key_prefix: secret.prefix, key_last4: secret.last4, global_qps: 0, ...extra })
      .returning<Array<{ id: number }>>('id');
    await unit.sync({ resource: 'master', id: row!.id, action: 'upsert' });
    return row!.id;
  });
}

/** Issues a child key and returns its plaintext. */
export async function seedKey(masterId: number, plaintext: string, extra: Record<string, unknown> = {}): Promise<{ id: number; key: string; digest: string }> {
  return write(deps(), ctx, async (unit) => {
    const secret = describeSecret(plaintext, digester);
    const [row] = await unit
      .trx('keys')
      .insert({ master_id: masterId, key_digest: secret.digest, key_prefix: secret.prefix, key_last4: secret.last4, issued_by: 'admin', scopes: ['*'], ...extra })
      .returning<Array<{ id: number }>>('id');
    await unit.sync({ resource: 'key', id: row!.id, digest: secret.digest, action: 'upsert' });
    return { id: row!.id, key: plaintext, digest: secret.digest };
  });
}

export interface SeedGroup {
  name: string;
  type: string;
  base_url: string;
  models: string[];
  route_group?: string;
  /** One upstream secret per api key. */
  keys: string[];
  extra?: Record<string, unknown>;
  /** `api_keys.rate_multiplier` of every key of the group (default 1). */
  rate_multiplier?: number;
}

export async function seedGroup(group: SeedGroup): Promise<{ groupId: number; apiKeyIds: number[] }> {
  return write(deps(), ctx, async (unit) => {
    const [row] = await unit
      .trx('provider_groups')
      .insert({ name: group.name, type: group.type, base_url: group.base_url, models: group.models, route_group: group.route_group ?? 'default', ...group.extra })
      .returning<Array<{ id: number }>>('id');
    const apiKeyIds: number[] = [];
    for (const secret of group.keys) {
      const { rows } = await unit.trx.raw<{ rows: Array<{ id: number }> }>(`select nextval('api_keys_id_seq') as id`);
      const id = Number(rows[0]!.id);
      const sealed = box.seal(secret, SecretBox.aad('api_keys', id, 'secret'));
      await unit.trx('api_keys').insert({ id, group_id: row!.id, secret_ciphertext: sealed.ciphertext, secret_nonce: sealed.nonce, key_version: sealed.keyVersion, ...(group.rate_multiplier === undefined ? {} : { rate_multiplier: group.rate_multiplier }) });
      apiKeyIds.push(id);
    }
    await unit.sync({ resource: 'routing', action: 'upsert' });
    return { groupId: row!.id, apiKeyIds };
  });
}

export async function seedBinding(namespace: string, publicModel: string, candidates: Array<Record<string, unknown>>): Promise<void> {
  await write(deps(), ctx, async (unit) => {
    await unit.trx('bindings').insert({ namespace, public_model: publicModel, candidates: JSON.stringify(candidates) });
    await unit.sync({ resource: 'routing', action: 'upsert' });
  });
}

/** A model registry row (prices per 1M tokens and per request, USD), synced into `meta:models`. */
export async function seedModel(name: string, extra: Record<string, unknown> = {}): Promise<void> {
  await write(deps(), ctx, async (unit) => {
    await unit.trx('models').insert({ name, ...extra });
    await unit.sync({ resource: 'routing', action: 'upsert' });
  });
}

export async function seedFeatures(flags: Record<string, string>): Promise<void> {
  await write(deps(), ctx, async (unit) => {
    await unit.trx('settings').insert({ key: 'features', value: JSON.stringify(flags) }).onConflict('key').merge();
    await unit.sync({ resource: 'features', action: 'upsert' });
  });
}

/** Applies everything written so far to Redis. */
export async function publish(redis: Redis): Promise<void> {
  await syncNow(redis);
}
