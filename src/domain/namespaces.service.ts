import type { Knex } from 'knex';
import { isUniqueViolation } from '../db/models.repository.js';
import {
  DEFAULT_NAMESPACE,
  NAMESPACES_NAME_UNIQUE,
  deleteNamespace,
  ensureDefaultNamespace,
  findNamespace,
  insertNamespace,
  listNamespaces,
  namespaceUsers,
  updateNamespace,
  type NamespaceRow,
  type NamespaceUsers,
} from '../db/namespaces.repository.js';
import { ConflictError, NotFoundError } from '../lib/errors.js';
import type { ListResult, Page } from './models.service.js';
import { write, type WriteContext, type WriteDeps } from './write-context.js';

/**
 * Namespaces (`/admin/namespaces`). Masters, keys and bindings refer to a namespace by name, so a
 * name never changes once created (PATCH only edits the description) and a namespace still in use
 * cannot be deleted. `default` always exists: its row is created on first use (any namespace
 * read, or a binding saved into it) and cannot be deleted.
 */

export interface NamespaceDto {
  id: number;
  name: string;
  description: string;
  /** True for `default`, which always exists and cannot be deleted. */
  builtin: boolean;
  created_at: string;
  updated_at: string;
}

export function toNamespaceDto(row: NamespaceRow): NamespaceDto {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    builtin: row.name === DEFAULT_NAMESPACE,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

export async function listNamespaceDtos(knex: Knex, filters: { q?: string }, page: Page): Promise<ListResult<NamespaceDto>> {
  await ensureDefaultNamespace(knex);
  const { rows, total } = await listNamespaces(knex, filters, page);
  return { data: rows.map(toNamespaceDto), pagination: { ...page, total } };
}

export async function getNamespace(knex: Knex, id: number): Promise<NamespaceDto> {
  await ensureDefaultNamespace(knex);
  const row = await findNamespace(knex, id);
  if (!row) throw new NotFoundError('namespace', id);
  return toNamespaceDto(row);
}

export async function createNamespace(deps: WriteDeps, ctx: WriteContext, input: { name: string; description?: string }): Promise<NamespaceDto> {
  try {
    return await write(deps, ctx, async (unit) => {
      // `default` is materialised first, so creating it explicitly is a duplicate like any other.
      await ensureDefaultNamespace(unit.trx);
      const row = await insertNamespace(unit.trx, input);
      await unit.audit('namespace.create', { type: 'namespace', id: row.id }, { name: row.name });
      await unit.sync({ resource: 'routing', action: 'upsert' });
      return toNamespaceDto(row);
    });
  } catch (err) {
    if (isUniqueViolation(err, NAMESPACES_NAME_UNIQUE)) {
      throw new ConflictError(`A namespace named "${input.name}" already exists`, [{ field: 'body.name', message: 'Already exists' }]);
    }
    throw err;
  }
}

export async function updateNamespaceById(deps: WriteDeps, ctx: WriteContext, id: number, input: { description?: string }): Promise<NamespaceDto> {
  return write(deps, ctx, async (unit) => {
    await ensureDefaultNamespace(unit.trx);
    const before = await findNamespace(unit.trx, id, { forUpdate: true });
    if (!before) throw new NotFoundError('namespace', id);
    const row = (await updateNamespace(unit.trx, id, input)) ?? before;
    await unit.audit('namespace.update', { type: 'namespace', id }, { name: row.name, fields: Object.keys(input).sort() });
    await unit.sync({ resource: 'routing', action: 'upsert' });
    return toNamespaceDto(row);
  });
}

/** "binding x.gpt-4o (id 3), master acme (id 1) and 4 more keys" — who keeps a namespace alive. */
export function describeNamespaceUsers(users: NamespaceUsers): string {
  const parts: string[] = [];
  const more = (shown: number, total: number, what: string) => (total > shown ? [`${total - shown} more ${what}`] : []);
  parts.push(...users.bindings.map((b) => `binding "${b.public_model}" (id ${b.id})`), ...more(users.bindings.length, users.counts.bindings, 'bindings'));
  parts.push(...users.masters.map((m) => `master "${m.name}" (id ${m.id})`), ...more(users.masters.length, users.counts.masters, 'masters'));
  parts.push(...users.keys.map((k) => `key ${k.id} of master ${k.master_id}`), ...more(users.keys.length, users.counts.keys, 'keys'));
  return parts.join(', ');
}

export async function deleteNamespaceById(deps: WriteDeps, ctx: WriteContext, id: number): Promise<void> {
  await write(deps, ctx, async (unit) => {
    // Locks the row: a binding being saved into this namespace holds FOR KEY SHARE on it.
    const row = await findNamespace(unit.trx, id, { forUpdate: true });
    if (!row) throw new NotFoundError('namespace', id);
    if (row.name === DEFAULT_NAMESPACE) throw new ConflictError('The default namespace always exists and cannot be deleted');
    const users = await namespaceUsers(unit.trx, row.name);
    const inUse = users.counts.bindings + users.counts.masters + users.counts.keys;
    if (inUse > 0) {
      throw new ConflictError(`Namespace "${row.name}" is still used by ${describeNamespaceUsers(users)}; remove it from them first`);
    }
    await deleteNamespace(unit.trx, id);
    await unit.audit('namespace.delete', { type: 'namespace', id }, { name: row.name });
    await unit.sync({ resource: 'routing', action: 'upsert' });
  });
}
