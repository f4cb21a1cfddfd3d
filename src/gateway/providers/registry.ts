import { PROVIDER_TYPES } from '../../domain/provider-presets.js';
import type { ProviderAdapter } from './adapter.js';
import { anthropicAdapter } from './anthropic/adapter.js';
import { codexAdapter } from './codex/adapter.js';
import { geminiAdapter } from './gemini/adapter.js';
import { codeAssistAdapter } from './gemini-cli/adapter.js';
import { openaiAdapter } from './openai/adapter.js';
import { vertexAdapter } from './vertex/adapter.js';

/**
 * The one registry of provider adapters: provider type → adapter. Built and checked at module load
 * — every type is claimed by exactly one adapter, every claimed type is a known type, and every
 * type of DESIGN §4 (`PROVIDER_TYPES`) has an adapter — so a gap is a start-up crash, not a 500 at
 * the first request.
 */

export { PROVIDER_TYPES };
export type { ProviderAdapter } from './adapter.js';

export const ADAPTERS: readonly ProviderAdapter[] = [openaiAdapter, anthropicAdapter, geminiAdapter, vertexAdapter, codexAdapter, codeAssistAdapter];

/** Indexes adapters by type; throws on a type claimed twice, an unknown type, or an uncovered one. */
export function buildAdapterIndex(adapters: readonly ProviderAdapter[], known: readonly string[] = PROVIDER_TYPES): ReadonlyMap<string, ProviderAdapter> {
  const knownSet = new Set(known);
  const index = new Map<string, ProviderAdapter>();
  for (const adapter of adapters) {
    for (const type of adapter.types) {
      const owner = index.get(type);
      if (owner) throw new Error(`provider type "${type}" is claimed by both the ${owner.family} and ${adapter.family} adapters`);
      if (!knownSet.has(type)) throw new Error(`the ${adapter.family} adapter claims unknown provider type "${type}"`);
      index.set(type, adapter);
    }
  }
  const missing = known.filter((type) => !index.has(type));
  if (missing.length > 0) throw new Error(`no provider adapter for type(s): ${missing.join(', ')}`);
  return index;
}

const BY_TYPE = buildAdapterIndex(ADAPTERS);

/** The adapter for a provider type (trimmed, case-insensitive, as the control plane normalizes), or undefined. */
export function adapterFor(type: string): ProviderAdapter | undefined {
  return BY_TYPE.get(type) ?? BY_TYPE.get(type.trim().toLowerCase());
}
