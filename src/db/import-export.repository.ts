import type { Knex } from 'knex';
import type { ApiKeyStatus } from './api-keys.repository.js';
import type { BindingStatus } from './bindings.repository.js';
import type { KeyRow } from './keys.repository.js';
import type { MasterRow } from './masters.repository.js';
import type { ModelRow } from './models.repository.js';
import type { ProviderGroupRow } from './provider-groups.repository.js';

/**
 * The queries `ez-api import` / `ez-api export` need that have no home in the per-resource
 * repositories: the existing state an import plan is made against, the import lock, setting a
 * key's quota_used (issuance never does), and whole-table reads for the export. Secrets are never
 * selected here.
 */

const IMPORT_LOCK_KEY = 'ez-api:import';
const CHUNK = 1_000;

/** Serialises imports (transaction-scoped advisory lock): two concurrent imports cannot both create the same names. */
export async function lockImports(trx: Knex.Transaction): Promise<void> {
  await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [IMPORT_LOCK_KEY]);
}

export interface ImportLookup {
  masterNames: readonly string[];
  groupNames: readonly string[];
  digests: readonly string[];
  modelNames: readonly string[];
}

/** The master columns an import may write (an overwrite keeps those the file leaves out). */
const MASTER_IMPORT_COLUMNS = ['id', 'name', 'group', 'namespaces', 'default_namespace', 'max_child_keys', 'global_qps', 'status', 'quota_limit', 'quota_used', 'budgets'] as const;
export type ImportMasterRow = Pick<MasterRow, (typeof MASTER_IMPORT_COLUMNS)[number]>;

export interface ImportExistingRows {
  groups: Array<Pick<ProviderGroupRow, 'id' | 'name' | 'route_group' | 'models'> & { apiKeys: Array<{ id: number; name: string }> }>;
  masters: ImportMasterRow[];
  keys: Array<{ id: number; master_id: number; digest: string }>;
  namespaces: string[];
  bindings: Array<{ id: number; namespace: string; public_model: string; route_group: string; status: BindingStatus }>;
  models: Array<Pick<ModelRow, 'id' | 'name'>>;
}

async function chunked<T>(values: readonly string[], fn: (chunk: string[]) => Promise<T[]>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < values.length; i += CHUNK) out.push(...(await fn(values.slice(i, i + CHUNK))));
  return out;
}

/**
 * What an import plan needs to know. Every provider group is read (binding candidates may point at
 * groups the file does not name), with the api keys of the groups the file names; masters and keys
 * only as far as the file names them. Sequential: inside a transaction all queries share one connection.
 */
export async function loadImportState(trx: Knex.Transaction, lookup: ImportLookup): Promise<ImportExistingRows> {
  const groups = (await trx('provider_groups').select('id', 'name', 'route_group', 'models').orderBy('id')) as Array<
    Pick<ProviderGroupRow, 'id' | 'name' | 'route_group' | 'models'>
  >;
  const named = new Set(lookup.groupNames);
  const groupIds = groups.filter((g) => named.has(g.name)).map((g) => g.id);
  const apiKeys =
    groupIds.length === 0
      ? []
      : ((await trx('api_keys').select('id', 'group_id', 'name').whereIn('group_id', groupIds).orderBy('id')) as Array<{ id: number; group_id: number; name: string }>);
  const masters = await chunked(lookup.masterNames, async (names) => (await trx('masters').select(...MASTER_IMPORT_COLUMNS).whereIn('name', names)) as ImportMasterRow[]);
  const keys = await chunked(
    lookup.digests,
    async (digests) => (await trx('keys').select('id', 'master_id', 'key_digest as digest').whereIn('key_digest', digests)) as Array<{ id: number; master_id: number; digest: string }>,
  );
  const namespaces = ((await trx('namespaces').select('name')) as Array<{ name: string }>).map((r) => r.name);
  const bindings = (await trx('bindings').select('id', 'namespace', 'public_model', 'route_group', 'status')) as ImportExistingRows['bindings'];
  const models = await chunked(lookup.modelNames, async (names) => (await trx('models').select('id', 'name').whereIn('name', names)) as Array<Pick<ModelRow, 'id' | 'name'>>);
  return {
    groups: groups.map((g) => ({ ...g, apiKeys: apiKeys.filter((k) => k.group_id === g.id).map((k) => ({ id: k.id, name: k.name })) })),
    masters,
    keys,
    namespaces,
    bindings,
    models,
  };
}

/** Imported keys carry their usage so far (issuance always starts at 0). */
export async function setKeyQuotaUsed(trx: Knex.Transaction, id: number, quotaUsed: number): Promise<void> {
  await trx('keys').where('id', id).update({ quota_used: quotaUsed });
}

/** Imported masters carry their usage so far, as keys do. */
export async function setMasterQuotaUsed(trx: Knex.Transaction, id: number, quotaUsed: number): Promise<void> {
  await trx('masters').where('id', id).update({ quota_used: quotaUsed });
}

// ---------------------------------------------------------------------------------------------
// Export reads (no secrets, no ciphertexts)
// ---------------------------------------------------------------------------------------------

export type ExportGroupRow = Pick<ProviderGroupRow, 'id' | 'name' | 'type' | 'route_group' | 'base_url' | 'google_project' | 'google_location' | 'models' | 'status'>;

export interface ExportApiKeyRow {
  id: number;
  group_id: number;
  name: string;
  weight: number;
  rate_multiplier: number;
  status: ApiKeyStatus;
  auto_ban: boolean;
  access_token_expires_at: Date | null;
  account_id: string | null;
}

export type ExportMasterRow = Pick<
  MasterRow,
  'id' | 'name' | 'group' | 'namespaces' | 'default_namespace' | 'max_child_keys' | 'global_qps' | 'status' | 'quota_limit' | 'quota_used' | 'budgets'
>;

export type ExportKeyRow = Omit<KeyRow, 'issued_by' | 'issuer_id' | 'issued_at_epoch' | 'last_used_at' | 'created_at' | 'updated_at'> & { master_name: string };

export interface ExportBindingRow {
  namespace: string;
  public_model: string;
  route_group: string;
  status: BindingStatus;
}

export type ExportModelRow = Omit<ModelRow, 'id' | 'created_at' | 'updated_at'>;

export interface ExportRows {
  groups: ExportGroupRow[];
  apiKeys: ExportApiKeyRow[];
  masters: ExportMasterRow[];
  keys: ExportKeyRow[];
  bindings: ExportBindingRow[];
  models: ExportModelRow[];
}

/**
 * Everything the export writes, in a stable order (groups, masters and models by name, api keys and
 * child keys by id within their group / master, bindings by namespace and model), read in one
 * REPEATABLE READ snapshot so the document is consistent.
 */
export async function readExportRows(knex: Knex): Promise<ExportRows> {
  return knex.transaction(
    async (trx) => {
      const groups = (await trx('provider_groups')
        .select('id', 'name', 'type', 'route_group', 'base_url', 'google_project', 'google_location', 'models', 'status')
        .orderBy('name')) as ExportGroupRow[];
      // Never the secret or refresh-token ciphertexts.
      const apiKeys = (await trx('api_keys')
        .select('id', 'group_id', 'name', 'weight', 'rate_multiplier', 'status', 'auto_ban', 'access_token_expires_at', 'account_id')
        .orderBy('id')) as ExportApiKeyRow[];
      const masters = (await trx('masters')
        .select('id', 'name', 'group', 'namespaces', 'default_namespace', 'max_child_keys', 'global_qps', 'status', 'quota_limit', 'quota_used', 'budgets')
        .orderBy('name')) as ExportMasterRow[];
      const keys = (await trx('keys as k')
        .join('masters as m', 'm.id', 'k.master_id')
        .select(
          'k.id',
          'k.master_id',
          'm.name as master_name',
          'k.key_digest',
          'k.key_prefix',
          'k.key_last4',
          'k.name',
          'k.status',
          'k.scopes',
          'k.namespaces',
          'k.default_namespace',
          'k.group',
          'k.model_limits_enabled',
          'k.model_limits',
          // cidr[] would arrive as an array literal string; text[] arrives as an array.
          trx.raw('k.allow_ips::text[] as allow_ips'),
          'k.expires_at',
          'k.quota_limit',
          'k.quota_used',
          'k.rpm_limit',
          'k.tpm_limit',
          'k.budgets',
        )
        .orderBy([{ column: 'm.name' }, { column: 'k.id' }])) as ExportKeyRow[];
      const bindings = (await trx('bindings').select('namespace', 'public_model', 'route_group', 'status').orderBy(['namespace', 'public_model'])) as ExportBindingRow[];
      const models = (await trx('models')
        .select(
          'name',
          'kind',
          'context_window',
          'max_output_tokens',
          'supports_stream',
          'supports_vision',
          'supports_functions',
          'supports_tool_choice',
          'supports_fim',
          'price_input',
          'price_output',
          'price_cache_read',
          'price_cache_write',
          'price_per_request',
          'price_source',
        )
        .orderBy('name')) as ExportModelRow[];
      return { groups, apiKeys, masters, keys, bindings, models };
    },
    { isolationLevel: 'repeatable read', readOnly: true },
  );
}
