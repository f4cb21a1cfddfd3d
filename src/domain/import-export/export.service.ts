import type { Knex } from 'knex';
import { readExportRows, type ExportApiKeyRow, type ExportModelRow, type ExportRows } from '../../db/import-export.repository.js';
import type { Budgets } from '../../lib/budgets.js';
import { EXPORT_FORMAT_VERSION, type ImportFile } from './format.js';

/**
 * `ez-api export`: the whole configuration as an exporter-format 1.1.0 document that
 * `ez-api import` reads back (docs/import-export.md), model registry included. What is NOT in it:
 * - upstream secrets: every provider has `api_key: ""` (and OAuth refresh tokens are left out);
 * - client keys in plaintext: child keys carry `original_token: null` plus the extension fields
 *   `key_digest`, `key_prefix`, `key_last4`, so an import under the same EZ_SECRET recreates the
 *   same working keys; master keys are not exported at all (an import issues new ones).
 * The document says so in its `warnings`. Exporting twice the same state gives the same document
 * except `source.exported_at`: order and `original_id`s do not depend on row ids.
 */

export const EXPORT_SOURCE_TYPE = 'ez-api';

export interface ExportProvider {
  /** `<group>:<n>`: the n-th upstream key (by id) of the group; stable across deployments. */
  original_id: string;
  name: string;
  type: string;
  base_url: string | null;
  /** Always empty: upstream secrets never leave the server through an export. */
  api_key: string;
  models: string[];
  primary_group: string;
  all_groups: string[];
  weight: number;
  status: 'active' | 'disabled';
  auto_ban: boolean;
  is_multi_key: boolean;
  multi_key_index?: number;
  original_name?: string;
  google_project: string | null;
  google_location: string | null;
  rate_multiplier: number;
  /** OAuth key state (not secrets; the refresh token is never exported). */
  access_token_expires_at: string | null;
  account_id: string | null;
}

export interface ExportMaster {
  name: string;
  group: string;
  namespaces: string[];
  default_namespace: string;
  max_child_keys: number;
  global_qps: number;
  status: 'active' | 'suspended';
  quota_limit: number;
  quota_used: number;
  budgets: Budgets;
}

export interface ExportKey {
  master_ref: string;
  original_token: null;
  key_digest: string;
  key_prefix: string;
  key_last4: string;
  name: string;
  group: string | null;
  status: 'active' | 'disabled' | 'expired' | 'exhausted';
  scopes: string[];
  namespaces: string[];
  default_namespace: string | null;
  model_limits_enabled: boolean;
  model_limits: string[];
  expires_at: string | null;
  allow_ips: string[];
  quota_limit: number;
  quota_used: number;
  rpm_limit: number;
  tpm_limit: number;
  budgets: Budgets;
}

export interface ExportBinding {
  namespace: string;
  route_group: string;
  model: string;
  status: 'active' | 'disabled';
}

/** A registry model: capabilities, prices per 1M tokens (and per request), where the prices came from. */
export type ExportModel = ExportModelRow;

export interface ExportDocument {
  version: ImportFile['version'];
  source: { type: string; version: string; exported_at: string };
  data: { providers: ExportProvider[]; masters: ExportMaster[]; keys: ExportKey[]; bindings: ExportBinding[]; models: ExportModel[] };
  warnings: string[];
}

export interface ExportMeta {
  /** The exporting build's version (`source.version`). */
  version: string;
  now: Date;
}

/** Builds the document from rows (pure). */
export function buildExportDocument(rows: ExportRows, meta: ExportMeta): ExportDocument {
  const warnings: string[] = [];
  const keysByGroup = new Map<number, ExportApiKeyRow[]>();
  for (const key of rows.apiKeys) keysByGroup.set(key.group_id, [...(keysByGroup.get(key.group_id) ?? []), key]);

  const providers: ExportProvider[] = [];
  for (const group of rows.groups) {
    const keys = keysByGroup.get(group.id) ?? [];
    if (keys.length === 0) {
      warnings.push(`provider group "${group.name}" has no upstream api keys; not exported`);
      continue;
    }
    const multi = keys.length > 1;
    keys.forEach((key, i) => {
      providers.push({
        original_id: `${group.name}:${i}`,
        name: multi ? key.name || `${group.name}#${i + 1}` : group.name,
        type: group.type,
        base_url: group.base_url,
        api_key: '',
        models: group.models,
        primary_group: group.route_group,
        all_groups: [group.route_group],
        weight: key.weight,
        // A key is only as available as its group; auto/manual-disabled read as disabled.
        status: group.status === 'active' && key.status === 'active' ? 'active' : 'disabled',
        auto_ban: key.auto_ban,
        is_multi_key: multi,
        ...(multi ? { multi_key_index: i, original_name: group.name } : {}),
        google_project: group.google_project,
        google_location: group.google_location,
        rate_multiplier: key.rate_multiplier,
        access_token_expires_at: key.access_token_expires_at ? key.access_token_expires_at.toISOString() : null,
        account_id: key.account_id,
      });
    });
  }

  const masters: ExportMaster[] = rows.masters.map((m) => ({
    name: m.name,
    group: m.group,
    namespaces: m.namespaces,
    default_namespace: m.default_namespace,
    max_child_keys: m.max_child_keys,
    global_qps: m.global_qps,
    status: m.status,
    quota_limit: m.quota_limit,
    quota_used: m.quota_used,
    budgets: m.budgets,
  }));

  const keys: ExportKey[] = rows.keys.map((k) => ({
    master_ref: k.master_name,
    original_token: null,
    key_digest: k.key_digest,
    key_prefix: k.key_prefix,
    key_last4: k.key_last4,
    name: k.name,
    group: k.group,
    status: k.status,
    scopes: k.scopes,
    namespaces: k.namespaces,
    default_namespace: k.default_namespace,
    model_limits_enabled: k.model_limits_enabled,
    model_limits: k.model_limits,
    expires_at: k.expires_at ? k.expires_at.toISOString() : null,
    allow_ips: k.allow_ips,
    quota_limit: k.quota_limit,
    quota_used: k.quota_used,
    rpm_limit: k.rpm_limit,
    tpm_limit: k.tpm_limit,
    budgets: k.budgets,
  }));

  const bindings: ExportBinding[] = rows.bindings.map((b) => ({ namespace: b.namespace, route_group: b.route_group, model: b.public_model, status: b.status }));

  const models: ExportModel[] = rows.models.map((m) => ({
    name: m.name,
    kind: m.kind,
    context_window: m.context_window,
    max_output_tokens: m.max_output_tokens,
    supports_stream: m.supports_stream,
    supports_vision: m.supports_vision,
    supports_functions: m.supports_functions,
    supports_tool_choice: m.supports_tool_choice,
    supports_fim: m.supports_fim,
    price_input: Number(m.price_input),
    price_output: Number(m.price_output),
    price_cache_read: Number(m.price_cache_read),
    price_cache_write: Number(m.price_cache_write),
    price_per_request: Number(m.price_per_request),
    price_source: m.price_source,
  }));

  if (providers.length > 0) {
    warnings.push('upstream secrets are not exported: every provider has an empty api_key (and OAuth refresh tokens are left out); set them after importing (PATCH /admin/api-keys/:id)');
  }
  if (keys.length > 0) {
    warnings.push(
      'child keys are exported as key_digest (original_token is null): they work again only in a deployment with the same EZ_SECRET; keep this file private',
    );
  }
  if (masters.length > 0) warnings.push('master keys are not exported: an import issues a new master key for each master');
  if (bindings.length > 0) {
    warnings.push('binding candidates are not exported: an import gives each binding one exact candidate per provider group of its route group that lists the model');
  }

  return {
    version: EXPORT_FORMAT_VERSION,
    source: { type: EXPORT_SOURCE_TYPE, version: meta.version, exported_at: meta.now.toISOString() },
    data: { providers, masters, keys, bindings, models },
    warnings,
  };
}

/** Reads the configuration in one consistent snapshot and builds the export document. */
export async function exportConfiguration(knex: Knex, meta: ExportMeta): Promise<ExportDocument> {
  return buildExportDocument(await readExportRows(knex), meta);
}
