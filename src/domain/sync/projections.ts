import { createHash } from 'node:crypto';
import safeRegex from 'safe-regex2';
import type {
  BindingCandidateSnapshot,
  BindingSnapshot,
  MasterRecord,
  ModelCapabilities,
  ProviderSnapshot,
  TokenRecord,
} from '../../lib/redis-layout.js';

/**
 * Pure projections from PostgreSQL rows to the Redis snapshot of DESIGN §5. The control plane
 * does all resolution here (selectors, implicit bindings), so the gateway does O(1) lookups.
 */

export interface MasterSource {
  id: number;
  name: string;
  status: string;
  epoch: number;
  group: string;
  global_qps: number;
  namespaces: string[];
  default_namespace: string;
  quota_limit: number;
  quota_used: number;
  budgets: Record<string, unknown>;
}

export function masterRecord(m: MasterSource): MasterRecord {
  return {
    id: String(m.id),
    name: m.name,
    status: m.status,
    epoch: String(m.epoch),
    group: m.group || 'default',
    global_qps: String(m.global_qps),
    namespaces: JSON.stringify(m.namespaces),
    default_namespace: m.default_namespace,
    quota_limit: String(m.quota_limit),
    quota_used: String(m.quota_used),
    budgets: JSON.stringify(m.budgets ?? {}),
  };
}

export interface KeySource {
  id: number;
  master_id: number;
  status: string;
  issued_at_epoch: number;
  expires_at: Date | null;
  group: string | null;
  scopes: string[];
  namespaces: string[];
  default_namespace: string | null;
  model_limits_enabled: boolean;
  model_limits: string[];
  allow_ips: string[];
  quota_limit: number;
  quota_used: number;
  rpm_limit: number;
  tpm_limit: number;
  budgets: Record<string, unknown>;
}

export function tokenRecord(k: KeySource): TokenRecord {
  return {
    id: String(k.id),
    master_id: String(k.master_id),
    status: k.status,
    issued_at_epoch: String(k.issued_at_epoch),
    expires_at: k.expires_at ? k.expires_at.toISOString() : '',
    group: k.group ?? '',
    scopes: JSON.stringify(k.scopes),
    namespaces: JSON.stringify(k.namespaces),
    default_namespace: k.default_namespace ?? '',
    model_limits_enabled: k.model_limits_enabled ? '1' : '0',
    model_limits: JSON.stringify(k.model_limits),
    allow_ips: JSON.stringify(k.allow_ips),
    quota_limit: String(k.quota_limit),
    quota_used: String(k.quota_used),
    rpm_limit: String(k.rpm_limit),
    tpm_limit: String(k.tpm_limit),
    budgets: JSON.stringify(k.budgets ?? {}),
  };
}

export interface GroupSource {
  id: number;
  name: string;
  type: string;
  route_group: string;
  base_url: string | null;
  google_project: string | null;
  google_location: string | null;
  models: string[];
  status: string;
  connect_timeout_ms: number | null;
  first_byte_timeout_ms: number | null;
  idle_timeout_ms: number | null;
  request_timeout_ms: number | null;
}

export interface ApiKeySource {
  id: number;
  group_id: number;
  weight: number;
  /** numeric from PostgreSQL arrives as a string. */
  rate_multiplier: number | string;
  status: string;
  auto_ban: boolean;
  ban_until: Date | null;
  /** Decrypted by the caller; null when the key has no secret yet (OAuth before first refresh). */
  secret: string | null;
}

/** Vertex types default their location to `global` (PROVIDERS.md). */
const VERTEX_TYPES = new Set(['vertex', 'vertex-express']);

export function providerSnapshot(key: ApiKeySource, group: GroupSource): ProviderSnapshot {
  return {
    id: key.id,
    name: `${group.name}#${key.id}`,
    type: group.type,
    base_url: group.base_url ?? '',
    api_key: key.secret ?? '',
    google_project: group.google_project,
    google_location: group.google_location ?? (VERTEX_TYPES.has(group.type) ? 'global' : null),
    group_id: group.id,
    group: group.route_group || 'default',
    models: group.models,
    weight: key.weight,
    rate_multiplier: Number(key.rate_multiplier ?? 1),
    // A key is only as available as its group.
    status: group.status === 'active' ? key.status : 'disabled',
    auto_ban: key.auto_ban,
    ban_until: key.ban_until ? key.ban_until.toISOString() : null,
    timeouts: {
      connect_ms: group.connect_timeout_ms,
      first_byte_ms: group.first_byte_timeout_ms,
      idle_ms: group.idle_timeout_ms,
      request_ms: group.request_timeout_ms,
    },
  };
}

export type SelectorType = 'exact' | 'regex' | 'normalize_exact';

export interface CandidateSource {
  group_id: number;
  route_group?: string;
  weight?: number;
  selector_type: SelectorType;
  selector_value: string;
}

/** `moonshot/kimi2 ` → `kimi2`: lower-case, trim, drop everything up to the last `/`. */
export function normalizeModelName(name: string): string {
  const trimmed = name.trim().toLowerCase();
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

/** Longest regex source accepted, and a guard against patterns that are not valid JS regexes. */
export const MAX_SELECTOR_LENGTH = 256;

/**
 * A selector regex, or undefined when it is too long, does not compile, or could backtrack
 * catastrophically (nested quantifiers such as `(a+)+`, checked by safe-regex2): selectors run in
 * the api and the sync worker, and one hostile pattern must not hang either.
 */
export function compileSelectorRegex(source: string): RegExp | undefined {
  if (source.length > MAX_SELECTOR_LENGTH) return undefined;
  try {
    const pattern = new RegExp(source);
    return safeRegex(pattern) ? pattern : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The upstream models a selector hits among a group's models (PROVIDERS.md): `exact` is trimmed
 * equality, `regex` a (whole-string) JS regex, `normalize_exact` equality after normalisation.
 * A usable selector hits exactly one model.
 */
export function selectorMatches(type: SelectorType, value: string, models: readonly string[]): string[] {
  switch (type) {
    case 'exact': {
      const wanted = value.trim();
      return models.filter((m) => m.trim() === wanted);
    }
    case 'normalize_exact': {
      const wanted = normalizeModelName(value);
      return models.filter((m) => normalizeModelName(m) === wanted);
    }
    case 'regex': {
      const pattern = compileSelectorRegex(value);
      if (!pattern) return [];
      return models.filter((m) => {
        const match = pattern.exec(m);
        return match !== null && match[0] === m;
      });
    }
  }
}

/**
 * Resolves one candidate against its group and the group's providers: `config_error` unless the
 * selector hits exactly one of the group's models; `no_provider` when the group is missing,
 * disabled, or has no active upstream key; else `active` with provider id → upstream model.
 */
export function resolveCandidate(
  candidate: CandidateSource,
  group: GroupSource | undefined,
  providers: readonly ProviderSnapshot[],
): BindingCandidateSnapshot {
  const base = {
    group_id: candidate.group_id,
    route_group: candidate.route_group || group?.route_group || 'default',
    weight: candidate.weight ?? 1,
    selector_type: candidate.selector_type,
    selector_value: candidate.selector_value,
  };
  const hits = group ? selectorMatches(candidate.selector_type, candidate.selector_value, group.models) : [];
  if (group && hits.length !== 1) return { ...base, status: 'config_error', error: 'config_error', upstreams: {} };
  const upstreamModel = hits[0];
  const usable = providers.filter((p) => p.group_id === candidate.group_id && p.status === 'active');
  if (!group || group.status !== 'active' || usable.length === 0 || upstreamModel === undefined) {
    return { ...base, status: 'no_provider', error: 'no_provider', upstreams: {} };
  }
  return { ...base, status: 'active', upstreams: Object.fromEntries(usable.map((p) => [String(p.id), upstreamModel])) };
}

export interface BindingSource {
  namespace: string;
  public_model: string;
  route_group: string;
  status: string;
  updated_at: Date;
  candidates: CandidateSource[];
}

export function bindingSnapshot(binding: BindingSource, groups: ReadonlyMap<number, GroupSource>, providers: readonly ProviderSnapshot[]): BindingSnapshot {
  return {
    namespace: binding.namespace,
    public_model: binding.public_model,
    status: binding.status,
    updated_at: binding.updated_at.toISOString(),
    candidates: binding.candidates.map((c) =>
      resolveCandidate({ ...c, route_group: c.route_group || binding.route_group }, groups.get(c.group_id), providers),
    ),
  };
}

/** Field of `config:bindings`: `namespace.public_model`. */
export const bindingField = (namespace: string, model: string) => `${namespace}.${model}`;
/** Field of `config:implicit_bindings`: `route_group/model` (route groups never contain `/`). */
export const implicitBindingField = (routeGroup: string, model: string) => `${routeGroup}/${model}`;

/**
 * Implicit bindings: for every active group, each model it lists is reachable in its routing
 * group as-is, through every active upstream key of the group.
 */
export function implicitBindings(groups: readonly GroupSource[], providers: readonly ProviderSnapshot[], now: Date): Map<string, BindingSnapshot> {
  const out = new Map<string, BindingSnapshot>();
  for (const group of groups) {
    if (group.status !== 'active') continue;
    const usable = providers.filter((p) => p.group_id === group.id && p.status === 'active');
    if (usable.length === 0) continue;
    const routeGroup = group.route_group || 'default';
    for (const model of new Set(group.models)) {
      const field = implicitBindingField(routeGroup, model);
      const binding = out.get(field) ?? { namespace: '*', public_model: model, status: 'active', updated_at: now.toISOString(), candidates: [] };
      binding.candidates.push({
        group_id: group.id,
        route_group: routeGroup,
        weight: 1,
        selector_type: 'exact',
        selector_value: model,
        status: 'active',
        upstreams: Object.fromEntries(usable.map((p) => [String(p.id), model])),
      });
      out.set(field, binding);
    }
  }
  return out;
}

export interface ModelSource {
  name: string;
  kind: ModelCapabilities['kind'];
  context_window: number | null;
  max_output_tokens: number | null;
  supports_stream: boolean;
  supports_vision: boolean;
  supports_functions: boolean;
  supports_tool_choice: boolean;
  supports_fim: boolean;
  price_input: number;
  price_output: number;
  price_cache_read: number;
  price_cache_write: number;
  price_per_request: number;
}

export function modelCapabilities(m: ModelSource): ModelCapabilities {
  return {
    name: m.name,
    kind: m.kind || 'chat',
    context_window: m.context_window,
    max_output_tokens: m.max_output_tokens,
    cost_per_token: Number(m.price_input) / 1_000_000,
    supports_stream: m.supports_stream,
    supports_vision: m.supports_vision,
    supports_functions: m.supports_functions,
    supports_tool_choice: m.supports_tool_choice,
    supports_fim: m.supports_fim,
    prices: {
      input_per_1m: Number(m.price_input),
      output_per_1m: Number(m.price_output),
      cache_read_per_1m: Number(m.price_cache_read),
      cache_write_per_1m: Number(m.price_cache_write),
      per_request: Number(m.price_per_request),
    },
  };
}

/** sha256 over the sorted `field\nvalue\n` pairs (the `meta:models_meta` checksum contract). */
export function hashChecksum(fields: Readonly<Record<string, string>>): string {
  const hash = createHash('sha256');
  for (const field of Object.keys(fields).sort()) hash.update(`${field}\n${fields[field]}\n`);
  return hash.digest('hex');
}

/** Feature flags every deployment has, with their defaults (DESIGN §5). */
export const DEFAULT_FEATURES: Readonly<Record<string, string>> = {
  dp_state_store_backend: 'memory',
  dp_claude_cross_upstream: 'false',
  dp_gemini_cross_upstream: 'false',
  log_request_body_enabled: 'false',
};
