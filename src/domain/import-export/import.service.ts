import { insertApiKey, nextApiKeyId, updateApiKey, type ApiKeyValues } from '../../db/api-keys.repository.js';
import { insertBinding, updateBinding, type BindingFields } from '../../db/bindings.repository.js';
import { loadImportState, lockImports, setKeyQuotaUsed, setMasterQuotaUsed } from '../../db/import-export.repository.js';
import { insertKey, keysOfMaster, unpinKeyGroups, updateKey, type KeyPatch } from '../../db/keys.repository.js';
import { insertMaster, updateMaster, type MasterRow } from '../../db/masters.repository.js';
import { insertModel, updateModel } from '../../db/models.repository.js';
import { DEFAULT_NAMESPACE_DESCRIPTION, ensureDefaultNamespace, findNamespaceByName, insertNamespace } from '../../db/namespaces.repository.js';
import { insertProviderGroup, updateProviderGroup } from '../../db/provider-groups.repository.js';
import type { KeyDigester } from '../../lib/key-digest.js';
import type { SecretBox } from '../../lib/secret-box.js';
import { propagateAccess } from '../access.service.js';
import { describeSecret, issueSecret } from '../client-keys.js';
import { withPriceSource } from '../models.service.js';
import { secretAad } from '../providers.service.js';
import type { CandidateSource } from '../sync/projections.js';
import { write, type WriteContext, type WriteDeps, type WriteUnit } from '../write-context.js';
import type { ImportFile } from './format.js';
import {
  BINDING_DEFAULT_STATUS,
  DEFAULT_NAMESPACE,
  DEFAULT_ROUTE_GROUP,
  IMPORT_ISSUER,
  keyIdentity,
  planImport,
  type ApiKeyPlan,
  type ApiKeyValues as PlannedApiKey,
  type ConflictPolicy,
  type ImportCounts,
  type ImportPlan,
  type PlanOptions,
  type TokenIdentity,
} from './plan.js';

/**
 * `ez-api import`: executes an import plan (plan.ts) in ONE PostgreSQL transaction through
 * `write()`, as the actor `{ type: 'system', id: 'import' }`. Every row written gets its audit
 * event (`<resource>.create|update`, metadata `source: 'import'`, never a secret), plus one
 * `import.run` event with the counts; outbox rows follow docs/control-plane.md: a `master` upsert
 * per master written, a `key` upsert (with digest) per child key written, and ONE `routing`
 * upsert when any provider group, upstream key, namespace or binding was written. A dry run runs
 * exactly the same code and rolls the transaction back, so it reports the same counts and
 * warnings as the real run (it only does not show master keys: none were kept).
 *
 * Mapping rules (docs/import-export.md):
 * - provider → provider group named `name`, holding one upstream api key named `name`. Multi-key
 *   providers (`is_multi_key`) are grouped by `original_name`: one group named `original_name`
 *   with one api key per entry (ordered by `multi_key_index`); group-level fields come from the
 *   first entry, models are the union, the group is active when any entry is; an entry whose type
 *   or base_url differs from the first is skipped with a warning.
 * - type is lower-cased and must be one of the 13 provider types; base_url is checked and
 *   normalised by src/domain/base-url.ts; the per-type rules of provider groups apply (base_url
 *   required for openai/compatible/anthropic/claude, project for vertex). Otherwise: warning, skip.
 * - route_group = primary_group, or `default`. Each further `all_groups` entry gets its own group
 *   `<name>@<group>` in that routing group, with the same models and the same upstream key(s).
 * - the api key is sealed with SecretBox under AAD `api_keys:<id>:secret`; weight, status and
 *   auto_ban are copied. A provider without api_key (our own exports) gets a key without a secret
 *   and a warning. rate_multiplier (default 1), access_token_expires_at and account_id (OAuth
 *   state, not secrets; absent = column default / stored value kept) are copied. On overwrite, api
 *   keys are matched by name within the group; a missing api_key keeps the stored secret; keys the
 *   file does not name are left alone.
 * - master → master with a fresh `ezm_` master key (printed once in the summary); quota_limit,
 *   quota_used and budgets copied (defaults -1, 0, {}). namespaces default to [default];
 *   default_namespace to `default` when listed, else the first namespace.
 *   On overwrite the master keeps its key and id; a group change un-pins its keys pinned elsewhere.
 * - key → child key with the digest of `original_token` (KeyDigester; the token itself is stored
 *   nowhere: prefix/last4 are kept only for tokens of 20+ characters, like our own keys), or the
 *   `key_digest` extension of our exports; neither → warning, skip. issued_by `admin`, issuer_id
 *   `import`; `unlimited_quota: true` → quota_limit -1; scopes default to chat:*, completions:*;
 *   status, expiry, allow_ips, model limits, quota_used, rpm/tpm, budgets copied. Namespaces outside the
 *   master's are dropped (warning); an invalid allow_ips entry skips the key (dropping it would
 *   widen access). A key is imported only under a master this file creates or overwrites: a missing
 *   master, or one left untouched by `--conflict skip`, skips it with a warning; an existing key
 *   of another master is never moved.
 * - binding (only with includeBindings) → binding (namespace, public_model = model, route_group)
 *   with one exact-selector candidate per provider group (imported or existing) of that routing
 *   group listing the model. None → warning, not created: an explicit binding without candidates
 *   would shadow the implicit route and fail every request.
 * - namespaces referenced by the masters, keys and bindings written are created when missing.
 * - model (format 1.1.0 `data.models`) → registry model by name, `price_source` as the file says
 *   (prices without one are an admin's); a `routing` upsert when any is written.
 * - Conflicts: groups, masters and models by name, keys by digest, bindings by (namespace, model);
 *   `skip` leaves existing rows untouched, `overwrite` updates them in place, keeping their ids,
 *   with only the fields the file gives (absent fields keep their stored values; defaults apply
 *   to created rows only). An overwrite that narrows a master narrows its keys
 *   (narrowKeysOfOverwrittenMasters).
 */

export const IMPORT_ACTOR: WriteContext = { actor: { type: 'system', id: 'import' } };

export interface ImportDeps extends WriteDeps {
  box: SecretBox;
  digester: KeyDigester;
}

export interface ImportOptions extends PlanOptions {
  /** Run everything, then roll back. */
  dryRun: boolean;
}

export interface CreatedMasterKey {
  id: number;
  name: string;
  /** The plaintext master key: shown in this summary once, stored only as a digest. */
  key: string;
}

export interface ImportSummary {
  dry_run: boolean;
  conflict: ConflictPolicy;
  include_bindings: boolean;
  source: { type: string; version: string | null; exported_at: string | null };
  counts: ImportCounts;
  /** Warnings the exporter wrote into the file. */
  file_warnings: string[];
  /** What this import skipped or adjusted, and why. */
  warnings: string[];
  /** Master keys of the masters created (empty on a dry run). */
  master_keys: CreatedMasterKey[];
}

/** Display parts are kept only for tokens long enough that they reveal a small part of it. */
const MIN_DISPLAYED_TOKEN_LENGTH = 20;

export function describeImportedToken(token: string, digester: KeyDigester): TokenIdentity {
  const described = describeSecret(token, digester);
  if (token.length >= MIN_DISPLAYED_TOKEN_LENGTH) return { digest: described.digest, prefix: described.prefix, last4: described.last4 };
  return { digest: described.digest, prefix: '', last4: '' };
}

/** Every group name the file may map to (for the existing-state lookup). */
function candidateGroupNames(file: ImportFile): string[] {
  return file.data.providers.flatMap((p) => {
    const base = p.is_multi_key ? p.original_name?.trim() || p.name : p.name;
    return [base, ...(p.all_groups ?? []).map((g) => `${base}@${g || DEFAULT_ROUTE_GROUP}`)];
  });
}

class DryRunRollback extends Error {
  constructor(readonly summary: ImportSummary) {
    super('dry run: rolled back');
  }
}

export async function runImport(deps: ImportDeps, file: ImportFile, options: ImportOptions): Promise<ImportSummary> {
  try {
    return await write(deps, IMPORT_ACTOR, async (unit) => {
      const summary = await importInTransaction(unit, deps, file, options);
      if (options.dryRun) throw new DryRunRollback({ ...summary, master_keys: [] });
      return summary;
    });
  } catch (err) {
    if (err instanceof DryRunRollback) return err.summary;
    throw err;
  }
}

async function importInTransaction(unit: WriteUnit, deps: ImportDeps, file: ImportFile, options: ImportOptions): Promise<ImportSummary> {
  await lockImports(unit.trx);
  const describeToken = (token: string) => describeImportedToken(token, deps.digester);
  const existing = await loadImportState(unit.trx, {
    masterNames: file.data.masters.map((m) => m.name),
    groupNames: candidateGroupNames(file),
    digests: file.data.keys.flatMap((k) => keyIdentity(k, describeToken)?.digest ?? []),
    modelNames: file.data.models.map((m) => m.name),
  });
  const plan = planImport({ file, existing, options, describeToken });

  let routing = false;
  routing = (await applyNamespaces(unit, plan, file.source.type)) || routing;
  const groupIds = new Map(existing.groups.map((g) => [g.name, g.id]));
  routing = (await applyGroups(unit, deps.box, plan, groupIds)) || routing;
  const { masters, masterKeys } = await applyMasters(unit, deps.digester, plan);
  const syncedKeys = await applyKeys(unit, plan, masters);
  const narrowWarnings = await narrowKeysOfOverwrittenMasters(unit, plan, masters, syncedKeys);
  routing = (await applyBindings(unit, plan, groupIds)) || routing;
  routing = (await applyModels(unit, plan)) || routing;
  if (routing) await unit.sync({ resource: 'routing', action: 'upsert' });

  const summary: ImportSummary = {
    dry_run: options.dryRun,
    conflict: options.conflict,
    include_bindings: options.includeBindings,
    source: { type: file.source.type, version: file.source.version ?? null, exported_at: file.source.exported_at ?? null },
    counts: plan.counts,
    file_warnings: file.warnings,
    warnings: [...plan.warnings, ...narrowWarnings],
    master_keys: masterKeys,
  };
  await unit.audit('import.run', { type: 'import', id: null }, {
    source: summary.source,
    conflict: options.conflict,
    include_bindings: options.includeBindings,
    counts: plan.counts,
    warnings: summary.warnings.length,
  });
  return summary;
}

async function applyNamespaces(unit: WriteUnit, plan: ImportPlan, sourceType: string): Promise<boolean> {
  let wrote = false;
  for (const ns of plan.namespaces) {
    if (ns.action !== 'create') continue;
    if (ns.name === DEFAULT_NAMESPACE) await ensureDefaultNamespace(unit.trx);
    else await insertNamespace(unit.trx, { name: ns.name, description: `Created by import (${sourceType})` });
    const row = await findNamespaceByName(unit.trx, ns.name);
    await unit.audit('namespace.create', { type: 'namespace', id: row?.id ?? null }, {
      name: ns.name,
      source: 'import',
      ...(ns.name === DEFAULT_NAMESPACE ? { description: DEFAULT_NAMESPACE_DESCRIPTION } : {}),
    });
    wrote = true;
  }
  return wrote;
}

function sealed(box: SecretBox, id: number, secret: string): Pick<ApiKeyValues, 'secret_ciphertext' | 'secret_nonce' | 'key_version'> {
  const s = box.seal(secret, secretAad(id));
  return { secret_ciphertext: s.ciphertext, secret_nonce: s.nonce, key_version: s.keyVersion };
}

async function applyApiKey(unit: WriteUnit, box: SecretBox, groupId: number, key: ApiKeyPlan): Promise<void> {
  if (key.action === 'skip') return;
  if (key.action === 'overwrite') {
    const id = key.existingId;
    // Only the fields the file gives: the others keep their stored values.
    const values: Partial<PlannedApiKey> = key.values;
    await updateApiKey(unit.trx, id, {
      name: key.name,
      ...values,
      // Re-enabling clears a ban, as an admin's `status: active` does.
      ...(values.status === 'active' ? { ban_until: null, ban_reason: null } : {}),
      ...(key.secret !== null ? sealed(box, id, key.secret) : {}),
    });
    await unit.audit('api_key.update', { type: 'api_key', id }, { group_id: groupId, name: key.name, source: 'import', secret_replaced: key.secret !== null });
    return;
  }
  const id = await nextApiKeyId(unit.trx);
  await insertApiKey(unit.trx, id, {
    group_id: groupId,
    name: key.name,
    secret_ciphertext: null,
    secret_nonce: null,
    key_version: 1,
    ban_reason: null,
    ban_until: null,
    refresh_token_ciphertext: null,
    refresh_token_nonce: null,
    ...key.values,
    ...(key.secret !== null ? sealed(box, id, key.secret) : {}),
  });
  await unit.audit('api_key.create', { type: 'api_key', id }, { group_id: groupId, name: key.name, source: 'import', has_secret: key.secret !== null });
}

/** Writes the groups and their api keys; fills `groupIds` (name → id) for the bindings. */
async function applyGroups(unit: WriteUnit, box: SecretBox, plan: ImportPlan, groupIds: Map<string, number>): Promise<boolean> {
  let wrote = false;
  for (const group of plan.groups) {
    if (group.action === 'skip') continue;
    let id: number;
    if (group.action === 'overwrite' && group.existingId !== undefined) {
      const row = await updateProviderGroup(unit.trx, group.existingId, group.changes);
      id = row.id;
      await unit.audit('provider_group.update', { type: 'provider_group', id }, { name: row.name, type: row.type, route_group: row.route_group, source: 'import' });
    } else {
      const row = await insertProviderGroup(unit.trx, {
        ...group.values,
        connect_timeout_ms: null,
        first_byte_timeout_ms: null,
        idle_timeout_ms: null,
        request_timeout_ms: null,
      });
      id = row.id;
      await unit.audit('provider_group.create', { type: 'provider_group', id }, { name: row.name, type: row.type, route_group: row.route_group, source: 'import' });
    }
    groupIds.set(group.values.name, id);
    for (const key of group.apiKeys) await applyApiKey(unit, box, id, key);
    wrote = true;
  }
  return wrote;
}

async function applyMasters(
  unit: WriteUnit,
  digester: KeyDigester,
  plan: ImportPlan,
): Promise<{ masters: Map<string, MasterRow>; masterKeys: CreatedMasterKey[] }> {
  const masters = new Map<string, MasterRow>();
  const masterKeys: CreatedMasterKey[] = [];
  for (const master of plan.masters) {
    if (master.action === 'skip') continue;
    let row: MasterRow;
    let quotaUsed: number | undefined;
    if (master.action === 'overwrite' && master.existingId !== undefined) {
      // Only the fields the file gives (and the namespaces when they change): the others keep their stored values.
      const { quota_used: givenQuotaUsed, ...changes } = master.changes;
      quotaUsed = givenQuotaUsed;
      row = (await updateMaster(unit.trx, master.existingId, changes))!;
      // As PATCH /admin/masters/:id does: keys pinned to another group follow the master again.
      const unpinned = await unpinKeyGroups(unit.trx, row.id, row.group);
      for (const key of unpinned) await unit.sync({ resource: 'key', id: key.id, digest: key.key_digest, action: 'upsert' });
      await unit.audit('master.update', { type: 'master', id: row.id }, { name: row.name, group: row.group, status: row.status, source: 'import' });
    } else {
      const { quota_used: createQuotaUsed, ...values } = master.values;
      quotaUsed = createQuotaUsed;
      const secret = issueSecret('master', digester);
      row = await insertMaster(unit.trx, { ...values, key_digest: secret.digest, key_prefix: secret.prefix, key_last4: secret.last4 });
      masterKeys.push({ id: row.id, name: row.name, key: secret.plaintext });
      await unit.audit('master.create', { type: 'master', id: row.id }, { name: row.name, group: row.group, status: row.status, source: 'import' });
    }
    if (quotaUsed !== undefined) await setMasterQuotaUsed(unit.trx, row.id, quotaUsed);
    await unit.sync({ resource: 'master', id: row.id, action: 'upsert' });
    masters.set(row.name, { ...row, quota_used: quotaUsed ?? row.quota_used });
  }
  return { masters, masterKeys };
}

/** Writes the planned keys; returns the ids given a `key` outbox row. */
async function applyKeys(unit: WriteUnit, plan: ImportPlan, masters: ReadonlyMap<string, MasterRow>): Promise<Set<number>> {
  const synced = new Set<number>();
  for (const key of plan.keys) {
    const master = masters.get(key.master);
    if (!master) throw new Error(`import plan names master "${key.master}" that was not written`);
    let id: number;
    let quotaUsed: number | undefined;
    if (key.action === 'overwrite') {
      // Only the fields the file gives: the others keep their stored values.
      const { quota_used: givenQuotaUsed, ...patch } = key.values;
      quotaUsed = givenQuotaUsed;
      const row = (await updateKey(unit.trx, key.existingId, patch satisfies KeyPatch))!;
      id = row.id;
      await unit.audit('key.update', { type: 'key', id }, { master_id: master.id, name: row.name, status: row.status, source: 'import' });
    } else {
      const { quota_used: createQuotaUsed, ...values } = key.values;
      quotaUsed = createQuotaUsed;
      const row = await insertKey(unit.trx, {
        master_id: master.id,
        key_digest: key.identity.digest,
        key_prefix: key.identity.prefix,
        key_last4: key.identity.last4,
        issued_by: 'admin',
        issuer_id: IMPORT_ISSUER,
        issued_at_epoch: master.epoch,
        ...values,
      });
      id = row.id;
      await unit.audit('key.create', { type: 'key', id }, { master_id: master.id, name: row.name, issued_by: 'admin', source: 'import' });
    }
    if (quotaUsed !== undefined) await setKeyQuotaUsed(unit.trx, id, quotaUsed);
    await unit.sync({ resource: 'key', id, digest: key.identity.digest, action: 'upsert' });
    synced.add(id);
  }
  return synced;
}

/**
 * An overwrite that narrows a master's namespaces narrows its existing keys in the same
 * transaction, by the rule `PUT /admin/masters/:id/access` applies with `propagate: true`
 * (propagateAccess). Where that API refuses (a key would keep no namespace), an import cannot ask
 * the admin first: such a key is narrowed to the master's default namespace — never widened to all
 * the master's namespaces — and the summary says so. Each changed key gets its audit event and a
 * `key` outbox row (unless applyKeys already gave it one), so the gateway's token record follows.
 */
async function narrowKeysOfOverwrittenMasters(
  unit: WriteUnit,
  plan: ImportPlan,
  masters: ReadonlyMap<string, MasterRow>,
  synced: Set<number>,
): Promise<string[]> {
  const warnings: string[] = [];
  for (const planned of plan.masters) {
    if (planned.action !== 'overwrite') continue;
    const master = masters.get(planned.values.name);
    if (!master) continue;
    const access = { namespaces: master.namespaces, default_namespace: master.default_namespace };
    const keys = await keysOfMaster(unit.trx, master.id);
    const { changes, emptied } = propagateAccess(keys, access);
    const fallback = keys
      .filter((k) => emptied.includes(k.id))
      .map((k) => ({ id: k.id, digest: k.key_digest, namespaces: [access.default_namespace], default_namespace: access.default_namespace }));
    for (const change of [...changes, ...fallback]) {
      await updateKey(unit.trx, change.id, { namespaces: change.namespaces, default_namespace: change.default_namespace });
      await unit.audit('key.access.update', { type: 'key', id: change.id }, {
        master_id: master.id,
        namespaces: change.namespaces,
        default_namespace: change.default_namespace,
        reason: 'master_narrowed',
        source: 'import',
      });
      if (!synced.has(change.id)) await unit.sync({ resource: 'key', id: change.id, digest: change.digest, action: 'upsert' });
      synced.add(change.id);
    }
    if (changes.length > 0) {
      warnings.push(`master "${master.name}": ${changes.length} of its keys narrowed to its namespaces (${master.namespaces.join(', ')}): key ids ${changes.map((c) => c.id).join(', ')}`);
    }
    if (fallback.length > 0) {
      warnings.push(
        `master "${master.name}": keys ${fallback.map((c) => c.id).join(', ')} kept none of their namespaces; narrowed to the master's default namespace "${access.default_namespace}"`,
      );
    }
  }
  return warnings;
}

async function applyBindings(unit: WriteUnit, plan: ImportPlan, groupIds: ReadonlyMap<string, number>): Promise<boolean> {
  let wrote = false;
  for (const binding of plan.bindings) {
    if (binding.action === 'skip') continue;
    const candidates: CandidateSource[] = binding.candidateGroups.flatMap((name) => {
      const groupId = groupIds.get(name);
      return groupId === undefined ? [] : [{ group_id: groupId, weight: 1, selector_type: 'exact' as const, selector_value: binding.public_model }];
    });
    const fields: Omit<BindingFields, 'status'> = {
      namespace: binding.namespace,
      public_model: binding.public_model,
      route_group: binding.route_group,
      candidates,
    };
    const row =
      binding.action === 'overwrite' && binding.existingId !== undefined
        ? await updateBinding(unit.trx, binding.existingId, { ...fields, ...(binding.status !== undefined ? { status: binding.status } : {}) })
        : await insertBinding(unit.trx, { ...fields, status: binding.status ?? BINDING_DEFAULT_STATUS });
    const action = binding.action === 'overwrite' ? 'binding.update' : 'binding.create';
    await unit.audit(action, { type: 'binding', id: row?.id ?? null }, { namespace: fields.namespace, public_model: fields.public_model, candidates: candidates.length, source: 'import' });
    wrote = true;
  }
  return wrote;
}

/**
 * Registry models by name (docs/import-export.md). The file's `price_source` is kept; prices
 * without one are an admin's, by the rule of `/admin/models` (withPriceSource). Fields the file
 * leaves out take the column defaults on create and keep their stored values on overwrite.
 */
async function applyModels(unit: WriteUnit, plan: ImportPlan): Promise<boolean> {
  let wrote = false;
  for (const model of plan.models) {
    if (model.action === 'skip') continue;
    const { price_source: priceSource, ...fields } = model.values;
    const values = { ...withPriceSource(fields), ...(priceSource !== undefined ? { price_source: priceSource } : {}) };
    if (model.action === 'overwrite' && model.existingId !== undefined) {
      await updateModel(unit.trx, model.existingId, values);
      await unit.audit('model.update', { type: 'model', id: model.existingId }, { name: model.name, fields: Object.keys(values).sort(), source: 'import' });
    } else {
      const row = await insertModel(unit.trx, { name: model.name, ...values });
      await unit.audit('model.create', { type: 'model', id: row.id }, { name: row.name, price_source: row.price_source, source: 'import' });
    }
    wrote = true;
  }
  return wrote;
}
