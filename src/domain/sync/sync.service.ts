import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import { raiseAlert } from '../../db/alerts.repository.js';
import {
  claimDueRows,
  insertOutbox,
  lockApplier,
  markDone,
  nextApplyVersion,
  outboxSummary,
  recordFailure,
  type OutboxRow,
} from '../../db/outbox.repository.js';
import { loadAllKeys, loadFeatures, loadKeys, loadMasters, loadRouting, type RoutingSource } from '../../db/sync-source.repository.js';
import type { Logger } from '../../lib/logger.js';
import { CONFIG_REFRESH_CHANNEL, RedisKeys, type ProviderSnapshot, type RefreshMessage } from '../../lib/redis-layout.js';
import { SecretBox } from '../../lib/secret-box.js';
import {
  bindingField,
  bindingSnapshot,
  DEFAULT_FEATURES,
  hashChecksum,
  implicitBindings,
  masterRecord,
  modelCapabilities,
  providerSnapshot,
  tokenRecord,
  type GroupSource,
} from './projections.js';
import { UsageKeys } from '../../lib/budgets.js';
import { applyOps, deleteStale, raiseCounters, readConfigVersion, replaceHashes, type RedisOp } from './redis-apply.js';

/**
 * The sync worker's core (DESIGN §6 "Admin write"): claim due outbox rows, recompute the Redis
 * projection of what they name from PostgreSQL's current state, apply it version-guarded, mark
 * the rows done — all while holding the applier lock, so applies happen one at a time and each
 * reads a state at least as new as the previous one. See docs/sync.md.
 */
export interface SyncDeps {
  knex: Knex;
  /** A fail-fast connection (producer role): an apply must not hang while holding the lock. */
  redis: Redis;
  secretBox: SecretBox;
  logger: Logger;
  /** Rows per apply (EZ_SYNC_BATCH_SIZE). */
  batchSize: number;
  /** Attempts before a row becomes `failed` and raises an alert (EZ_SYNC_MAX_RETRIES). */
  maxAttempts: number;
  /** How long to wait for another applier (ms). */
  lockTimeoutMs?: number;
  now?: () => Date;
}

export interface ApplyResult {
  /** Outbox rows marked done. */
  applied: number;
  /** Apply versions written to Redis (one per batch). */
  versions: number[];
}

/** Exponential backoff for rows whose apply failed: 1 s, 2 s, 4 s … capped at 5 min. */
export const rowBackoffMs = (attempt: number) => Math.min(300_000, 1_000 * 2 ** Math.max(0, attempt - 1));

/** Applies every due row, batch by batch (bounded), and publishes refresh messages. */
export async function applyDueChanges(deps: SyncDeps, maxBatches = 50): Promise<ApplyResult> {
  const result: ApplyResult = { applied: 0, versions: [] };
  for (let batch = 0; batch < maxBatches; batch++) {
    const outcome = await applyOneBatch(deps);
    if (!outcome) break;
    result.applied += outcome.rows;
    result.versions.push(outcome.version);
    if (outcome.rows < deps.batchSize) break;
  }
  return result;
}

async function applyOneBatch(deps: SyncDeps): Promise<{ rows: number; version: number } | undefined> {
  let claimed: OutboxRow[] = [];
  const messages: RefreshMessage[] = [];
  try {
    const outcome = await deps.knex.transaction(async (trx) => {
      await lockApplier(trx, deps.lockTimeoutMs ?? 30_000);
      claimed = await claimDueRows(trx, deps.batchSize);
      if (claimed.length === 0) return undefined;
      const version = await nextApplyVersion(trx);
      const now = deps.now?.() ?? new Date();
      const wrote = claimed.some((r) => r.resource === 'snapshot')
        ? await rebuild(deps, trx, claimed, version, now)
        : await applyIncremental(deps, trx, claimed, version, now, messages);
      if (!wrote) deps.logger.warn({ version }, 'redis already holds a newer config version; marking rows done');
      await markDone(
        trx,
        claimed.map((r) => r.id),
        version,
      );
      if (claimed.some((r) => r.resource === 'snapshot')) messages.push(refresh('snapshot', version, now));
      return { rows: claimed.length, version };
    });
    await publish(deps, messages);
    return outcome;
  } catch (err) {
    const ids = claimed.map((r) => r.id);
    const message = err instanceof Error ? err.message : String(err);
    const { failed } = await recordFailure(deps.knex, ids, message, { maxAttempts: deps.maxAttempts, backoffMs: rowBackoffMs }).catch(() => ({
      failed: [] as number[],
    }));
    if (failed.length > 0) {
      deps.logger.error({ outboxIds: failed, err: { message } }, 'sync rows failed permanently');
      await raiseAlert(deps.knex, {
        type: 'sync_failed',
        severity: 'critical',
        title: 'Config changes could not be applied to Redis',
        message: `${failed.length} outbox row(s) failed after ${deps.maxAttempts} attempts: ${message}`.slice(0, 1_000),
        fingerprint: 'sync_failed',
        metadata: { outbox_ids: failed },
      }).catch((alertErr: unknown) => deps.logger.error({ err: alertErr }, 'could not raise the sync_failed alert'));
    }
    throw err;
  }
}

function refresh(resource: string, version: number, now: Date, extra: Partial<RefreshMessage> = {}): RefreshMessage {
  return { resource, version, timestamp: now.toISOString(), ...extra };
}

async function publish(deps: SyncDeps, messages: RefreshMessage[]): Promise<void> {
  for (const message of messages) {
    try {
      await deps.redis.publish(CONFIG_REFRESH_CHANNEL, JSON.stringify(message));
    } catch (err) {
      // Gateways also poll config:version every second; a lost message costs at most that.
      deps.logger.warn({ err: { message: (err as Error).message } }, 'could not publish dp:config:refresh');
    }
  }
}

async function applyIncremental(
  deps: SyncDeps,
  trx: Knex.Transaction,
  rows: OutboxRow[],
  version: number,
  now: Date,
  messages: RefreshMessage[],
): Promise<boolean> {
  const ops: RedisOp[] = [];
  const masterIds = [...new Set(rows.filter((r) => r.resource === 'master').map((r) => Number(r.resource_id)))];
  if (masterIds.length > 0) {
    const found = new Map((await loadMasters(trx, masterIds)).map((m) => [m.id, m]));
    const resets = spendResets(rows, 'master');
    for (const id of masterIds) {
      const master = found.get(id);
      ops.push(master ? { t: 'replace', k: RedisKeys.master(id), f: { ...masterRecord(master) } } : { t: 'del', k: RedisKeys.master(id) });
      ops.push(...spendOps(UsageKeys.masterSpent('', id), master?.quota_used, resets.has(id)));
    }
    messages.push(refresh('master', version, now, { master_ids: masterIds }));
  }

  const keyRows = rows.filter((r) => r.resource === 'key');
  if (keyRows.length > 0) {
    const found = new Map((await loadKeys(trx, [...new Set(keyRows.map((r) => Number(r.resource_id)))])).map((k) => [k.id, k]));
    const written = new Set<string>();
    const resets = spendResets(rows, 'key');
    const counted = new Set<number>();
    for (const row of keyRows) {
      const digest = String(row.payload.digest ?? '');
      const key = found.get(Number(row.resource_id));
      if (key && !written.has(key.key_digest)) {
        ops.push({ t: 'replace', k: RedisKeys.token(key.key_digest), f: { ...tokenRecord(key) } });
        written.add(key.key_digest);
      }
      const id = Number(row.resource_id);
      if (!counted.has(id)) {
        ops.push(...spendOps(UsageKeys.keySpent('', id), key?.quota_used, resets.has(id)));
        counted.add(id);
      }
      if (digest && (!key || key.key_digest !== digest)) ops.push({ t: 'del', k: RedisKeys.token(digest) });
      if (digest) messages.push(refresh('key', version, now, { active_key: digest }));
    }
  }

  if (rows.some((r) => r.resource === 'routing')) {
    ops.push(...routingOps(await loadRouting(trx), deps.secretBox, deps.logger, now, version));
    messages.push(refresh('routing', version, now));
  }
  if (rows.some((r) => r.resource === 'features')) {
    ops.push(featuresOp(await loadFeatures(trx)));
    messages.push(refresh('features', version, now));
  }
  return applyOps(deps.redis, version, ops);
}

/** Ids whose outbox rows carry `reset_spent` (an admin's quota reset). */
function spendResets(rows: readonly OutboxRow[], resource: 'key' | 'master'): Set<number> {
  return new Set(rows.filter((r) => r.resource === resource && r.payload.reset_spent === true).map((r) => Number(r.resource_id)));
}

/**
 * The live spend counter that goes with an auth record (docs/budgets.md "Control plane"): raised
 * to PostgreSQL's quota_used, never lowered — except by a reset, which overwrites it; deleted with
 * its record (`quotaUsed` undefined).
 */
export function spendOps(key: string, quotaUsed: number | undefined, reset: boolean): RedisOp[] {
  if (quotaUsed === undefined) return [{ t: 'del', k: key }];
  if (reset) return [{ t: 'set', k: key, v: String(Math.max(0, quotaUsed)) }];
  return quotaUsed > 0 ? [{ t: 'floor', k: key, v: String(quotaUsed) }] : [];
}

function featuresOp(stored: Record<string, string>): RedisOp {
  return { t: 'replace', k: RedisKeys.features, f: { ...DEFAULT_FEATURES, ...stored } };
}

/** Decrypts upstream secrets and builds every routing hash (providers, bindings, models). */
export function routingOps(source: RoutingSource, box: SecretBox, logger: Logger, now: Date, version: number): RedisOp[] {
  const groups = new Map<number, GroupSource>(source.groups.map((g) => [g.id, g]));
  const providers: ProviderSnapshot[] = [];
  for (const key of source.apiKeys) {
    const group = groups.get(key.group_id);
    if (!group) continue;
    let secret: string | null = null;
    if (key.secret_ciphertext && key.secret_nonce) {
      try {
        secret = box.open({ ciphertext: key.secret_ciphertext, nonce: key.secret_nonce, keyVersion: key.key_version }, SecretBox.aad('api_keys', key.id, 'secret'));
      } catch {
        // A secret that does not open (EZ_SECRET changed?) must not take the whole snapshot down.
        logger.error({ apiKeyId: key.id }, 'upstream secret could not be decrypted; key left out of the snapshot');
        continue;
      }
    }
    providers.push(providerSnapshot({ ...key, secret }, group));
  }
  const providerFields = Object.fromEntries(providers.map((p) => [String(p.id), JSON.stringify(p)]));
  const bindingFields: Record<string, string> = {};
  for (const binding of source.bindings) {
    bindingFields[bindingField(binding.namespace, binding.public_model)] = JSON.stringify(bindingSnapshot(binding, groups, providers));
  }
  const implicitFields: Record<string, string> = {};
  for (const [field, binding] of implicitBindings(source.groups, providers, now)) implicitFields[field] = JSON.stringify(binding);

  const capabilities = new Map(source.models.map((m) => [m.name, JSON.stringify(modelCapabilities(m))]));
  const modelFields: Record<string, string> = Object.fromEntries(capabilities);
  for (const binding of source.bindings) {
    const json = capabilities.get(binding.public_model);
    if (json) modelFields[bindingField(binding.namespace, binding.public_model)] = json;
  }
  return [
    { t: 'replace', k: RedisKeys.providers, f: providerFields },
    { t: 'replace', k: RedisKeys.bindings, f: bindingFields },
    { t: 'replace', k: RedisKeys.implicitBindings, f: implicitFields },
    { t: 'replace', k: RedisKeys.models, f: modelFields },
    {
      t: 'replace',
      k: RedisKeys.modelsMeta,
      f: { version: String(version), updated_at: now.toISOString(), checksum: hashChecksum(modelFields) },
    },
  ];
}

/**
 * Full rebuild from PostgreSQL (POST /admin/sync/snapshot, or an emptied Redis): masters and child
 * keys in bounded pipelined chunks, stale records removed, then routing, features and the version
 * in one guarded script. Runs under the applier lock like any other apply.
 */
async function rebuild(deps: SyncDeps, trx: Knex.Transaction, claimed: readonly OutboxRow[], version: number, now: Date): Promise<boolean> {
  if ((await readConfigVersion(deps.redis)) >= version) return false;
  const masters = await loadMasters(trx);
  await replaceHashes(
    deps.redis,
    masters.map((m) => ({ key: RedisKeys.master(m.id), fields: { ...masterRecord(m) } })),
  );
  await deleteStale(deps.redis, RedisKeys.master('*'), new Set(masters.map((m) => RedisKeys.master(m.id))));
  // Spend counters come back to at least what PostgreSQL knows (after a FLUSHALL, say); never lower.
  await raiseCounters(deps.redis, masters.filter((m) => m.quota_used > 0).map((m) => ({ key: UsageKeys.masterSpent('', m.id), value: m.quota_used })));
  const tokenKeys = new Set<string>();
  for await (const page of loadAllKeys(trx)) {
    const records = page.map((k) => ({ key: RedisKeys.token(k.key_digest), fields: { ...tokenRecord(k) } }));
    for (const r of records) tokenKeys.add(r.key);
    await replaceHashes(deps.redis, records);
    await raiseCounters(deps.redis, page.filter((k) => k.quota_used > 0).map((k) => ({ key: UsageKeys.keySpent('', k.id), value: k.quota_used })));
  }
  await deleteStale(deps.redis, RedisKeys.token('*'), tokenKeys);
  // Quota resets batched with the rebuild still overwrite their counters (in the guarded script).
  const resetOps = await resetSpendOps(trx, claimed);
  const ops = [...routingOps(await loadRouting(trx), deps.secretBox, deps.logger, now, version), featuresOp(await loadFeatures(trx)), ...resetOps];
  deps.logger.info({ version, masters: masters.length, keys: tokenKeys.size }, 'redis snapshot rebuilt from postgres');
  return applyOps(deps.redis, version, ops);
}

async function resetSpendOps(trx: Knex.Transaction, rows: readonly OutboxRow[]): Promise<RedisOp[]> {
  const ops: RedisOp[] = [];
  const masterIds = [...spendResets(rows, 'master')];
  for (const m of masterIds.length ? await loadMasters(trx, masterIds) : []) ops.push(...spendOps(UsageKeys.masterSpent('', m.id), m.quota_used, true));
  for (const k of await loadKeys(trx, [...spendResets(rows, 'key')])) ops.push(...spendOps(UsageKeys.keySpent('', k.id), k.quota_used, true));
  return ops;
}

/**
 * The sweeper's safety net: an emptied Redis (FLUSHALL, a new instance) has no `config:version`
 * while PostgreSQL has applied changes before. Queue a rebuild then, once.
 */
export async function rebuildIfRedisWasEmptied(deps: Pick<SyncDeps, 'knex' | 'redis' | 'logger'>): Promise<boolean> {
  const exists = await deps.redis.exists(RedisKeys.configVersion);
  if (exists) return false;
  const summary = await outboxSummary(deps.knex);
  if (summary.applied_version === 0) return false;
  const pendingRebuild = await deps.knex('sync_outbox').where({ resource: 'snapshot', status: 'pending' }).first();
  if (pendingRebuild) return false;
  await deps.knex.transaction((trx) => insertOutbox(trx, { resource: 'snapshot', action: 'rebuild' }));
  deps.logger.warn('redis has no config:version although postgres has applied changes: rebuilding the snapshot');
  return true;
}
