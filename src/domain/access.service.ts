import type { Knex } from 'knex';
import { findKeyById, keysOfMaster, updateKey, type KeyRow } from '../db/keys.repository.js';
import { existingNamespaces, findMasterById, lockMaster, updateMaster } from '../db/masters.repository.js';
import { ConflictError, NotFoundError } from '../lib/errors.js';
import { fieldError, lockKeyUnderMaster } from './keys.service.js';
import { write, type WriteContext, type WriteDeps } from './write-context.js';

/**
 * Namespace access of masters and keys (`GET|PUT /admin/masters/:id/access`,
 * `/admin/keys/:id/access`). Namespaces must exist (a `namespaces` row, or `default`, which
 * always exists); a key's must lie within its master's.
 */

/** The namespace every deployment has, with or without a row. */
export const DEFAULT_NAMESPACE = 'default';

export interface Access {
  namespaces: string[];
  default_namespace: string;
}

/** A key's stored access: empty namespaces / null default mean "the master's". */
export interface KeyAccess {
  namespaces: string[];
  default_namespace: string | null;
}

export interface MasterAccessUpdate extends Access {
  propagate?: boolean | undefined;
}

/** Deduplicates and checks default ∈ namespaces (pure; 400 naming body.default_namespace). */
export function checkAccess(input: Access): Access {
  const namespaces = [...new Set(input.namespaces)];
  if (!namespaces.includes(input.default_namespace)) {
    throw fieldError('body.default_namespace', `must be one of the namespaces (${namespaces.join(', ')})`);
  }
  return { namespaces, default_namespace: input.default_namespace };
}

/** 400 naming `field` when a namespace has no row (`default` always exists). */
export async function assertNamespacesExist(db: Knex, names: readonly string[], field = 'body.namespaces'): Promise<void> {
  const wanted = [...new Set(names)].filter((n) => n !== DEFAULT_NAMESPACE);
  const found = new Set(await existingNamespaces(db, wanted));
  const missing = wanted.filter((n) => !found.has(n));
  if (missing.length > 0) throw fieldError(field, `unknown namespaces: ${missing.join(', ')}`);
}

export interface KeyAccessChange extends KeyAccess {
  id: number;
  digest: string;
}

/**
 * What `propagate: true` does to a master's keys (pure): each key's namespaces are intersected
 * with the master's new set, and a default namespace that fell out is reset (to the master's
 * default when the key keeps it, else the key's first namespace; to "the master's" for keys that
 * inherit). Keys that would keep no namespace are reported in `emptied`, never widened to all.
 */
export function propagateAccess(
  keys: ReadonlyArray<Pick<KeyRow, 'id' | 'key_digest' | 'namespaces' | 'default_namespace'>>,
  access: Access,
): { changes: KeyAccessChange[]; emptied: number[] } {
  const changes: KeyAccessChange[] = [];
  const emptied: number[] = [];
  for (const key of keys) {
    if (key.namespaces.length === 0) {
      if (key.default_namespace !== null && !access.namespaces.includes(key.default_namespace)) {
        changes.push({ id: key.id, digest: key.key_digest, namespaces: [], default_namespace: null });
      }
      continue;
    }
    const kept = key.namespaces.filter((ns) => access.namespaces.includes(ns));
    if (kept.length === 0) {
      emptied.push(key.id);
      continue;
    }
    const effective = key.default_namespace ?? access.default_namespace;
    const defaultNamespace = kept.includes(effective) ? key.default_namespace : kept.includes(access.default_namespace) ? access.default_namespace : kept[0]!;
    if (kept.length !== key.namespaces.length || defaultNamespace !== key.default_namespace) {
      changes.push({ id: key.id, digest: key.key_digest, namespaces: kept, default_namespace: defaultNamespace });
    }
  }
  return { changes, emptied };
}

export async function getMasterAccess(knex: Knex, id: number): Promise<Access> {
  const master = await findMasterById(knex, id);
  if (!master) throw new NotFoundError('master', id);
  return { namespaces: master.namespaces, default_namespace: master.default_namespace };
}

/** Sets a master's access; with `propagate`, narrows its keys to match (a key upsert per changed key). */
export async function putMasterAccess(
  deps: WriteDeps,
  who: WriteContext,
  id: number,
  input: MasterAccessUpdate,
): Promise<Access & { updated_key_ids: number[] }> {
  const access = checkAccess(input);
  await assertNamespacesExist(deps.knex, access.namespaces);
  return write(deps, who, async (unit) => {
    if (!(await lockMaster(unit.trx, id))) throw new NotFoundError('master', id);
    await updateMaster(unit.trx, id, access);
    const { changes, emptied } = input.propagate ? propagateAccess(await keysOfMaster(unit.trx, id), access) : { changes: [], emptied: [] };
    if (emptied.length > 0) {
      throw new ConflictError(`Propagating would leave keys ${emptied.join(', ')} with no namespace; change their access or delete them first`);
    }
    for (const change of changes) {
      await updateKey(unit.trx, change.id, { namespaces: change.namespaces, default_namespace: change.default_namespace });
      await unit.sync({ resource: 'key', id: change.id, digest: change.digest, action: 'upsert' });
    }
    const updatedKeyIds = changes.map((c) => c.id);
    await unit.audit('master.access.update', { type: 'master', id }, { ...access, propagate: input.propagate ?? false, updated_key_ids: updatedKeyIds });
    await unit.sync({ resource: 'master', id, action: 'upsert' });
    return { ...access, updated_key_ids: updatedKeyIds };
  });
}

export async function getKeyAccess(knex: Knex, id: number): Promise<KeyAccess> {
  const key = await findKeyById(knex, id);
  if (!key) throw new NotFoundError('key', id);
  return { namespaces: key.namespaces, default_namespace: key.default_namespace };
}

/** Sets a key's access; its namespaces must lie within its master's (400 naming body.namespaces). */
export async function putKeyAccess(deps: WriteDeps, who: WriteContext, id: number, input: Access): Promise<KeyAccess> {
  const access = checkAccess(input);
  await assertNamespacesExist(deps.knex, access.namespaces);
  return write(deps, who, async (unit) => {
    const { master } = await lockKeyUnderMaster(unit.trx, id);
    const outside = access.namespaces.filter((ns) => !master.namespaces.includes(ns));
    if (outside.length > 0) {
      throw fieldError('body.namespaces', `not among the master's namespaces (${master.namespaces.join(', ')}): ${outside.join(', ')}`);
    }
    const row = (await updateKey(unit.trx, id, access))!;
    await unit.audit('key.access.update', { type: 'key', id }, { master_id: master.id, ...access });
    await unit.sync({ resource: 'key', id, digest: row.key_digest, action: 'upsert' });
    return { namespaces: row.namespaces, default_namespace: row.default_namespace };
  });
}
