import type { BindingCandidateSnapshot, BindingSnapshot, ProviderSnapshot } from '../../lib/redis-layout.js';

/**
 * Routing, pure (DESIGN §6): find the binding for a model, then order the upstream attempts —
 * a weighted choice among the binding's active candidates, and within each a weighted order of
 * its healthy upstream keys. Failover walks this list; randomness is injected.
 */

export interface BindingLookup {
  bindings: ReadonlyMap<string, BindingSnapshot>;
  implicitBindings: ReadonlyMap<string, BindingSnapshot>;
}

/** The explicit binding `namespace.model` if active, else the implicit one of the routing group. */
export function findBinding(lookup: BindingLookup, namespace: string, model: string, routeGroup: string): BindingSnapshot | undefined {
  const explicit = lookup.bindings.get(`${namespace}.${model}`);
  if (explicit) return explicit.status === 'active' ? explicit : undefined;
  return lookup.implicitBindings.get(`${routeGroup}/${model}`);
}

export interface Attempt {
  provider: ProviderSnapshot;
  upstreamModel: string;
  candidate: BindingCandidateSnapshot;
}

/**
 * Weighted random order without replacement (Efraimidis–Spirakis): an item is first with
 * probability weight / total. Weight 0 means drained: the item is left out.
 */
export function weightedOrder<T>(items: readonly T[], weight: (item: T) => number, random: () => number): T[] {
  return items
    .filter((item) => weight(item) > 0)
    .map((item, index) => ({ item, index, key: Math.pow(random(), 1 / weight(item)) }))
    .sort((a, b) => b.key - a.key || a.index - b.index)
    .map((entry) => entry.item);
}

export interface PlanOptions {
  providers: ReadonlyMap<number, ProviderSnapshot>;
  /** Health gate (breaker, cooldown, ban): false skips the key unless nothing else is left. */
  isAvailable: (providerId: number) => boolean;
  random: () => number;
  nowMs: number;
  /** Bound on attempts (first try + failovers). */
  maxAttempts: number;
  /** Only providers whose route group matches (the master's/key's routing group). */
  routeGroup: string;
}

function usable(provider: ProviderSnapshot | undefined, nowMs: number): provider is ProviderSnapshot {
  if (!provider || provider.status !== 'active') return false;
  if (provider.ban_until && Date.parse(provider.ban_until) > nowMs) return false;
  return true;
}

/**
 * The ordered attempts for a binding. Keys the health gate rejects are moved to the end rather
 * than dropped, so a request still has somewhere to go when every key looks unhealthy.
 */
export function planAttempts(binding: BindingSnapshot, options: PlanOptions): Attempt[] {
  const candidates = binding.candidates.filter(
    (c) => c.status === 'active' && (binding.namespace === '*' || !c.route_group || c.route_group === options.routeGroup),
  );
  const healthy: Attempt[] = [];
  const unhealthy: Attempt[] = [];
  for (const candidate of weightedOrder(candidates, (c) => c.weight, options.random)) {
    const providers = Object.entries(candidate.upstreams)
      .map(([id, upstreamModel]) => ({ provider: options.providers.get(Number(id)), upstreamModel }))
      .filter((entry): entry is { provider: ProviderSnapshot; upstreamModel: string } => usable(entry.provider, options.nowMs));
    for (const { provider, upstreamModel } of weightedOrder(providers, (p) => p.provider.weight, options.random)) {
      (options.isAvailable(provider.id) ? healthy : unhealthy).push({ provider, upstreamModel, candidate });
    }
  }
  return [...healthy, ...unhealthy].slice(0, options.maxAttempts);
}
