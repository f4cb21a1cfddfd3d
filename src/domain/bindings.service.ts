import type { Knex } from 'knex';
import {
  BINDINGS_UNIQUE,
  deleteBinding,
  existingGroupIds,
  findBinding,
  insertBinding,
  listBindings,
  resolutionSources,
  updateBinding,
  type BindingFields,
  type BindingFilters,
  type BindingRow,
  type BindingStatus,
} from '../db/bindings.repository.js';
import { isUniqueViolation } from '../db/models.repository.js';
import { DEFAULT_NAMESPACE, ensureDefaultNamespace, findNamespaceByName } from '../db/namespaces.repository.js';
import { ConflictError, NotFoundError, ValidationError, type FieldError } from '../lib/errors.js';
import type { ProviderSnapshot } from '../lib/redis-layout.js';
import type { ListResult, Page } from './models.service.js';
import {
  MAX_SELECTOR_LENGTH,
  compileSelectorRegex,
  providerSnapshot,
  resolveCandidate,
  selectorMatches,
  type CandidateSource,
  type GroupSource,
  type SelectorType,
} from './sync/projections.js';
import { write, type WriteContext, type WriteDeps } from './write-context.js';

/**
 * Explicit bindings (`/admin/bindings`): (namespace, public_model) → weighted candidates, each a
 * provider group plus a selector over the group's models. Every response carries each
 * candidate's resolution against the groups' current models and upstream keys — the same
 * resolution the sync worker projects into `config:bindings` — so a misconfigured candidate is
 * visible at once. A candidate that does not resolve is saved and marked, not refused; a regex
 * that does not compile, an unknown group or an unknown namespace is refused.
 */

export type CandidateStatus = 'active' | 'config_error' | 'no_provider';

export interface CandidateResolution {
  status: CandidateStatus;
  /** The binding's route_group when the candidate names none. */
  route_group: string;
  /** The group's models the selector hits (usable only when exactly one). */
  matched_models: string[];
  /** The upstream model requests are sent as, when the selector hits exactly one. */
  upstream_model: string | null;
  /** Upstream api key id → upstream model, for active candidates. */
  upstreams: Record<string, string>;
  /** Why the candidate is not active; null when it is. */
  message: string | null;
}

export interface CandidateDto {
  group_id: number;
  /** As saved; null = the binding's route_group. */
  route_group: string | null;
  weight: number;
  selector_type: SelectorType;
  selector_value: string;
  resolution: CandidateResolution;
}

export interface BindingDto {
  id: number;
  namespace: string;
  public_model: string;
  route_group: string;
  status: BindingStatus;
  candidates: CandidateDto[];
  created_at: string;
  updated_at: string;
}

export interface CandidateInput {
  group_id: number;
  route_group?: string | undefined;
  weight?: number | undefined;
  selector_type: SelectorType;
  selector_value: string;
}

export interface BindingCreateInput {
  namespace: string;
  public_model: string;
  route_group?: string | undefined;
  status?: BindingStatus | undefined;
  candidates: CandidateInput[];
}

export type BindingUpdateInput = Partial<BindingCreateInput>;

interface Sources {
  groups: Map<number, GroupSource>;
  providers: ProviderSnapshot[];
}

async function loadSources(db: Knex | Knex.Transaction, rows: readonly BindingRow[]): Promise<Sources> {
  const { groups, keys } = await resolutionSources(
    db,
    rows.flatMap((r) => r.candidates.map((c) => c.group_id)),
  );
  const byId = new Map(groups.map((g) => [g.id, g]));
  const providers = keys.flatMap((k) => {
    const group = byId.get(k.group_id);
    // Resolution only needs ids and statuses: no secret is read or decrypted here.
    return group ? [providerSnapshot({ ...k, secret: null }, group)] : [];
  });
  return { groups: byId, providers };
}

function whyNot(status: CandidateStatus, candidate: CandidateSource, group: GroupSource | undefined, matched: string[]): string | null {
  if (status === 'active') return null;
  const g = `provider group ${candidate.group_id}`;
  if (status === 'config_error') {
    if (matched.length === 0) return `The ${candidate.selector_type} selector matches none of the models of ${g}; it must match exactly one`;
    return `The ${candidate.selector_type} selector matches ${matched.length} models of ${g} (${matched.join(', ')}); it must match exactly one`;
  }
  if (!group) return `${g} no longer exists`;
  if (group.status !== 'active') return `${g} is ${group.status}`;
  return `${g} has no active upstream api key`;
}

export function resolveCandidateDto(candidate: CandidateSource, binding: { route_group: string }, sources: Sources): CandidateDto {
  const group = sources.groups.get(candidate.group_id);
  const effective: CandidateSource = { ...candidate, route_group: candidate.route_group || binding.route_group };
  const resolved = resolveCandidate(effective, group, sources.providers);
  const matched = group ? selectorMatches(candidate.selector_type, candidate.selector_value, group.models) : [];
  return {
    group_id: candidate.group_id,
    route_group: candidate.route_group ?? null,
    weight: candidate.weight ?? 1,
    selector_type: candidate.selector_type,
    selector_value: candidate.selector_value,
    resolution: {
      status: resolved.status,
      route_group: resolved.route_group,
      matched_models: matched,
      upstream_model: matched.length === 1 ? (matched[0] ?? null) : null,
      upstreams: resolved.upstreams,
      message: whyNot(resolved.status, effective, group, matched),
    },
  };
}

export function toBindingDto(row: BindingRow, sources: Sources): BindingDto {
  return {
    id: row.id,
    namespace: row.namespace,
    public_model: row.public_model,
    route_group: row.route_group,
    status: row.status,
    candidates: row.candidates.map((c) => resolveCandidateDto(c, row, sources)),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

async function withResolution(db: Knex | Knex.Transaction, row: BindingRow): Promise<BindingDto> {
  return toBindingDto(row, await loadSources(db, [row]));
}

/** What is stored per candidate: route_group only when given, weight defaulted. */
function storedCandidates(candidates: readonly CandidateInput[]): CandidateSource[] {
  return candidates.map((c) => ({
    group_id: c.group_id,
    ...(c.route_group !== undefined ? { route_group: c.route_group } : {}),
    weight: c.weight ?? 1,
    selector_type: c.selector_type,
    selector_value: c.selector_value,
  }));
}

/** Refuses regexes that do not compile and groups that do not exist, naming each field. */
async function checkCandidates(trx: Knex.Transaction, candidates: readonly CandidateInput[]): Promise<void> {
  const details: FieldError[] = [];
  candidates.forEach((c, i) => {
    if (c.selector_type === 'regex' && !compileSelectorRegex(c.selector_value)) {
      details.push({
        field: `body.candidates.${i}.selector_value`,
        message: `Not a valid, safe regular expression (JavaScript syntax, at most ${MAX_SELECTOR_LENGTH} characters, no nested quantifiers such as (a+)+)`,
      });
    }
  });
  const existing = await existingGroupIds(
    trx,
    candidates.map((c) => c.group_id),
  );
  candidates.forEach((c, i) => {
    if (!existing.has(c.group_id)) details.push({ field: `body.candidates.${i}.group_id`, message: `Provider group ${c.group_id} does not exist` });
  });
  if (details.length > 0) throw new ValidationError('Request validation failed', details);
}

/** The namespace must exist (`default` always does); it is share-locked until commit. */
async function checkNamespace(trx: Knex.Transaction, namespace: string): Promise<void> {
  if (namespace === DEFAULT_NAMESPACE) await ensureDefaultNamespace(trx);
  const row = await findNamespaceByName(trx, namespace, { lock: 'share' });
  if (!row) {
    throw new ValidationError('Request validation failed', [
      { field: 'body.namespace', message: `Namespace "${namespace}" does not exist; create it with POST /admin/namespaces first` },
    ]);
  }
}

function duplicate(namespace: string, publicModel: string): ConflictError {
  return new ConflictError(`A binding for "${publicModel}" in namespace "${namespace}" already exists`, [
    { field: 'body.public_model', message: 'Already bound in this namespace' },
  ]);
}

export async function listBindingDtos(knex: Knex, filters: BindingFilters, page: Page): Promise<ListResult<BindingDto>> {
  const { rows, total } = await listBindings(knex, filters, page);
  const sources = await loadSources(knex, rows);
  return { data: rows.map((r) => toBindingDto(r, sources)), pagination: { ...page, total } };
}

export async function getBinding(knex: Knex, id: number): Promise<BindingDto> {
  const row = await findBinding(knex, id);
  if (!row) throw new NotFoundError('binding', id);
  return withResolution(knex, row);
}

export async function createBinding(deps: WriteDeps, ctx: WriteContext, input: BindingCreateInput): Promise<BindingDto> {
  try {
    return await write(deps, ctx, async (unit) => {
      await checkNamespace(unit.trx, input.namespace);
      await checkCandidates(unit.trx, input.candidates);
      const fields: BindingFields = {
        namespace: input.namespace,
        public_model: input.public_model,
        route_group: input.route_group ?? 'default',
        status: input.status ?? 'active',
        candidates: storedCandidates(input.candidates),
      };
      const row = await insertBinding(unit.trx, fields);
      await unit.audit(
        'binding.create',
        { type: 'binding', id: row.id },
        { namespace: row.namespace, public_model: row.public_model, candidates: row.candidates.length },
      );
      await unit.sync({ resource: 'routing', action: 'upsert' });
      return withResolution(unit.trx, row);
    });
  } catch (err) {
    if (isUniqueViolation(err, BINDINGS_UNIQUE)) throw duplicate(input.namespace, input.public_model);
    throw err;
  }
}

export async function updateBindingById(deps: WriteDeps, ctx: WriteContext, id: number, input: BindingUpdateInput): Promise<BindingDto> {
  let target: { namespace: string; public_model: string } | undefined;
  try {
    return await write(deps, ctx, async (unit) => {
      const before = await findBinding(unit.trx, id, { forUpdate: true });
      if (!before) throw new NotFoundError('binding', id);
      target = { namespace: input.namespace ?? before.namespace, public_model: input.public_model ?? before.public_model };
      if (input.namespace !== undefined && input.namespace !== before.namespace) await checkNamespace(unit.trx, input.namespace);
      if (input.candidates !== undefined) await checkCandidates(unit.trx, input.candidates);
      const { candidates, ...rest } = input;
      const fields: Partial<BindingFields> = candidates === undefined ? rest : { ...rest, candidates: storedCandidates(candidates) };
      const row = (await updateBinding(unit.trx, id, fields)) ?? before;
      await unit.audit(
        'binding.update',
        { type: 'binding', id },
        { namespace: row.namespace, public_model: row.public_model, fields: Object.keys(input).sort() },
      );
      await unit.sync({ resource: 'routing', action: 'upsert' });
      return withResolution(unit.trx, row);
    });
  } catch (err) {
    if (isUniqueViolation(err, BINDINGS_UNIQUE) && target) throw duplicate(target.namespace, target.public_model);
    throw err;
  }
}

export async function deleteBindingById(deps: WriteDeps, ctx: WriteContext, id: number): Promise<void> {
  await write(deps, ctx, async (unit) => {
    const row = await findBinding(unit.trx, id, { forUpdate: true });
    if (!row) throw new NotFoundError('binding', id);
    await deleteBinding(unit.trx, id);
    await unit.audit('binding.delete', { type: 'binding', id }, { namespace: row.namespace, public_model: row.public_model });
    await unit.sync({ resource: 'routing', action: 'upsert' });
  });
}
