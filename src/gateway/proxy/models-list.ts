import type { IncomingMessage } from 'node:http';
import { effectiveNamespaces, modelAllowed } from '../auth/authorize.js';
import type { ProxyDeps } from './engine.js';
import { authenticate } from './engine.js';

/**
 * GET /v1/models and GET /v1beta/models: only what the key may use — explicit bindings of its
 * namespaces (named `ns.model` outside the default namespace) and the implicit models of its
 * routing group, filtered by its model limits.
 */
export interface ListedModel {
  id: string;
  ownedBy: string;
}

export async function listModels(deps: ProxyDeps, request: { req: IncomingMessage; url: URL }): Promise<ListedModel[]> {
  const { token, master } = await authenticate(deps, { ...request, requestId: '' });
  const snapshot = deps.replica.snapshot;
  const namespaces = new Set(effectiveNamespaces(token, master));
  const defaultNamespace = token.defaultNamespace || master.defaultNamespace || 'default';
  const routeGroup = token.group || master.group;
  const out = new Map<string, ListedModel>();
  for (const binding of snapshot.bindings.values()) {
    if (binding.status !== 'active' || !namespaces.has(binding.namespace)) continue;
    if (!binding.candidates.some((c) => c.status === 'active')) continue;
    if (!modelAllowed(token, binding.namespace, binding.public_model)) continue;
    const id = binding.namespace === defaultNamespace ? binding.public_model : `${binding.namespace}.${binding.public_model}`;
    out.set(id, { id, ownedBy: binding.namespace });
  }
  if (namespaces.has(defaultNamespace)) {
    for (const [field, binding] of snapshot.implicitBindings) {
      if (!field.startsWith(`${routeGroup}/`) || out.has(binding.public_model)) continue;
      if (!modelAllowed(token, defaultNamespace, binding.public_model)) continue;
      out.set(binding.public_model, { id: binding.public_model, ownedBy: routeGroup });
    }
  }
  return [...out.values()].sort((a, b) => a.id.localeCompare(b.id));
}

export function openaiModelList(models: readonly ListedModel[]) {
  return { object: 'list', data: models.map((m) => ({ id: m.id, object: 'model', created: 0, owned_by: m.ownedBy })) };
}

export function geminiModelList(models: readonly ListedModel[]) {
  return {
    models: models.map((m) => ({
      name: `models/${m.id}`,
      displayName: m.id,
      supportedGenerationMethods: ['generateContent', 'streamGenerateContent'],
    })),
  };
}
