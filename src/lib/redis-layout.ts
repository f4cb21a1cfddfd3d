/**
 * The Redis contract between the control plane (writer) and the gateway (reader), DESIGN §5.
 * One place for every key name and snapshot shape; both sides import from here.
 */

export const RedisKeys = {
  /** Integer, bumped by every applied change (the sync apply version). */
  configVersion: 'config:version',
  /** Hash: upstream api key id → ProviderSnapshot JSON. */
  providers: 'config:providers',
  /** Hash: `namespace.public_model` → BindingSnapshot JSON (explicit bindings, selectors resolved). */
  bindings: 'config:bindings',
  /**
   * Hash: `route_group/model` → BindingSnapshot JSON (namespace `*`): every active provider group of
   * that routing group whose model list names the model. Used when no explicit binding exists.
   */
  implicitBindings: 'config:implicit_bindings',
  /** Hash of feature flags (strings). */
  features: 'meta:features',
  /** Hash: `namespace.model` (explicit bindings) and bare model names → ModelCapabilities JSON. */
  models: 'meta:models',
  /** Hash: version, updated_at, checksum (sha256 over sorted `field\nvalue\n` of meta:models). */
  modelsMeta: 'meta:models_meta',
  /** Hash of one child key's auth record, by key digest. */
  token: (digest: string) => `auth:token:${digest}`,
  /** Hash of one master's auth record. */
  master: (id: number | string) => `auth:master:${id}`,
} as const;

/** Pub/Sub channel announcing applied changes: RefreshMessage JSON. */
export const CONFIG_REFRESH_CHANNEL = 'dp:config:refresh';

export interface RefreshMessage {
  /** What changed: `master`, `key`, `routing`, `features`, `snapshot`. */
  resource: string;
  version: number;
  /** For key changes: the digest whose cached auth record must be dropped. */
  active_key?: string;
  /** Master ids whose records changed (epoch bumps, suspensions). */
  master_ids?: number[];
  timestamp: string;
}

export interface ProviderSnapshot {
  id: number;
  /** `<group name>#<api key id>` */
  name: string;
  type: string;
  base_url: string;
  /** Decrypted upstream secret (Redis is the trusted edge, DESIGN §5). */
  api_key: string;
  google_project: string | null;
  google_location: string | null;
  group_id: number;
  /** Routing group (tier) this upstream serves; empty means `default`. */
  group: string;
  models: string[];
  weight: number;
  /** Actual cost = list cost × this (1 = list price). */
  rate_multiplier: number;
  status: string;
  auto_ban: boolean;
  ban_until: string | null;
  timeouts: {
    connect_ms: number | null;
    first_byte_ms: number | null;
    idle_ms: number | null;
    request_ms: number | null;
  };
}

export interface BindingCandidateSnapshot {
  group_id: number;
  route_group: string;
  weight: number;
  selector_type: 'exact' | 'regex' | 'normalize_exact';
  selector_value: string;
  status: 'active' | 'config_error' | 'no_provider';
  error?: 'config_error' | 'no_provider';
  /** provider (api key) id → upstream model name, resolved by the control plane. */
  upstreams: Record<string, string>;
}

export interface BindingSnapshot {
  namespace: string;
  public_model: string;
  status: string;
  updated_at: string;
  candidates: BindingCandidateSnapshot[];
}

export interface ModelCapabilities {
  name: string;
  kind: 'chat' | 'embedding' | 'rerank' | 'other';
  context_window: number | null;
  max_output_tokens: number | null;
  /** Input price per token (per-1M price / 1e6), kept for the original contract. */
  cost_per_token: number;
  supports_stream: boolean;
  supports_vision: boolean;
  supports_functions: boolean;
  supports_tool_choice: boolean;
  supports_fim: boolean;
  prices: {
    input_per_1m: number;
    output_per_1m: number;
    cache_read_per_1m: number;
    cache_write_per_1m: number;
    per_request: number;
  };
}

/** Fields of `auth:token:<digest>` (all strings in Redis; lists as JSON). */
export interface TokenRecord {
  id: string;
  master_id: string;
  status: string;
  issued_at_epoch: string;
  /** ISO time or '' for never. */
  expires_at: string;
  group: string;
  scopes: string;
  namespaces: string;
  default_namespace: string;
  model_limits_enabled: '0' | '1';
  model_limits: string;
  allow_ips: string;
  /** Lifetime quota in µ$ of actual cost; '-1' = unlimited. */
  quota_limit: string;
  /** µ$ spent as PostgreSQL knows it: the floor the gateway's live counter is seeded with. */
  quota_used: string;
  rpm_limit: string;
  tpm_limit: string;
  /** Budgets JSON (src/lib/budgets.ts); '{}' = none. */
  budgets: string;
}

/** Fields of `auth:master:<id>`. */
export interface MasterRecord {
  id: string;
  name: string;
  status: string;
  epoch: string;
  group: string;
  global_qps: string;
  namespaces: string;
  default_namespace: string;
  /** Lifetime quota in µ$ of actual cost; '-1' = unlimited. */
  quota_limit: string;
  /** µ$ spent as PostgreSQL knows it (seed floor of the live counter). */
  quota_used: string;
  /** Budgets JSON (src/lib/budgets.ts); '{}' = none. */
  budgets: string;
}
