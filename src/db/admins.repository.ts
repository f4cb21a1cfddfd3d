import type { Knex } from 'knex';

/** SQL for `admins` (named admins, docs/admins.md). Names are stored lower-case. */

export type AdminRole = 'admin' | 'viewer';
export type AdminStatus = 'active' | 'disabled';

export interface AdminRow {
  id: number;
  name: string;
  password_hash: string;
  role: AdminRole;
  status: AdminStatus;
  token_epoch: number;
  failed_logins: number;
  last_failed_login_at: Date | null;
  locked_until: Date | null;
  last_login_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface NewAdminRow {
  name: string;
  password_hash: string;
  role: AdminRole;
}

export type AdminChanges = Partial<Pick<AdminRow, 'role' | 'status' | 'password_hash' | 'failed_logins' | 'locked_until' | 'last_failed_login_at'>> & {
  /** Increments token_epoch: every JWT issued before stops working. */
  bumpEpoch?: boolean;
};

type Db = Knex | Knex.Transaction;

export async function insertAdmin(trx: Db, row: NewAdminRow): Promise<AdminRow> {
  const [inserted] = await trx('admins').insert(row).returning<AdminRow[]>('*');
  return inserted!;
}

export async function findAdminById(db: Db, id: number, options: { forUpdate?: boolean } = {}): Promise<AdminRow | undefined> {
  const query = db<AdminRow>('admins').where('id', id).first();
  if (options.forUpdate) query.forUpdate();
  return (await query) as AdminRow | undefined;
}

/** By name, case-insensitively (names are stored lower-case). */
export async function findAdminByName(db: Db, name: string): Promise<AdminRow | undefined> {
  return (await db<AdminRow>('admins').where('name', name.toLowerCase()).first()) as AdminRow | undefined;
}

export interface AdminFilters {
  role?: AdminRole | undefined;
  status?: AdminStatus | undefined;
}

/** Admins by id, with the total. */
export async function listAdmins(db: Db, filters: AdminFilters, page: { limit: number; offset: number }): Promise<{ rows: AdminRow[]; total: number }> {
  const base = db<AdminRow>('admins');
  if (filters.role) base.where('role', filters.role);
  if (filters.status) base.where('status', filters.status);
  const [rows, count] = await Promise.all([
    base.clone().select('*').orderBy('id').limit(page.limit).offset(page.offset),
    base.clone().count<Array<{ count: string | number }>>({ count: '*' }).first(),
  ]);
  return { rows: rows as AdminRow[], total: Number((count as { count: string | number } | undefined)?.count ?? 0) };
}

export async function updateAdmin(trx: Db, id: number, changes: AdminChanges): Promise<AdminRow | undefined> {
  const { bumpEpoch, ...columns } = changes;
  const [row] = await trx('admins')
    .where('id', id)
    .update({ ...columns, ...(bumpEpoch ? { token_epoch: trx.raw('token_epoch + 1') } : {}), updated_at: trx.fn.now() })
    .returning<AdminRow[]>('*');
  return row;
}

export async function deleteAdmin(trx: Db, id: number): Promise<boolean> {
  return (await trx('admins').where('id', id).delete()) > 0;
}

/**
 * Ids of the active `admin`-role admins, rows locked until the transaction ends: two admins
 * demoting each other at once cannot both see "another admin remains".
 */
export async function lockActiveAdminIds(trx: Knex.Transaction): Promise<number[]> {
  const rows = (await trx('admins').select('id').where({ role: 'admin', status: 'active' }).orderBy('id').forUpdate()) as Array<{ id: number }>;
  return rows.map((r) => Number(r.id));
}

export interface LoginFailurePolicy {
  /** Consecutive failures that lock the admin. */
  maxFailures: number;
  /** How long a lock lasts (ms). */
  lockMs: number;
  /** A failure this long after the previous one starts the count again (ms). */
  memoryMs: number;
}

/**
 * Counts one failed login atomically: the count restarts when the previous failure is older than
 * `memoryMs`; reaching `maxFailures` sets `locked_until` and resets the count. Returns the row.
 */
export async function recordLoginFailure(db: Db, id: number, policy: LoginFailurePolicy, now: Date): Promise<AdminRow | undefined> {
  const forgetBefore = new Date(now.getTime() - policy.memoryMs);
  const lockedUntil = new Date(now.getTime() + policy.lockMs);
  // SET expressions all read the row as it was (the latest version, once a concurrent update committed).
  const next = 'case when last_failed_login_at is null or last_failed_login_at < ?::timestamptz then 1 else failed_logins + 1 end';
  const { rows } = await db.raw<{ rows: AdminRow[] }>(
    `update admins set
        failed_logins = case when (${next}) >= ? then 0 else (${next}) end,
        locked_until = case when (${next}) >= ? then ?::timestamptz else locked_until end,
        last_failed_login_at = ?::timestamptz
      where id = ? returning *`,
    [forgetBefore, policy.maxFailures, forgetBefore, forgetBefore, policy.maxFailures, lockedUntil, now, id],
  );
  return rows[0];
}

/** A successful login: the failure count and any expired lock are cleared. */
export async function recordLoginSuccess(db: Db, id: number, now: Date): Promise<void> {
  await db('admins').where('id', id).update({ failed_logins: 0, last_failed_login_at: null, locked_until: null, last_login_at: now });
}
