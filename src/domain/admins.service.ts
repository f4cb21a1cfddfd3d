import type { Knex } from 'knex';
import {
  deleteAdmin,
  findAdminById,
  findAdminByName,
  insertAdmin,
  listAdmins,
  lockActiveAdminIds,
  recordLoginFailure,
  recordLoginSuccess,
  updateAdmin,
  type AdminChanges,
  type AdminFilters,
  type AdminRole,
  type AdminRow,
  type AdminStatus,
  type LoginFailurePolicy,
} from '../db/admins.repository.js';
import { AppError, ConflictError, NotFoundError, ValidationError } from '../lib/errors.js';
import { dummyPasswordHash, hashPassword, verifyPassword } from '../lib/password.js';
import type { AdminTokenCodec, IssuedAdminToken } from './admin-token.js';
import { LOGIN_LOCKOUT, lockRemainingSeconds, type UnknownNameLockout } from './login-lockout.js';
import { write, type WriteContext, type WriteDeps } from './write-context.js';

/**
 * Named admins (docs/admins.md): CRUD for `/admin/admins` and the CLI, login, and a JWT admin's own
 * password change. Passwords are hashed here and never leave this module: not in a DTO, an audit
 * event or an error. An admin acts in audit events as `<name>#<id>` (the bootstrap token as
 * `bootstrap`), so a deleted and re-created name never blurs who did what.
 */

export interface AdminDto {
  id: number;
  name: string;
  role: AdminRole;
  status: AdminStatus;
  /** Until when login is refused after repeated failures; null when not locked. */
  locked_until: string | null;
  last_login_at: string | null;
  created_at: string;
  updated_at: string;
}

/** 401 `invalid_credentials`: one message whether the name, the password or the status was wrong. */
export class InvalidCredentialsError extends AppError {
  constructor() {
    super('invalid_credentials', 'Invalid name or password');
  }
}

/** 429 `rate_limited` after repeated failed logins; the api sends `Retry-After`. */
export class LoginLockedError extends AppError {
  constructor(readonly retryAfterSeconds: number) {
    super('rate_limited', `Too many failed logins for this name; try again in ${retryAfterSeconds} s`);
  }
}

/** 409 `cannot_modify_self`: an admin may not disable, demote or delete themselves. */
export class SelfModificationError extends AppError {
  constructor(what: string) {
    super('cannot_modify_self', `An admin cannot ${what} themselves; ask another admin or use the bootstrap token`);
  }
}

/** 409 `last_admin`: the change would leave no active admin with the `admin` role. */
export class LastAdminError extends AppError {
  constructor(what: string) {
    super('last_admin', `Cannot ${what} the last active admin; only the bootstrap token (or the CLI) may`);
  }
}

/** Admin names: lower-case, so `Alice` and `alice` are one admin. */
export const ADMIN_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const ADMIN_NAME_RULE = 'must be 1–64 characters a-z 0-9 . _ - starting with a letter or digit';

/** The audit actor id of a named admin. */
export const adminActorId = (row: Pick<AdminRow, 'id' | 'name'>): string => `${row.name}#${row.id}`;

/**
 * Who asks for an admin change: a named admin (`adminId`), or the bootstrap token / the CLI
 * (`adminId` undefined), who may also remove the last admin.
 */
export interface AdminCaller {
  adminId?: number | undefined;
}

export function toAdminDto(row: AdminRow, now: Date = new Date()): AdminDto {
  return {
    id: Number(row.id),
    name: row.name,
    role: row.role,
    status: row.status,
    locked_until: lockRemainingSeconds(row.locked_until, now) === undefined ? null : row.locked_until!.toISOString(),
    last_login_at: row.last_login_at?.toISOString() ?? null,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

export async function listAdminDtos(knex: Knex, filters: AdminFilters, page: { limit: number; offset: number }) {
  const { rows, total } = await listAdmins(knex, filters, page);
  return { data: rows.map((r) => toAdminDto(r)), pagination: { ...page, total } };
}

export async function getAdminDto(knex: Knex, id: number): Promise<AdminDto> {
  const row = await findAdminById(knex, id);
  if (!row) throw new NotFoundError('admin', id);
  return toAdminDto(row);
}

export async function findAdminDtoByName(knex: Knex, name: string): Promise<AdminDto | undefined> {
  const row = await findAdminByName(knex, name);
  return row ? toAdminDto(row) : undefined;
}

export interface NewAdmin {
  /** Lower-cased by the schema; stored lower-case. */
  name: string;
  password: string;
  role: AdminRole;
}

export async function createAdmin(deps: WriteDeps, ctx: WriteContext, input: NewAdmin): Promise<AdminDto> {
  const name = input.name.toLowerCase();
  const password_hash = await hashPassword(input.password);
  return write(deps, ctx, async (unit) => {
    if (await findAdminByName(unit.trx, name)) {
      throw new ConflictError(`An admin named ${name} already exists`, [{ field: 'body.name', message: 'is taken' }]);
    }
    const row = await insertAdmin(unit.trx, { name, password_hash, role: input.role });
    await unit.audit('admin.create', { type: 'admin', id: row.id }, { name, role: row.role });
    return toAdminDto(row);
  });
}

export interface AdminPatch {
  role?: AdminRole | undefined;
  status?: AdminStatus | undefined;
  password?: string | undefined;
}

/** Refuses a change that would take the last active `admin` away (bootstrap and CLI excepted). */
async function guardLastAdmin(trx: Knex.Transaction, caller: AdminCaller, target: AdminRow, what: string): Promise<void> {
  if (caller.adminId === undefined || target.role !== 'admin' || target.status !== 'active') return;
  const remaining = (await lockActiveAdminIds(trx)).filter((id) => id !== Number(target.id));
  if (remaining.length === 0) throw new LastAdminError(what);
}

/**
 * Changes role, status or password. A password change or a disable bumps `token_epoch` (the
 * admin's JWTs stop working at once); a new password also lifts a login lock.
 */
export async function updateAdminById(deps: WriteDeps, ctx: WriteContext, caller: AdminCaller, id: number, patch: AdminPatch): Promise<AdminDto> {
  const password_hash = patch.password === undefined ? undefined : await hashPassword(patch.password);
  return write(deps, ctx, async (unit) => {
    const current = await findAdminById(unit.trx, id, { forUpdate: true });
    if (!current) throw new NotFoundError('admin', id);
    const demote = patch.role === 'viewer' && current.role === 'admin';
    const disable = patch.status === 'disabled' && current.status === 'active';
    if (caller.adminId === id && (demote || disable)) throw new SelfModificationError(demote ? 'demote' : 'disable');
    if (demote || disable) await guardLastAdmin(unit.trx, caller, current, demote ? 'demote' : 'disable');
    const changes: AdminChanges = {};
    if (patch.role !== undefined) changes.role = patch.role;
    if (patch.status !== undefined) changes.status = patch.status;
    if (password_hash !== undefined) Object.assign(changes, { password_hash, failed_logins: 0, locked_until: null, last_failed_login_at: null });
    if (password_hash !== undefined || disable) changes.bumpEpoch = true;
    const row = (await updateAdmin(unit.trx, id, changes)) ?? current;
    await unit.audit('admin.update', { type: 'admin', id }, {
      name: row.name,
      changed: Object.keys(patch).filter((k) => patch[k as keyof AdminPatch] !== undefined),
      role: row.role,
      status: row.status,
      tokens_revoked: changes.bumpEpoch === true,
    });
    return toAdminDto(row);
  });
}

export async function deleteAdminById(deps: WriteDeps, ctx: WriteContext, caller: AdminCaller, id: number): Promise<void> {
  await write(deps, ctx, async (unit) => {
    const current = await findAdminById(unit.trx, id, { forUpdate: true });
    if (!current) throw new NotFoundError('admin', id);
    if (caller.adminId === id) throw new SelfModificationError('delete');
    await guardLastAdmin(unit.trx, caller, current, 'delete');
    await deleteAdmin(unit.trx, id);
    await unit.audit('admin.delete', { type: 'admin', id }, { name: current.name, role: current.role });
  });
}

export interface LoginDeps extends WriteDeps {
  codec: AdminTokenCodec;
  unknownNames: UnknownNameLockout;
  /** Default LOGIN_LOCKOUT (5 failures → 15 minutes). */
  policy?: LoginFailurePolicy;
  /** Injected clock; default `new Date()`. */
  now?: () => Date;
}

/** Where a login or password change came from (audit events). */
export interface RequestOrigin {
  requestId?: string | undefined;
  ip?: string | undefined;
}

export interface LoginResult extends IssuedAdminToken {
  admin: { id: number; name: string; role: AdminRole };
}

const originOf = (origin: RequestOrigin): Omit<WriteContext, 'actor'> => ({
  ...(origin.requestId === undefined ? {} : { requestId: origin.requestId }),
  ...(origin.ip === undefined ? {} : { ip: origin.ip }),
});

/**
 * Counts a failed password check of an existing admin; a failure that locks the admin is audited
 * and answered 429 at once. Never inside the caller's transaction: the count must survive the error.
 */
async function failedPassword(deps: LoginDeps, row: AdminRow, origin: RequestOrigin, now: Date): Promise<never> {
  const updated = await recordLoginFailure(deps.knex, row.id, deps.policy ?? LOGIN_LOCKOUT, now);
  const retry = lockRemainingSeconds(updated?.locked_until, now);
  if (retry === undefined) throw new InvalidCredentialsError();
  await write(deps, { actor: { type: 'system', id: 'admin-login' }, ...originOf(origin) }, (unit) =>
    unit.audit('admin.lockout', { type: 'admin', id: row.id }, { name: row.name, locked_until: updated!.locked_until!.toISOString() }),
  );
  throw new LoginLockedError(retry);
}

/**
 * `POST /admin/login`. Wrong name, wrong password and a disabled admin all answer the same 401,
 * after the same scrypt work (a dummy hash stands in for an unknown name). A locked name — known
 * or not — answers 429 until its lock ends, whatever the password.
 */
export async function login(deps: LoginDeps, input: { name: string; password: string }, origin: RequestOrigin = {}): Promise<LoginResult> {
  const now = deps.now?.() ?? new Date();
  const policy = deps.policy ?? LOGIN_LOCKOUT;
  const name = input.name.toLowerCase();
  const row = await findAdminByName(deps.knex, name);
  if (!row) {
    const locked = lockRemainingSeconds(await deps.unknownNames.lockedUntil(name), now);
    if (locked !== undefined) throw new LoginLockedError(locked);
    await verifyPassword(input.password, await dummyPasswordHash());
    const retry = lockRemainingSeconds(await deps.unknownNames.recordFailure(name, policy, now), now);
    throw retry === undefined ? new InvalidCredentialsError() : new LoginLockedError(retry);
  }
  const locked = lockRemainingSeconds(row.locked_until, now);
  if (locked !== undefined) throw new LoginLockedError(locked);
  if (!(await verifyPassword(input.password, row.password_hash))) return failedPassword(deps, row, origin, now);
  if (row.status !== 'active') throw new InvalidCredentialsError();
  const actorId = adminActorId(row);
  await write(deps, { actor: { type: 'admin', id: actorId }, ...originOf(origin) }, async (unit) => {
    await recordLoginSuccess(unit.trx, row.id, now);
    await unit.audit('admin.login', { type: 'admin', id: row.id }, { name: row.name });
  });
  const issued = await deps.codec.sign(row, now);
  return { ...issued, admin: { id: Number(row.id), name: row.name, role: row.role } };
}

/**
 * `POST /admin/me/password`: a JWT admin replaces their own password. A wrong current password
 * counts toward the login lockout. The epoch bump ends every other session; the answer carries a
 * fresh token for this one.
 */
export async function changeOwnPassword(
  deps: LoginDeps,
  ctx: WriteContext,
  adminId: number,
  input: { current_password: string; new_password: string },
): Promise<LoginResult> {
  const now = deps.now?.() ?? new Date();
  const row = await findAdminById(deps.knex, adminId);
  if (!row) throw new NotFoundError('admin', adminId);
  const locked = lockRemainingSeconds(row.locked_until, now);
  if (locked !== undefined) throw new LoginLockedError(locked);
  if (!(await verifyPassword(input.current_password, row.password_hash))) {
    await failedPassword(deps, row, ctx, now).catch((err: unknown) => {
      if (err instanceof InvalidCredentialsError) throw new ValidationError('Request validation failed', [{ field: 'body.current_password', message: 'is not the current password' }]);
      throw err;
    });
  }
  if (input.new_password === input.current_password) {
    throw new ValidationError('Request validation failed', [{ field: 'body.new_password', message: 'must differ from the current password' }]);
  }
  const password_hash = await hashPassword(input.new_password);
  const updated = await write(deps, ctx, async (unit) => {
    const current = await findAdminById(unit.trx, adminId, { forUpdate: true });
    if (!current) throw new NotFoundError('admin', adminId);
    if (current.password_hash !== row.password_hash) throw new ConflictError('The password was changed meanwhile; log in again');
    const next = await updateAdmin(unit.trx, adminId, { password_hash, failed_logins: 0, locked_until: null, last_failed_login_at: null, bumpEpoch: true });
    await unit.audit('admin.password_change', { type: 'admin', id: adminId }, { name: current.name, tokens_revoked: true });
    return next!;
  });
  const issued = await deps.codec.sign(updated, now);
  return { ...issued, admin: { id: Number(updated.id), name: updated.name, role: updated.role } };
}
