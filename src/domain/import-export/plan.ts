import type { z } from 'zod';
import type { ModelFields } from '../../db/models.repository.js';
import type { Budgets } from '../../lib/budgets.js';
import { checkBaseUrl } from '../base-url.js';
import { cidrProblem } from '../keys.service.js';
import { MASTER_DEFAULTS } from '../masters.service.js';
import { PROVIDER_TYPES, type ProviderType } from '../provider-presets.js';
import { resolveGroupShape } from '../providers.service.js';
import { DEFAULT_IMPORTED_SCOPES, importFileSchema, type ImportFile, type ImportKey, type ImportMaster, type ImportModel, type ImportProvider } from './format.js';

/**
 * The import plan (pure): given a parsed file, what already exists, the conflict policy and the
 * flags, decide per entity create / skip / overwrite and collect warnings. No I/O, no clock, no
 * randomness: the token digest is injected. import.service.ts executes the plan; the mapping rules
 * are documented there and in docs/import-export.md.
 *
 * Warnings name entries by their JSON path (`data.keys[3]`) and never carry a secret: no upstream
 * key, no original token, not even a prefix of one.
 *
 * Absent is not default: a row the import creates gets the default of each field the file leaves
 * out (CREATE_DEFAULTS), a row it overwrites keeps its stored value — an overwrite writes only the
 * fields the file gives (the `values` of an overwrite are that partial set).
 */

export type ConflictPolicy = 'skip' | 'overwrite';
export const CONFLICT_POLICIES: readonly ConflictPolicy[] = ['skip', 'overwrite'];

export type PlanAction = 'create' | 'overwrite' | 'skip';

export interface PlanOptions {
  /** What to do with an entity that already exists (groups and masters by name, keys by digest, bindings by namespace + model). */
  conflict: ConflictPolicy;
  /** Bindings are imported only when asked (`--include-bindings`). */
  includeBindings: boolean;
}

/** Digest and display parts of a client key, as stored (src/domain/client-keys.ts). */
export interface TokenIdentity {
  digest: string;
  prefix: string;
  last4: string;
}

/** What already exists, as far as the file refers to it. */
export interface ExistingState {
  groups: ReadonlyArray<{ id: number; name: string; route_group: string; models: readonly string[]; apiKeys: ReadonlyArray<{ id: number; name: string }> }>;
  /** Masters the file names, with their stored values (an overwrite keeps those the file leaves out). */
  masters: ReadonlyArray<{ id: number } & MasterValues>;
  /** Child keys whose digest the file names. */
  keys: ReadonlyArray<{ id: number; master_id: number; digest: string }>;
  /** Names of `namespaces` rows. */
  namespaces: readonly string[];
  bindings: ReadonlyArray<{ id: number; namespace: string; public_model: string; route_group: string; status: 'active' | 'disabled' }>;
  /** Registry models the file names. */
  models: ReadonlyArray<{ id: number; name: string }>;
}

export interface GroupValues {
  name: string;
  type: ProviderType;
  route_group: string;
  base_url: string | null;
  google_project: string | null;
  google_location: string | null;
  models: string[];
  status: 'active' | 'disabled';
}

export interface ApiKeyValues {
  weight: number;
  rate_multiplier: number;
  status: 'active' | 'disabled';
  auto_ban: boolean;
  /** OAuth state from the file; absent = column default (null) on create. */
  access_token_expires_at?: Date | null;
  account_id?: string | null;
}

interface ApiKeyPlanBase {
  name: string;
  /** The upstream secret to seal; null = none in the file (keep the stored one on overwrite). Never log it. */
  secret: string | null;
}

/** create/skip: every field (the file's, else the default); overwrite: only the fields the file gives. */
export type ApiKeyPlan = ApiKeyPlanBase &
  ({ action: 'create' | 'skip'; existingId?: undefined; values: ApiKeyValues } | { action: 'overwrite'; existingId: number; values: Partial<ApiKeyValues> });

export interface GroupPlan {
  action: PlanAction;
  existingId?: number;
  /**
   * The group as routing sees it after the import (bindings take their candidates from it): on an
   * overwrite, route_group and models the file leaves out are the stored ones. A create writes it.
   */
  values: GroupValues;
  /** What an overwrite writes: the fields the file gives (name and type always). */
  changes: Partial<GroupValues>;
  apiKeys: ApiKeyPlan[];
}

export interface MasterValues {
  name: string;
  group: string;
  namespaces: string[];
  default_namespace: string;
  max_child_keys: number;
  global_qps: number;
  status: 'active' | 'suspended';
  quota_limit: number;
  /** Written after the row (issuance never sets it), like a key's quota_used. */
  quota_used: number;
  budgets: Budgets;
}

export interface MasterPlan {
  action: PlanAction;
  existingId?: number;
  /** The master after the import (keys are checked against it); a create writes it. */
  values: MasterValues;
  /** What an overwrite writes: the fields the file gives, and namespaces / default_namespace when they change. */
  changes: Partial<MasterValues>;
}

export interface KeyValues {
  name: string;
  status: 'active' | 'disabled' | 'expired' | 'exhausted';
  scopes: string[];
  namespaces: string[];
  default_namespace: string | null;
  group: string | null;
  model_limits_enabled: boolean;
  model_limits: string[];
  allow_ips: string[];
  expires_at: Date | null;
  quota_limit: number;
  quota_used: number;
  rpm_limit: number;
  tpm_limit: number;
  budgets: Budgets;
}

interface KeyPlanBase {
  /** Name of the master (a create or overwrite in this plan). */
  master: string;
  identity: TokenIdentity;
}

/** A key to write (keys left untouched are only counted). create: every field; overwrite: those the file gives. */
export type KeyPlan = KeyPlanBase &
  ({ action: 'create'; existingId?: undefined; values: KeyValues } | { action: 'overwrite'; existingId: number; values: Partial<KeyValues> });

export interface BindingPlan {
  action: PlanAction;
  existingId?: number;
  namespace: string;
  public_model: string;
  /** The file's, else (overwrite) the stored one, else `default`. */
  route_group: string;
  /** Absent on an overwrite whose file entry has none (the stored status is kept). */
  status?: 'active' | 'disabled';
  /** Names of the provider groups that become exact-selector candidates, sorted. */
  candidateGroups: string[];
}

/** Registry fields an import may write (`price_source` as the file gives it). */
export type ModelValues = Partial<Omit<ModelFields, 'name'>>;

export interface ModelPlan {
  action: PlanAction;
  existingId?: number;
  name: string;
  /** Only the fields the file gives: a create leaves the rest to the column defaults, an overwrite to the stored values. */
  values: ModelValues;
}

export interface NamespacePlan {
  action: 'create' | 'skip';
  name: string;
}

export const ENTITY_KINDS = ['provider_groups', 'api_keys', 'masters', 'keys', 'namespaces', 'bindings', 'models'] as const;
export type EntityKind = (typeof ENTITY_KINDS)[number];
export interface EntityCounts {
  created: number;
  skipped: number;
  overwritten: number;
}
export type ImportCounts = Record<EntityKind, EntityCounts>;

export interface ImportPlan {
  namespaces: NamespacePlan[];
  groups: GroupPlan[];
  masters: MasterPlan[];
  keys: KeyPlan[];
  bindings: BindingPlan[];
  models: ModelPlan[];
  warnings: string[];
  counts: ImportCounts;
}

export interface PlanInput {
  file: ImportFile;
  existing: ExistingState;
  options: PlanOptions;
  /** Digest + display parts of a plaintext client key (describeSecret with the deployment's KeyDigester). */
  describeToken: (plaintext: string) => TokenIdentity;
}

export const DEFAULT_ROUTE_GROUP = 'default';
export const DEFAULT_NAMESPACE = 'default';
/** Issuer id recorded on imported child keys (`issued_by: 'admin'`). */
export const IMPORT_ISSUER = 'import';

/** What a created row gets for a field the file leaves out (an overwritten row keeps its value). */
export const API_KEY_DEFAULTS: Readonly<ApiKeyValues> = { weight: 1, rate_multiplier: 1, status: 'active', auto_ban: true };
export const MASTER_CREATE_DEFAULTS: Readonly<Omit<MasterValues, 'name' | 'namespaces' | 'default_namespace'>> = {
  group: MASTER_DEFAULTS.group,
  max_child_keys: MASTER_DEFAULTS.max_child_keys,
  global_qps: MASTER_DEFAULTS.global_qps,
  status: MASTER_DEFAULTS.status,
  quota_limit: MASTER_DEFAULTS.quota_limit,
  quota_used: 0,
  budgets: {},
};
export const KEY_DEFAULTS: Readonly<KeyValues> = {
  name: '',
  status: 'active',
  scopes: DEFAULT_IMPORTED_SCOPES,
  namespaces: [],
  default_namespace: null,
  group: null,
  model_limits_enabled: false,
  model_limits: [],
  allow_ips: [],
  expires_at: null,
  quota_limit: -1,
  quota_used: 0,
  rpm_limit: 0,
  tpm_limit: 0,
  budgets: {},
};
export const BINDING_DEFAULT_STATUS = 'active';

/** The fields of `T` that are set. */
export type Present<T> = { [K in keyof T]?: Exclude<T[K], undefined> };

/** `given` without its absent (undefined) fields: what an overwrite writes. */
function present<T extends object>(given: T): Present<T> {
  return Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as Present<T>;
}

// ---------------------------------------------------------------------------------------------
// Parsing: JSON + schema, problems named by JSON path
// ---------------------------------------------------------------------------------------------

export type ParseResult = { ok: true; file: ImportFile } | { ok: false; problems: string[] };

/** `['data', 'keys', 3, 'quota_limit']` → `data.keys[3].quota_limit`. */
export function formatIssuePath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out || '(file)';
}

export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((i) => `${formatIssuePath(i.path)}: ${i.message}`);
}

/** Parses the text of an import file; each problem is `<json path>: <message>`. */
export function parseImportFile(text: string): ParseResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, problems: [`(file): not valid JSON: ${(err as Error).message}`] };
  }
  const parsed = importFileSchema.safeParse(json);
  return parsed.success ? { ok: true, file: parsed.data } : { ok: false, problems: formatIssues(parsed.error.issues) };
}

// ---------------------------------------------------------------------------------------------
// The plan
// ---------------------------------------------------------------------------------------------

function emptyCounts(): ImportCounts {
  return Object.fromEntries(ENTITY_KINDS.map((k) => [k, { created: 0, skipped: 0, overwritten: 0 }])) as ImportCounts;
}

function uniq(values: readonly string[]): string[] {
  return [...new Set(values)];
}

const PROVIDER_TYPE_SET: ReadonlySet<string> = new Set(PROVIDER_TYPES);

/** The digest a key entry is identified by: its original token's, else the `key_digest` extension. */
export function keyIdentity(key: ImportKey, describeToken: (plaintext: string) => TokenIdentity): TokenIdentity | undefined {
  const token = key.original_token?.trim();
  if (token) return describeToken(token);
  if (key.key_digest) return { digest: key.key_digest, prefix: key.key_prefix ?? '', last4: key.key_last4 ?? '' };
  return undefined;
}

/** Counts one entity under an action. */
function tally(counts: ImportCounts, kind: EntityKind, action: PlanAction): void {
  const c = counts[kind];
  if (action === 'create') c.created += 1;
  else if (action === 'overwrite') c.overwritten += 1;
  else c.skipped += 1;
}

interface Member {
  index: number;
  provider: ImportProvider;
}

/** A provider entry that passed validation, with its normalised endpoint. */
interface ValidMember extends Member {
  type: ProviderType;
  base_url: string | null;
  google_project: string | null;
  google_location: string | null;
}

function providerRef(m: Member): string {
  return `data.providers[${m.index}] "${m.provider.name}"`;
}

/** Validates one provider entry; returns a warning instead when it cannot be imported. */
function validateMember(m: Member): ValidMember | { warning: string } {
  const p = m.provider;
  if (!PROVIDER_TYPE_SET.has(p.type)) {
    return { warning: `${providerRef(m)}: unsupported provider type "${p.type}" (supported: ${PROVIDER_TYPES.join(', ')}); skipped` };
  }
  const type = p.type as ProviderType;
  let baseUrl: string | null = null;
  if (p.base_url) {
    const checked = checkBaseUrl(p.base_url);
    if (!checked.ok) return { warning: `${providerRef(m)}: ${checked.reason}; skipped` };
    baseUrl = checked.url;
  }
  const given = new Set<'google_project' | 'google_location'>();
  if (p.google_project) given.add('google_project');
  if (p.google_location) given.add('google_location');
  const { shape, errors } = resolveGroupShape(
    { type, base_url: baseUrl, google_project: p.google_project || null, google_location: p.google_location || null },
    given,
  );
  if (errors.length > 0) return { warning: `${providerRef(m)}: ${errors.map((e) => e.message).join('; ')}; skipped` };
  return { ...m, ...shape, type };
}

function planProviders(input: PlanInput, warnings: string[], counts: ImportCounts): GroupPlan[] {
  const { file, existing, options } = input;
  // Bundles: one per group name, in file order. Multi-key entries share their original_name.
  const bundles = new Map<string, { multi: boolean; members: Member[] }>();
  file.data.providers.forEach((provider, index) => {
    const multi = provider.is_multi_key === true;
    const name = multi ? provider.original_name?.trim() || provider.name : provider.name;
    const bundle = bundles.get(name);
    if (!bundle) {
      bundles.set(name, { multi, members: [{ index, provider }] });
    } else if (bundle.multi && multi) {
      bundle.members.push({ index, provider });
    } else {
      warnings.push(`${providerRef({ index, provider })}: another provider entry already uses the group name "${name}"; skipped`);
      counts.api_keys.skipped += 1;
      if (!multi) counts.provider_groups.skipped += 1;
    }
  });

  const existingGroups = new Map(existing.groups.map((g) => [g.name, g]));
  const plannedNames = new Set<string>();
  const plans: GroupPlan[] = [];
  for (const [name, bundle] of bundles) {
    const members = [...bundle.members].sort((a, b) => (a.provider.multi_key_index ?? Infinity) - (b.provider.multi_key_index ?? Infinity) || a.index - b.index);
    const valid: ValidMember[] = [];
    for (const member of members) {
      const checked = validateMember(member);
      if ('warning' in checked) {
        warnings.push(checked.warning);
        counts.api_keys.skipped += 1;
        continue;
      }
      const first = valid[0];
      if (first && (first.type !== checked.type || first.base_url !== checked.base_url)) {
        warnings.push(`${providerRef(member)}: type or base_url differs from the other keys of multi-key group "${name}"; skipped`);
        counts.api_keys.skipped += 1;
        continue;
      }
      valid.push(checked);
    }
    const head = valid[0];
    if (!head) {
      counts.provider_groups.skipped += 1;
      continue;
    }
    // primary_group left out: an existing group keeps its routing group.
    const routeGroup =
      head.provider.primary_group !== undefined ? head.provider.primary_group || DEFAULT_ROUTE_GROUP : (existingGroups.get(name)?.route_group ?? DEFAULT_ROUTE_GROUP);
    const extraRouteGroups = uniq(valid.flatMap((m) => m.provider.all_groups ?? []).map((g) => g || DEFAULT_ROUTE_GROUP)).filter((g) => g !== routeGroup);
    const givenModels = valid.some((m) => m.provider.models !== undefined) ? uniq(valid.flatMap((m) => m.provider.models ?? [])) : undefined;
    // An entry without status counts as active (the default), as long as some entry gives one.
    const givenStatus = valid.some((m) => m.provider.status !== undefined)
      ? valid.some((m) => (m.provider.status ?? API_KEY_DEFAULTS.status) === 'active')
        ? ('active' as const)
        : ('disabled' as const)
      : undefined;
    const endpoint = {
      base_url: head.base_url,
      google_project: head.google_project,
      google_location: head.google_location,
    };
    // On overwrite, endpoint fields the head entry leaves out keep their stored values.
    const givenEndpoint = present({
      base_url: head.provider.base_url !== undefined ? endpoint.base_url : undefined,
      google_project: head.provider.google_project !== undefined ? endpoint.google_project : undefined,
      google_location: head.provider.google_location !== undefined ? endpoint.google_location : undefined,
    });
    const secretless = new Set<ValidMember>();
    const targets = [{ name, route_group: routeGroup }, ...extraRouteGroups.map((g) => ({ name: `${name}@${g}`, route_group: g }))];
    for (const target of targets) {
      if (plannedNames.has(target.name)) {
        warnings.push(`${providerRef(head)}: group name "${target.name}" is used twice in the file; skipped`);
        counts.provider_groups.skipped += 1;
        counts.api_keys.skipped += valid.length;
        continue;
      }
      plannedNames.add(target.name);
      const found = existingGroups.get(target.name);
      const action: PlanAction = found ? (options.conflict === 'overwrite' ? 'overwrite' : 'skip') : 'create';
      const values: GroupValues = {
        name: target.name,
        type: head.type,
        route_group: target.route_group,
        ...endpoint,
        models: givenModels ?? (found ? [...found.models] : []),
        status: givenStatus ?? 'active',
      };
      const changes: Partial<GroupValues> = {
        name: target.name,
        type: head.type,
        ...(target.name === name && head.provider.primary_group === undefined ? {} : { route_group: target.route_group }),
        ...givenEndpoint,
        ...(givenModels !== undefined ? { models: givenModels } : {}),
        ...(givenStatus !== undefined ? { status: givenStatus } : {}),
      };
      const unmatched = new Map((found?.apiKeys ?? []).map((k) => [k.id, k.name]));
      const apiKeys = valid.map((m): ApiKeyPlan => {
        const p = m.provider;
        const given = present({
          weight: p.weight,
          rate_multiplier: p.rate_multiplier,
          status: p.status,
          auto_ban: p.auto_ban,
          access_token_expires_at: p.access_token_expires_at === undefined ? undefined : p.access_token_expires_at === null ? null : new Date(p.access_token_expires_at),
          account_id: p.account_id,
        });
        const base = { name: p.name, secret: p.api_key?.trim() || null };
        const match = action === 'overwrite' ? [...unmatched].find(([, keyName]) => keyName === p.name) : undefined;
        if (match) {
          unmatched.delete(match[0]);
          tally(counts, 'api_keys', 'overwrite');
          return { ...base, action: 'overwrite', existingId: match[0], values: given };
        }
        const keyAction = action === 'skip' ? ('skip' as const) : ('create' as const);
        tally(counts, 'api_keys', keyAction);
        return { ...base, action: keyAction, values: { ...API_KEY_DEFAULTS, ...given } };
      });
      tally(counts, 'provider_groups', action);
      apiKeys.forEach((k, i) => {
        if (k.action === 'create' && k.secret === null) secretless.add(valid[i]!);
      });
      plans.push({ action, ...(found ? { existingId: found.id } : {}), values, changes, apiKeys });
    }
    for (const m of secretless) {
      warnings.push(
        `${providerRef(m)}: no api_key in the file; its upstream key is imported without a secret — set one with PATCH /admin/api-keys/:id before it can serve`,
      );
    }
  }
  return plans;
}

/**
 * The master after the import (`values`) and what an overwrite writes (`changes`). Namespaces left
 * out (or empty) are the stored ones, else `[default]`; a default_namespace left out is the stored
 * one while it is still among them, else `default` when listed, else the first.
 */
function masterValues(m: ImportMaster, current: MasterValues | undefined, ref: string, warnings: string[]): { values: MasterValues; changes: Partial<MasterValues> } {
  const namespaces = uniq(m.namespaces && m.namespaces.length > 0 ? m.namespaces : (current?.namespaces ?? [DEFAULT_NAMESPACE]));
  const defaultNamespace =
    m.default_namespace ||
    (current && namespaces.includes(current.default_namespace) ? current.default_namespace : namespaces.includes(DEFAULT_NAMESPACE) ? DEFAULT_NAMESPACE : namespaces[0]!);
  if (!namespaces.includes(defaultNamespace)) {
    warnings.push(`${ref}: default_namespace "${defaultNamespace}" is not among its namespaces; added to them`);
    namespaces.push(defaultNamespace);
  }
  const given = present({
    group: m.group === undefined ? undefined : m.group || DEFAULT_ROUTE_GROUP,
    max_child_keys: m.max_child_keys,
    global_qps: m.global_qps,
    status: m.status,
    quota_limit: m.quota_limit,
    quota_used: m.quota_used,
    budgets: m.budgets,
  });
  const access = { namespaces, default_namespace: defaultNamespace };
  const accessChanged = !current || current.default_namespace !== defaultNamespace || current.namespaces.join('\u0000') !== namespaces.join('\u0000');
  return {
    values: { ...MASTER_CREATE_DEFAULTS, ...current, ...given, name: m.name, ...access },
    changes: { ...given, ...(accessChanged ? access : {}) },
  };
}

function planMasters(input: PlanInput, warnings: string[], counts: ImportCounts): MasterPlan[] {
  const existing = new Map(input.existing.masters.map((m) => [m.name, m]));
  const seen = new Set<string>();
  const plans: MasterPlan[] = [];
  input.file.data.masters.forEach((m, index) => {
    const ref = `data.masters[${index}] "${m.name}"`;
    if (seen.has(m.name)) {
      warnings.push(`${ref}: a master with this name appears earlier in the file; skipped`);
      counts.masters.skipped += 1;
      return;
    }
    seen.add(m.name);
    const found = existing.get(m.name);
    const action: PlanAction = found ? (input.options.conflict === 'overwrite' ? 'overwrite' : 'skip') : 'create';
    tally(counts, 'masters', action);
    let current: MasterValues | undefined;
    if (found) {
      const { id: _id, ...stored } = found;
      current = stored;
    }
    const { values, changes } = masterValues(m, current, ref, warnings);
    plans.push({ action, ...(found ? { existingId: found.id } : {}), values, changes });
  });
  return plans;
}

/**
 * The fields of a key entry the file gives, checked against its master (after the import). Left
 * out of the result when absent: a create fills them from KEY_DEFAULTS, an overwrite keeps them
 * (namespaces kept that the master no longer has are narrowed afterwards, import.service.ts).
 */
function keyValues(key: ImportKey, master: MasterValues, ref: string, warnings: string[]): Present<KeyValues> | undefined {
  const badIps = (key.allow_ips ?? []).flatMap((ip) => {
    const problem = cidrProblem(ip);
    return problem ? [`"${ip}" ${problem}`] : [];
  });
  if (badIps.length > 0) {
    // Dropping an entry would widen who may use the key: refuse the key instead.
    warnings.push(`${ref}: allow_ips ${badIps.join('; ')}; key skipped`);
    return undefined;
  }
  let namespaces = key.namespaces === undefined ? undefined : uniq(key.namespaces);
  const outside = (namespaces ?? []).filter((ns) => !master.namespaces.includes(ns));
  if (namespaces && outside.length > 0) {
    namespaces = namespaces.filter((ns) => master.namespaces.includes(ns));
    // None left: the master's default namespace, as an overwrite narrowing a master does — never
    // the empty list, which would widen the key to all the master's namespaces.
    const fallback = namespaces.length === 0 ? `; the key keeps only the master's default namespace "${master.default_namespace}"` : '';
    if (namespaces.length === 0) namespaces = [master.default_namespace];
    warnings.push(`${ref}: namespaces ${outside.join(', ')} are not among master "${master.name}"'s; dropped from the key${fallback}`);
  }
  const effective = namespaces && namespaces.length > 0 ? namespaces : master.namespaces;
  let defaultNamespace = key.default_namespace === undefined ? undefined : key.default_namespace || null;
  if (defaultNamespace && !effective.includes(defaultNamespace)) {
    warnings.push(`${ref}: default_namespace "${defaultNamespace}" is not among the key's namespaces; the master's default applies`);
    defaultNamespace = null;
  }
  let group = key.group === undefined ? undefined : key.group || null;
  if (group && group !== master.group) {
    warnings.push(`${ref}: group "${group}" differs from master "${master.name}"'s group "${master.group}"; the key follows the master's`);
    group = null;
  }
  return present({
    name: key.name,
    status: key.status,
    scopes: key.scopes && uniq(key.scopes),
    namespaces,
    default_namespace: defaultNamespace,
    group,
    model_limits_enabled: key.model_limits_enabled,
    model_limits: key.model_limits && uniq(key.model_limits),
    allow_ips: key.allow_ips && uniq(key.allow_ips),
    expires_at: key.expires_at === undefined ? undefined : key.expires_at ? new Date(key.expires_at) : null,
    quota_limit: key.unlimited_quota === true ? -1 : key.quota_limit,
    quota_used: key.quota_used,
    rpm_limit: key.rpm_limit,
    tpm_limit: key.tpm_limit,
    budgets: key.budgets,
  });
}

function planKeys(input: PlanInput, masters: readonly MasterPlan[], warnings: string[], counts: ImportCounts): KeyPlan[] {
  const byName = new Map(masters.map((m) => [m.values.name, m]));
  const existing = new Map(input.existing.keys.map((k) => [k.digest, k]));
  const seen = new Set<string>();
  const slots = new Map<string, number>();
  const plans: KeyPlan[] = [];
  input.file.data.keys.forEach((key, index) => {
    const ref = `data.keys[${index}] (master "${key.master_ref}")`;
    const skip = (warning?: string) => {
      if (warning) warnings.push(`${ref}: ${warning}`);
      counts.keys.skipped += 1;
    };
    const identity = keyIdentity(key, input.describeToken);
    if (!identity) return skip('neither original_token nor key_digest is set; skipped');
    if (seen.has(identity.digest)) return skip('the same key appears earlier in the file; skipped');
    seen.add(identity.digest);
    const master = byName.get(key.master_ref);
    if (!master) return skip(`master "${key.master_ref}" is not imported from this file (missing or invalid); skipped`);
    const found = existing.get(identity.digest);
    // Already there and left untouched: counted, not planned (the plan lists keys to write).
    if (found && input.options.conflict === 'skip') return skip();
    if (master.action === 'skip') {
      return skip(`master "${master.values.name}" already exists and --conflict skip leaves it untouched, so its new keys are not imported (use --conflict overwrite); skipped`);
    }
    if (found && found.master_id !== master.existingId) {
      return skip(`this key already exists under another master (id ${found.master_id}); not moved; skipped`);
    }
    const given = keyValues(key, master.values, ref, warnings);
    if (!given) return skip();
    const base = { master: master.values.name, identity };
    const plan: KeyPlan = found ? { ...base, action: 'overwrite', existingId: found.id, values: given } : { ...base, action: 'create', values: { ...KEY_DEFAULTS, ...given } };
    tally(counts, 'keys', plan.action);
    // A kept status is not known here: counted as holding a slot (the check only warns).
    const status = plan.values.status ?? 'active';
    if (status === 'active' || status === 'disabled') slots.set(master.values.name, (slots.get(master.values.name) ?? 0) + 1);
    plans.push(plan);
  });
  for (const master of masters) {
    const used = slots.get(master.values.name) ?? 0;
    if (used > master.values.max_child_keys) {
      warnings.push(
        `master "${master.values.name}": ${used} active or disabled keys imported, above its max_child_keys ${master.values.max_child_keys}; ` +
          'they are kept, but no new key can be issued until some are removed or the limit is raised',
      );
    }
  }
  return plans;
}

function planBindings(input: PlanInput, groups: readonly GroupPlan[], warnings: string[], counts: ImportCounts): BindingPlan[] {
  const { file, existing, options } = input;
  if (!options.includeBindings) {
    if (file.data.bindings.length > 0) {
      warnings.push(`${file.data.bindings.length} binding(s) in the file were not imported (pass --include-bindings to import them)`);
      counts.bindings.skipped += file.data.bindings.length;
    }
    return [];
  }
  // The groups as they will be after the import: existing ones, replaced by planned creates/overwrites.
  const finalGroups = new Map<string, { route_group: string; models: readonly string[] }>(existing.groups.map((g) => [g.name, g]));
  for (const g of groups) if (g.action !== 'skip') finalGroups.set(g.values.name, g.values);
  const existingBindings = new Map(existing.bindings.map((b) => [`${b.namespace}\u0000${b.public_model}`, b]));
  const seen = new Set<string>();
  const plans: BindingPlan[] = [];
  file.data.bindings.forEach((b, index) => {
    const ref = `data.bindings[${index}] "${b.namespace}.${b.model}"`;
    const id = `${b.namespace}\u0000${b.model}`;
    if (seen.has(id)) {
      warnings.push(`${ref}: the same namespace and model appear earlier in the file; skipped`);
      counts.bindings.skipped += 1;
      return;
    }
    seen.add(id);
    const found = existingBindings.get(id);
    // route_group left out: an existing binding keeps its own.
    const routeGroup = b.route_group !== undefined ? b.route_group || DEFAULT_ROUTE_GROUP : (found?.route_group ?? DEFAULT_ROUTE_GROUP);
    const candidateGroups = [...finalGroups]
      .filter(([, g]) => (g.route_group || DEFAULT_ROUTE_GROUP) === routeGroup && g.models.includes(b.model))
      .map(([name]) => name)
      .sort();
    const action: PlanAction = found ? (options.conflict === 'overwrite' ? 'overwrite' : 'skip') : 'create';
    if (action !== 'skip' && candidateGroups.length === 0) {
      // An explicit binding without candidates would shadow the implicit route and fail every request.
      warnings.push(`${ref}: no provider group in route group "${routeGroup}" lists model "${b.model}"; not imported (the implicit binding still applies)`);
      counts.bindings.skipped += 1;
      return;
    }
    tally(counts, 'bindings', action);
    plans.push({
      action,
      ...(found ? { existingId: found.id } : {}),
      namespace: b.namespace,
      public_model: b.model,
      route_group: routeGroup,
      ...(b.status !== undefined ? { status: b.status } : action === 'overwrite' ? {} : { status: BINDING_DEFAULT_STATUS }),
      candidateGroups,
    });
  });
  return plans;
}

function planNamespaces(input: PlanInput, masters: readonly MasterPlan[], keys: readonly KeyPlan[], bindings: readonly BindingPlan[], counts: ImportCounts): NamespacePlan[] {
  const referenced = new Set<string>();
  for (const m of masters) if (m.action !== 'skip') for (const ns of [...m.values.namespaces, m.values.default_namespace]) referenced.add(ns);
  for (const k of keys) for (const ns of [...(k.values.namespaces ?? []), ...(k.values.default_namespace ? [k.values.default_namespace] : [])]) referenced.add(ns);
  for (const b of bindings) if (b.action !== 'skip') referenced.add(b.namespace);
  const existing = new Set(input.existing.namespaces);
  return [...referenced].sort().map((name) => {
    const action = existing.has(name) ? ('skip' as const) : ('create' as const);
    tally(counts, 'namespaces', action);
    return { action, name };
  });
}

/** Registry models by name; fields the file leaves out are not written (column default / stored value). */
function planModels(input: PlanInput, warnings: string[], counts: ImportCounts): ModelPlan[] {
  const existing = new Map(input.existing.models.map((m) => [m.name, m]));
  const seen = new Set<string>();
  const plans: ModelPlan[] = [];
  input.file.data.models.forEach((m: ImportModel, index) => {
    if (seen.has(m.name)) {
      warnings.push(`data.models[${index}] "${m.name}": a model with this name appears earlier in the file; skipped`);
      counts.models.skipped += 1;
      return;
    }
    seen.add(m.name);
    const found = existing.get(m.name);
    const action: PlanAction = found ? (input.options.conflict === 'overwrite' ? 'overwrite' : 'skip') : 'create';
    tally(counts, 'models', action);
    const values: ModelValues = present({
      kind: m.kind,
      context_window: m.context_window,
      max_output_tokens: m.max_output_tokens,
      supports_stream: m.supports_stream,
      supports_vision: m.supports_vision,
      supports_functions: m.supports_functions,
      supports_tool_choice: m.supports_tool_choice,
      supports_fim: m.supports_fim,
      price_input: m.price_input,
      price_output: m.price_output,
      price_cache_read: m.price_cache_read,
      price_cache_write: m.price_cache_write,
      price_per_request: m.price_per_request,
      price_source: m.price_source,
    });
    plans.push({ action, ...(found ? { existingId: found.id } : {}), name: m.name, values });
  });
  return plans;
}

/** Decides everything an import will do. Pure. */
export function planImport(input: PlanInput): ImportPlan {
  const warnings: string[] = [];
  const counts = emptyCounts();
  const groups = planProviders(input, warnings, counts);
  const masters = planMasters(input, warnings, counts);
  const keys = planKeys(input, masters, warnings, counts);
  const bindings = planBindings(input, groups, warnings, counts);
  const namespaces = planNamespaces(input, masters, keys, bindings, counts);
  const models = planModels(input, warnings, counts);
  return { namespaces, groups, masters, keys, bindings, models, warnings, counts };
}
