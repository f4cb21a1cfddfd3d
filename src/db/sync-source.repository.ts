import type { Knex } from 'knex';
import type { CandidateSource, GroupSource, KeySource, MasterSource, ModelSource } from '../domain/sync/projections.js';

/** Reads what the sync worker projects into Redis (DESIGN §5). Rows only; decisions live in domain/sync. */

const MASTER_COLUMNS = [
  'id', 'name', 'status', 'epoch', 'group', 'global_qps', 'namespaces', 'default_namespace', 'quota_limit', 'quota_used', 'budgets',
] as const;
const KEY_COLUMNS = [
  'id', 'master_id', 'key_digest', 'status', 'issued_at_epoch', 'expires_at', 'group', 'scopes', 'namespaces',
  'default_namespace', 'model_limits_enabled', 'model_limits', 'allow_ips', 'quota_limit', 'quota_used', 'rpm_limit', 'tpm_limit', 'budgets',
] as const;

export interface KeySourceRow extends KeySource {
  key_digest: string;
}

/** cidr[] arrives as a Postgres array literal string from node-postgres; make it a string array. */
function parsePgArray(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  if (typeof value !== 'string' || value === '{}' || value === '') return [];
  return value.replace(/^\{|\}$/g, '').split(',').map((s) => s.replace(/^"|"$/g, ''));
}

function toKeySource(row: Record<string, unknown>): KeySourceRow {
  return { ...(row as unknown as KeySourceRow), allow_ips: parsePgArray(row.allow_ips) };
}

export async function loadMasters(db: Knex | Knex.Transaction, ids?: number[]): Promise<MasterSource[]> {
  const query = db('masters').select(MASTER_COLUMNS).orderBy('id');
  if (ids) query.whereIn('id', ids);
  return query;
}

export async function loadKeys(db: Knex | Knex.Transaction, ids: number[]): Promise<KeySourceRow[]> {
  if (ids.length === 0) return [];
  const rows = await db('keys').select(KEY_COLUMNS).whereIn('id', ids);
  return rows.map(toKeySource);
}

/** Every child key, in id order, one page at a time (a snapshot with 100,000 keys stays bounded). */
export async function* loadAllKeys(db: Knex | Knex.Transaction, pageSize = 2_000): AsyncGenerator<KeySourceRow[]> {
  let after = 0;
  for (;;) {
    const rows = await db('keys').select(KEY_COLUMNS).where('id', '>', after).orderBy('id').limit(pageSize);
    if (rows.length === 0) return;
    yield rows.map(toKeySource);
    after = Number(rows[rows.length - 1]!.id);
  }
}

export interface ApiKeySourceRow {
  id: number;
  group_id: number;
  weight: number;
  rate_multiplier: string | number;
  status: string;
  auto_ban: boolean;
  ban_until: Date | null;
  secret_ciphertext: Buffer | null;
  secret_nonce: Buffer | null;
  key_version: number;
}

export interface BindingSourceRow {
  namespace: string;
  public_model: string;
  route_group: string;
  status: string;
  updated_at: Date;
  candidates: CandidateSource[];
}

export interface RoutingSource {
  groups: GroupSource[];
  apiKeys: ApiKeySourceRow[];
  bindings: BindingSourceRow[];
  models: ModelSource[];
}

export async function loadRouting(db: Knex | Knex.Transaction): Promise<RoutingSource> {
  // Sequential on purpose: inside a transaction all four share one connection.
  const groups = await db('provider_groups')
      .select(
        'id', 'name', 'type', 'route_group', 'base_url', 'google_project', 'google_location', 'models', 'status',
        'connect_timeout_ms', 'first_byte_timeout_ms', 'idle_timeout_ms', 'request_timeout_ms',
      )
      .orderBy('id');
  const apiKeys = await db('api_keys')
    .select('id', 'group_id', 'weight', 'rate_multiplier', 'status', 'auto_ban', 'ban_until', 'secret_ciphertext', 'secret_nonce', 'key_version')
    .orderBy('id');
  const bindings = await db('bindings').select('namespace', 'public_model', 'route_group', 'status', 'updated_at', 'candidates').orderBy('id');
  const models = await db('models')
      .select(
        'name', 'kind', 'context_window', 'max_output_tokens', 'supports_stream', 'supports_vision', 'supports_functions',
        'supports_tool_choice', 'supports_fim', 'price_input', 'price_output', 'price_cache_read', 'price_cache_write', 'price_per_request',
      )
      .orderBy('name');
  return { groups, apiKeys, bindings, models } as RoutingSource;
}

export async function loadFeatures(db: Knex | Knex.Transaction): Promise<Record<string, string>> {
  const row = (await db('settings').select('value').where('key', 'features').first()) as { value: Record<string, unknown> } | undefined;
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(row?.value ?? {})) out[name] = String(value);
  return out;
}
