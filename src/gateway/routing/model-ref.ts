/**
 * Model references (PROVIDERS.md): `ns.model` splits on the first dot; with no dot the key's default
 * namespace applies. Our one refinement: when the part before the first dot is not a namespace the
 * control plane knows (namespaces never contain dots), the whole string is the model — so
 * `gpt-4.1` means model `gpt-4.1` in the default namespace instead of model `1` in namespace
 * `gpt-4`. An explicit `default.gpt-4.1` still works. docs/gateway.md records this.
 */
export interface ModelRef {
  namespace: string;
  model: string;
  /** True when the client named the namespace. */
  qualified: boolean;
}

export function parseModelRef(raw: string, defaultNamespace: string, knownNamespaces: ReadonlySet<string>): ModelRef {
  const ref = raw.trim();
  const dot = ref.indexOf('.');
  if (dot > 0 && dot < ref.length - 1) {
    const namespace = ref.slice(0, dot);
    if (knownNamespaces.has(namespace)) return { namespace, model: ref.slice(dot + 1), qualified: true };
  }
  return { namespace: defaultNamespace, model: ref, qualified: false };
}
