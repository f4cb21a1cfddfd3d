import type { Knex } from 'knex';
import { isIP } from 'node:net';
import {
  countSlotKeys,
  deleteKey as deleteKeyRow,
  findKeyById,
  insertKey,
  listKeys as listKeyRows,
  lockKey,
  resetKeyQuota,
  SLOT_KEY_STATUSES,
  updateKey as updateKeyRow,
  type KeyIssuer,
  type KeyPatch,
  type KeyRow,
  type KeyStatus,
} from '../db/keys.repository.js';
import { findMasterById, lockMaster, type MasterRow, type OffsetPage } from '../db/masters.repository.js';
import type { Budgets } from '../lib/budgets.js';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../lib/errors.js';
import type { KeyDigester } from '../lib/key-digest.js';
import { displayKey, issueSecret } from './client-keys.js';
import { write, type WriteContext, type WriteDeps } from './write-context.js';

/**
 * Child keys (DESIGN §4 `keys`): issued by an admin (`POST /admin/masters/:id/keys`) or by the
 * master itself (`POST /v1/tokens`) under ONE rule, `checkIssuance`. The plaintext is returned
 * once; rows keep only the digest (never leaves the server) plus prefix/last4 for display.
 */

/** Scopes of a key issued without `scopes`: the import format's defaults (PROVIDERS.md). */
export const DEFAULT_SCOPES: readonly string[] = ['chat:*', 'completions:*'];

export interface Page<T> {
  data: T[];
  pagination: { limit: number; offset: number; total: number };
}

// ---------------------------------------------------------------------------------------------
// The issuance rule (pure)
// ---------------------------------------------------------------------------------------------

/** The master's side of the rule. */
export type IssuanceMaster = Pick<MasterRow, 'id' | 'status' | 'max_child_keys' | 'namespaces' | 'default_namespace' | 'group'>;

/** What the caller asked for (omitted = the master's). */
export interface IssuanceRequest {
  namespaces?: readonly string[] | undefined;
  default_namespace?: string | undefined;
  group?: string | undefined;
}

/** What the new key gets. */
export interface IssuanceGrant {
  namespaces: string[];
  default_namespace: string;
  /** NULL = follows the master's group. */
  group: string | null;
}

/**
 * THE issuance rule, shared by admin and master issuance. `slotKeyCount` is the master's active
 * plus disabled keys, counted under the master's row lock. Throws, in this order:
 * 403 the master is suspended; 409 no free slot; 400 namespaces outside the master's;
 * 400 default_namespace outside the key's namespaces; 400 a group other than the master's.
 */
export function checkIssuance(master: IssuanceMaster, slotKeyCount: number, request: IssuanceRequest): IssuanceGrant {
  if (master.status !== 'active') throw new ForbiddenError(`Master ${master.id} is suspended; no keys can be issued under it`);
  checkFreeSlot(master, slotKeyCount);
  const namespaces = request.namespaces ? [...new Set(request.namespaces)] : [...master.namespaces];
  const outside = namespaces.filter((ns) => !master.namespaces.includes(ns));
  if (outside.length > 0) {
    throw fieldError('body.namespaces', `not among the master's namespaces (${master.namespaces.join(', ')}): ${outside.join(', ')}`);
  }
  const defaultNamespace =
    request.default_namespace ?? (namespaces.includes(master.default_namespace) ? master.default_namespace : namespaces[0]);
  if (defaultNamespace === undefined || !namespaces.includes(defaultNamespace)) {
    throw fieldError('body.default_namespace', `must be one of the key's namespaces (${namespaces.join(', ')})`);
  }
  if (request.group !== undefined && request.group !== master.group) {
    throw fieldError('body.group', `must be the master's group "${master.group}" (or omitted)`);
  }
  return { namespaces, default_namespace: defaultNamespace, group: request.group ?? null };
}

/** 409 when the master's active + disabled keys already fill max_child_keys. */
export function checkFreeSlot(master: Pick<MasterRow, 'id' | 'max_child_keys'>, slotKeyCount: number): void {
  if (slotKeyCount >= master.max_child_keys) {
    throw new ConflictError(
      `Master ${master.id} already has ${slotKeyCount} active or disabled keys (max_child_keys ${master.max_child_keys}); ` +
        'delete a key or raise max_child_keys first',
    );
  }
}

/** 400 unless an expiry is in the future (`null` clears it). */
export function checkExpiry(expiresAt: Date | null | undefined, now: Date): void {
  if (expiresAt && expiresAt.getTime() <= now.getTime()) throw fieldError('body.expires_at', 'must be in the future');
}

// ---------------------------------------------------------------------------------------------
// CIDR (pure): PostgreSQL's cidr refuses host bits, so catch them here with a helpful 400
// ---------------------------------------------------------------------------------------------

/** Why `value` is not an acceptable `allow_ips` entry, or undefined when it is. */
export function cidrProblem(value: string): string | undefined {
  const slash = value.indexOf('/');
  const address = slash === -1 ? value : value.slice(0, slash);
  const family = isIP(address) as 0 | 4 | 6;
  if (family === 0 || address.includes('%')) return 'must be an IPv4 or IPv6 address or CIDR block, e.g. 10.0.0.0/8';
  const bits = family === 4 ? 32 : 128;
  if (slash === -1) return undefined;
  const prefixText = value.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) return `prefix length must be 0–${bits}`;
  const bytes = addressBytes(address, family);
  const network = maskBytes(bytes, Number(prefixText));
  if (network.some((b, i) => b !== bytes[i])) {
    return `has host bits set; did you mean ${formatBytes(network, family)}/${prefixText}?`;
  }
  return undefined;
}

function addressBytes(address: string, family: 4 | 6): number[] {
  if (family === 4) return address.split('.').map(Number);
  let text = address;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const [a = 0, b = 0, c = 0, d = 0] = tail.split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  let groups: string[];
  if (text.includes('::')) {
    const [head = '', rest = ''] = text.split('::');
    const headGroups = head ? head.split(':') : [];
    const restGroups = rest ? rest.split(':') : [];
    groups = [...headGroups, ...Array<string>(8 - headGroups.length - restGroups.length).fill('0'), ...restGroups];
  } else {
    groups = text.split(':');
  }
  return groups.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}

function maskBytes(bytes: number[], prefix: number): number[] {
  return bytes.map((b, i) => {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    return b & ((0xff << (8 - keep)) & 0xff);
  });
}

function formatBytes(bytes: number[], family: 4 | 6): string {
  if (family === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < bytes.length; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return groups.join(':');
}

// ---------------------------------------------------------------------------------------------
// DTOs
// ---------------------------------------------------------------------------------------------

/** A child key as the api shows it: the row without its digest, times as ISO strings. */
export type KeyDto = Omit<KeyRow, 'key_digest' | 'expires_at' | 'last_used_at' | 'created_at' | 'updated_at'> & {
  /** `ezk_AbCd…wxyz` */
  display: string;
  expires_at: string | null;
  last_used_at: string | null;
  created_at: string;
  updated_at: string;
};

/** The creation response: the DTO plus the plaintext key, shown this once. */
export interface IssuedKeyDto extends KeyDto {
  key: string;
}

export function toKeyDto(row: KeyRow): KeyDto {
  return {
    id: row.id,
    master_id: row.master_id,
    name: row.name,
    key_prefix: row.key_prefix,
    key_last4: row.key_last4,
    display: displayKey(row.key_prefix, row.key_last4),
    issued_by: row.issued_by,
    issuer_id: row.issuer_id,
    issued_at_epoch: row.issued_at_epoch,
    status: row.status,
    scopes: row.scopes,
    namespaces: row.namespaces,
    default_namespace: row.default_namespace,
    group: row.group,
    model_limits_enabled: row.model_limits_enabled,
    model_limits: row.model_limits,
    allow_ips: row.allow_ips,
    expires_at: row.expires_at?.toISOString() ?? null,
    quota_limit: row.quota_limit,
    quota_used: row.quota_used,
    rpm_limit: row.rpm_limit,
    tpm_limit: row.tpm_limit,
    budgets: row.budgets,
    last_used_at: row.last_used_at?.toISOString() ?? null,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

// ---------------------------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------------------------

export interface IssueKeyInput extends IssuanceRequest {
  name: string;
  scopes?: string[] | undefined;
  model_limits_enabled?: boolean | undefined;
  model_limits?: string[] | undefined;
  allow_ips?: string[] | undefined;
  expires_at?: Date | undefined;
  quota_limit?: number | undefined;
  rpm_limit?: number | undefined;
  tpm_limit?: number | undefined;
  budgets?: Budgets | undefined;
}

export interface Issuer {
  by: KeyIssuer;
  /** Admin actor id, or the master's id. */
  id: string;
}

/** Issues a child key under the master's row lock (so max_child_keys holds under concurrency). */
export async function issueKey(
  deps: WriteDeps,
  who: WriteContext,
  digester: KeyDigester,
  masterId: number,
  issuer: Issuer,
  input: IssueKeyInput,
  now = new Date(),
): Promise<IssuedKeyDto> {
  checkExpiry(input.expires_at, now);
  return write(deps, who, async (unit) => {
    const master = await lockMaster(unit.trx, masterId);
    if (!master) throw new NotFoundError('master', masterId);
    const grant = checkIssuance(master, await countSlotKeys(unit.trx, master.id), input);
    const secret = issueSecret('child', digester);
    const row = await insertKey(unit.trx, {
      master_id: master.id,
      key_digest: secret.digest,
      key_prefix: secret.prefix,
      key_last4: secret.last4,
      name: input.name,
      issued_by: issuer.by,
      issuer_id: issuer.id,
      issued_at_epoch: master.epoch,
      status: 'active',
      scopes: uniq(input.scopes ?? DEFAULT_SCOPES),
      ...grant,
      model_limits_enabled: input.model_limits_enabled ?? false,
      model_limits: uniq(input.model_limits ?? []),
      allow_ips: uniq(input.allow_ips ?? []),
      expires_at: input.expires_at ?? null,
      quota_limit: input.quota_limit ?? -1,
      rpm_limit: input.rpm_limit ?? 0,
      tpm_limit: input.tpm_limit ?? 0,
      budgets: input.budgets ?? {},
    });
    await unit.audit('key.create', { type: 'key', id: row.id }, { master_id: master.id, name: row.name, issued_by: issuer.by });
    await unit.sync({ resource: 'key', id: row.id, digest: row.key_digest, action: 'upsert' });
    return { ...toKeyDto(row), key: secret.plaintext };
  });
}

/** A master's keys, newest first. `requireMaster` turns an unknown master into a 404. */
export async function listKeys(
  knex: Knex,
  masterId: number,
  filters: { status?: KeyStatus | undefined },
  page: OffsetPage,
  options: { requireMaster: boolean },
): Promise<Page<KeyDto>> {
  if (options.requireMaster && !(await findMasterById(knex, masterId))) throw new NotFoundError('master', masterId);
  const { rows, total } = await listKeyRows(knex, { masterId, ...(filters.status ? { status: filters.status } : {}) }, page);
  return { data: rows.map(toKeyDto), pagination: { ...page, total } };
}

/** One key; `ownerMasterId` scopes the lookup to a master (another master's key is a 404). */
export async function getKey(knex: Knex, id: number, ownerMasterId?: number): Promise<KeyDto> {
  const row = await findKeyById(knex, id);
  if (!row || (ownerMasterId !== undefined && row.master_id !== ownerMasterId)) throw new NotFoundError('key', id);
  return toKeyDto(row);
}

export type UpdateKeyInput = Omit<KeyPatch, 'status' | 'namespaces' | 'default_namespace' | 'group'> & {
  status?: Extract<KeyStatus, 'active' | 'disabled'> | undefined;
};

/**
 * Partial update. Turning an expired or exhausted key back to active/disabled takes a slot,
 * so it is checked against max_child_keys under the master's lock like an issuance. An exhausted
 * key whose quota_limit is raised above its quota_used (or to -1) becomes active in the same
 * write; setting it active without that room is a 409. `ownerMasterId` scopes the update to one
 * master (another master's key is a 404).
 */
export async function updateKey(
  deps: WriteDeps,
  who: WriteContext,
  id: number,
  patch: UpdateKeyInput,
  options: { now?: Date; ownerMasterId?: number } = {},
): Promise<KeyDto> {
  checkExpiry(patch.expires_at, options.now ?? new Date());
  return write(deps, who, async (unit) => {
    const current = await lockKeyUnderMaster(unit.trx, id);
    if (options.ownerMasterId !== undefined && current.master.id !== options.ownerMasterId) throw new NotFoundError('key', id);
    const cleaned: KeyPatch = { ...patch };
    const status = nextStatusForQuota(current.key, patch);
    if (status !== undefined) cleaned.status = status;
    if (cleaned.status && !SLOT_KEY_STATUSES.includes(current.key.status)) {
      checkFreeSlot(current.master, await countSlotKeys(unit.trx, current.master.id));
    }
    if (patch.scopes) cleaned.scopes = uniq(patch.scopes);
    if (patch.model_limits) cleaned.model_limits = uniq(patch.model_limits);
    if (patch.allow_ips) cleaned.allow_ips = uniq(patch.allow_ips);
    const row = (await updateKeyRow(unit.trx, id, cleaned))!;
    await unit.audit('key.update', { type: 'key', id }, { master_id: row.master_id, changes: auditChanges(cleaned) });
    await unit.sync({ resource: 'key', id, digest: row.key_digest, action: 'upsert' });
    return toKeyDto(row);
  });
}

/** True when a lifetime quota still has room: unlimited (-1) or above what was spent. */
export function quotaHasRoom(quotaLimit: number, quotaUsed: number): boolean {
  return quotaLimit < 0 || quotaLimit > quotaUsed;
}

/**
 * The exhausted lifecycle of an admin/master update (pure): an exhausted key becomes `active`
 * when the patch gives its quota room again and sets no status itself; asking for `active`
 * without room is a 409. Returns the status to write, or undefined to leave the patch's own.
 */
export function nextStatusForQuota(key: Pick<KeyRow, 'status' | 'quota_limit' | 'quota_used'>, patch: Pick<UpdateKeyInput, 'status' | 'quota_limit'>): KeyStatus | undefined {
  if (key.status !== 'exhausted') return undefined;
  const room = quotaHasRoom(patch.quota_limit ?? key.quota_limit, key.quota_used);
  if (patch.status === 'active' && !room) {
    throw new ConflictError(
      `The key's quota is used up (${key.quota_used} of ${patch.quota_limit ?? key.quota_limit} µ$): raise quota_limit above quota_used, set it to -1, or reset the quota`,
      [{ field: 'body.status', message: 'quota exhausted' }],
    );
  }
  if (patch.status === undefined && patch.quota_limit !== undefined && room) return 'active';
  return undefined;
}

/**
 * Resets a key's lifetime spend (audited): quota_used = 0, an exhausted key becomes active
 * (taking a slot again), and the outbox row carries `reset_spent` so the sync apply overwrites the
 * live Redis counter to 0 as well. Periodic budget windows are not touched.
 */
export async function resetKeyQuotaUsed(deps: WriteDeps, who: WriteContext, id: number): Promise<KeyDto> {
  return write(deps, who, async (unit) => {
    const current = await lockKeyUnderMaster(unit.trx, id);
    const reactivate = current.key.status === 'exhausted';
    if (reactivate) checkFreeSlot(current.master, await countSlotKeys(unit.trx, current.master.id));
    const row = (await resetKeyQuota(unit.trx, id, reactivate ? 'active' : undefined))!;
    await unit.audit('key.quota_reset', { type: 'key', id }, { master_id: row.master_id, previous_quota_used: current.key.quota_used, reactivated: reactivate });
    await unit.sync({ resource: 'key', id, digest: row.key_digest, action: 'upsert', reset_spent: true });
    return toKeyDto(row);
  });
}

/** Deletes a key; `ownerMasterId` scopes it to one master (another master's key is a 404). */
export async function deleteKey(deps: WriteDeps, who: WriteContext, id: number, ownerMasterId?: number): Promise<void> {
  await write(deps, who, async (unit) => {
    const row = await lockKey(unit.trx, id);
    if (!row || (ownerMasterId !== undefined && row.master_id !== ownerMasterId)) throw new NotFoundError('key', id);
    await deleteKeyRow(unit.trx, id);
    await unit.audit('key.delete', { type: 'key', id }, { master_id: row.master_id, name: row.name });
    await unit.sync({ resource: 'key', id, digest: row.key_digest, action: 'delete' });
  });
}

/**
 * Locks the key's master, then the key: the same order as issuance, master deletion and access
 * propagation, so concurrent writes on one master queue up instead of deadlocking.
 */
export async function lockKeyUnderMaster(trx: Knex.Transaction, id: number): Promise<{ master: MasterRow; key: KeyRow }> {
  const found = await findKeyById(trx, id);
  const master = found ? await lockMaster(trx, found.master_id) : undefined;
  const key = master ? await lockKey(trx, id) : undefined;
  if (!master || !key || key.master_id !== master.id) throw new NotFoundError('key', id);
  return { master, key };
}

export function fieldError(field: string, message: string): ValidationError {
  return new ValidationError(`Invalid ${field.replace(/^body\./, '')}: ${message}`, [{ field, message }]);
}

function uniq(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/** Audit metadata for a patch: values as JSON-friendly data (a key patch holds no secret). */
function auditChanges(patch: KeyPatch): Record<string, unknown> {
  return Object.fromEntries(Object.entries(patch).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v]));
}
