import type { Knex } from 'knex';
import { keysOfMaster, unpinKeyGroups } from '../db/keys.repository.js';
import {
  bumpMasterEpoch,
  deleteMaster as deleteMasterRow,
  findMasterById,
  insertMaster,
  isUniqueViolation,
  listMasters as listMasterRows,
  lockMaster,
  MASTERS_NAME_UNIQUE,
  resetMasterQuota,
  updateMaster as updateMasterRow,
  type MasterFilters,
  type MasterPatch,
  type MasterRow,
  type MasterStatus,
  type OffsetPage,
} from '../db/masters.repository.js';
import type { Budgets } from '../lib/budgets.js';
import { ConflictError, NotFoundError } from '../lib/errors.js';
import type { KeyDigester } from '../lib/key-digest.js';
import { assertNamespacesExist, checkAccess, DEFAULT_NAMESPACE } from './access.service.js';
import { displayKey, issueSecret } from './client-keys.js';
import type { Page } from './keys.service.js';
import { write, type WriteContext, type WriteDeps } from './write-context.js';

/**
 * Masters (tenants, DESIGN §4). Created with a master key shown once; every write records the
 * `master` outbox row so the gateway's `auth:master:<id>` follows, and deleting a master also
 * records a `key` delete per child key (PostgreSQL cascades the rows; Redis needs the digests).
 */

/** Defaults of a new master (DESIGN §4). */
export const MASTER_DEFAULTS = {
  group: 'default',
  namespaces: [DEFAULT_NAMESPACE],
  max_child_keys: 10,
  /** Requests per second over all the master's keys; 0 = unlimited. */
  global_qps: 3,
  status: 'active',
  /** Lifetime quota in µ$; -1 = unlimited. */
  quota_limit: -1,
} as const;

/** A master as the api shows it: the row without its key digest, times as ISO strings. */
export type MasterDto = Omit<MasterRow, 'key_digest' | 'created_at' | 'updated_at'> & {
  /** `ezm_AbCd…wxyz` */
  display: string;
  created_at: string;
  updated_at: string;
};

/** Creation and rotation responses: the DTO plus the plaintext master key, shown this once. */
export interface MasterWithKeyDto extends MasterDto {
  key: string;
}

export function toMasterDto(row: MasterRow): MasterDto {
  return {
    id: row.id,
    name: row.name,
    group: row.group,
    namespaces: row.namespaces,
    default_namespace: row.default_namespace,
    max_child_keys: row.max_child_keys,
    global_qps: row.global_qps,
    status: row.status,
    epoch: row.epoch,
    quota_limit: row.quota_limit,
    quota_used: row.quota_used,
    budgets: row.budgets,
    key_prefix: row.key_prefix,
    key_last4: row.key_last4,
    display: displayKey(row.key_prefix, row.key_last4),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

export interface CreateMasterInput {
  name: string;
  group?: string | undefined;
  namespaces?: string[] | undefined;
  /** Default: `default` when among the namespaces, else the first one. */
  default_namespace?: string | undefined;
  max_child_keys?: number | undefined;
  global_qps?: number | undefined;
  status?: MasterStatus | undefined;
  quota_limit?: number | undefined;
  budgets?: Budgets | undefined;
}

export async function createMaster(deps: WriteDeps, who: WriteContext, digester: KeyDigester, input: CreateMasterInput): Promise<MasterWithKeyDto> {
  const namespaces = input.namespaces ?? [...MASTER_DEFAULTS.namespaces];
  const fallback = namespaces.includes(DEFAULT_NAMESPACE) ? DEFAULT_NAMESPACE : namespaces[0];
  const access = checkAccess({ namespaces, default_namespace: input.default_namespace ?? fallback ?? DEFAULT_NAMESPACE });
  await assertNamespacesExist(deps.knex, access.namespaces);
  const secret = issueSecret('master', digester);
  return write(deps, who, async (unit) => {
    const row = await withNameConflict(input.name, () =>
      insertMaster(unit.trx, {
        name: input.name,
        group: input.group ?? MASTER_DEFAULTS.group,
        ...access,
        max_child_keys: input.max_child_keys ?? MASTER_DEFAULTS.max_child_keys,
        global_qps: input.global_qps ?? MASTER_DEFAULTS.global_qps,
        status: input.status ?? MASTER_DEFAULTS.status,
        quota_limit: input.quota_limit ?? MASTER_DEFAULTS.quota_limit,
        budgets: input.budgets ?? {},
        key_digest: secret.digest,
        key_prefix: secret.prefix,
        key_last4: secret.last4,
      }),
    );
    await unit.audit('master.create', { type: 'master', id: row.id }, { name: row.name, group: row.group, status: row.status });
    await unit.sync({ resource: 'master', id: row.id, action: 'upsert' });
    return { ...toMasterDto(row), key: secret.plaintext };
  });
}

export async function listMasters(knex: Knex, filters: MasterFilters, page: OffsetPage): Promise<Page<MasterDto>> {
  const { rows, total } = await listMasterRows(knex, filters, page);
  return { data: rows.map(toMasterDto), pagination: { ...page, total } };
}

export async function getMaster(knex: Knex, id: number): Promise<MasterDto> {
  const row = await findMasterById(knex, id);
  if (!row) throw new NotFoundError('master', id);
  return toMasterDto(row);
}

export type UpdateMasterInput = Pick<MasterPatch, 'name' | 'group' | 'max_child_keys' | 'global_qps' | 'status' | 'quota_limit' | 'budgets'>;

/**
 * Partial update. Lowering max_child_keys below the current count keeps the existing keys and
 * only stops new issuance. A group change un-pins child keys pinned to the old group (they follow
 * the master again), recording a key upsert for each.
 */
export async function updateMaster(deps: WriteDeps, who: WriteContext, id: number, patch: UpdateMasterInput): Promise<MasterDto> {
  return write(deps, who, async (unit) => {
    if (!(await lockMaster(unit.trx, id))) throw new NotFoundError('master', id);
    const row = (await withNameConflict(patch.name, () => updateMasterRow(unit.trx, id, patch)))!;
    const unpinned = patch.group === undefined ? [] : await unpinKeyGroups(unit.trx, id, row.group);
    await unit.audit('master.update', { type: 'master', id }, { changes: patch, ...(unpinned.length ? { unpinned_key_ids: unpinned.map((k) => k.id) } : {}) });
    await unit.sync({ resource: 'master', id, action: 'upsert' });
    for (const key of unpinned) await unit.sync({ resource: 'key', id: key.id, digest: key.key_digest, action: 'upsert' });
    return toMasterDto(row);
  });
}

/** Deletes the master and (by cascade) its keys, recording a key delete per child key digest. */
export async function deleteMaster(deps: WriteDeps, who: WriteContext, id: number): Promise<void> {
  await write(deps, who, async (unit) => {
    const master = await lockMaster(unit.trx, id);
    if (!master) throw new NotFoundError('master', id);
    const keys = await keysOfMaster(unit.trx, id);
    await deleteMasterRow(unit.trx, id);
    await unit.audit('master.delete', { type: 'master', id }, { name: master.name, deleted_key_ids: keys.map((k) => k.id) });
    for (const key of keys) await unit.sync({ resource: 'key', id: key.id, digest: key.key_digest, action: 'delete' });
    await unit.sync({ resource: 'master', id, action: 'delete' });
  });
}

/** Bumps the epoch: every child key issued before now is refused by the gateway (rows are kept). */
export async function revokeMaster(deps: WriteDeps, who: WriteContext, id: number): Promise<MasterDto> {
  return write(deps, who, async (unit) => {
    const row = await bumpMasterEpoch(unit.trx, id);
    if (!row) throw new NotFoundError('master', id);
    await unit.audit('master.revoke', { type: 'master', id }, { epoch: row.epoch });
    await unit.sync({ resource: 'master', id, action: 'upsert' });
    return toMasterDto(row);
  });
}

/**
 * Resets the master's lifetime spend (audited): quota_used = 0 in PostgreSQL, and the outbox row
 * carries `reset_spent`, so the sync apply overwrites the live Redis counter to 0 as well — the
 * one case where spend goes down (docs/budgets.md). Periodic budget windows are not touched.
 */
export async function resetMasterQuotaUsed(deps: WriteDeps, who: WriteContext, id: number): Promise<MasterDto> {
  return write(deps, who, async (unit) => {
    const before = await lockMaster(unit.trx, id);
    if (!before) throw new NotFoundError('master', id);
    const row = (await resetMasterQuota(unit.trx, id))!;
    await unit.audit('master.quota_reset', { type: 'master', id }, { previous_quota_used: before.quota_used, quota_limit: row.quota_limit });
    await unit.sync({ resource: 'master', id, action: 'upsert', reset_spent: true });
    return toMasterDto(row);
  });
}

/** Replaces the master key; the old one stops working at once (the api looks masters up in PostgreSQL). */
export async function rotateMasterKey(deps: WriteDeps, who: WriteContext, digester: KeyDigester, id: number): Promise<MasterWithKeyDto> {
  const secret = issueSecret('master', digester);
  return write(deps, who, async (unit) => {
    const row = await updateMasterRow(unit.trx, id, { key_digest: secret.digest, key_prefix: secret.prefix, key_last4: secret.last4 });
    if (!row) throw new NotFoundError('master', id);
    await unit.audit('master.rotate_key', { type: 'master', id }, {});
    await unit.sync({ resource: 'master', id, action: 'upsert' });
    return { ...toMasterDto(row), key: secret.plaintext };
  });
}

/** Runs a write that may hit the unique name index and says which name is taken. */
async function withNameConflict<T>(name: string | undefined, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (name !== undefined && isUniqueViolation(err, MASTERS_NAME_UNIQUE)) {
      throw new ConflictError(`A master named "${name}" already exists`, [{ field: 'body.name', message: 'already taken' }]);
    }
    throw err;
  }
}
