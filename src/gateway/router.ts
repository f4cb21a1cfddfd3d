/**
 * A tiny method + path router: exact paths in a Map (O(1)), then a short list of patterns with
 * `{name}` placeholders (`/v1beta/models/{model}:generateContent`). No framework on the hot path.
 */

export type Params = Readonly<Record<string, string>>;

export interface Route<Handler> {
  /** Stable, low-cardinality name used as the metrics label, e.g. `chat_completions`. */
  id: string;
  method: string;
  handler: Handler;
}

export type RouteMatch<Handler> =
  | { kind: 'found'; route: Route<Handler>; params: Params }
  | { kind: 'method_not_allowed'; allow: string[] }
  | { kind: 'not_found' };

interface Pattern<Handler> {
  regex: RegExp;
  names: string[];
  methods: Map<string, Route<Handler>>;
}

function compile(path: string): { regex: RegExp; names: string[] } {
  const names: string[] = [];
  const source = path
    .split(/(\{[a-zA-Z_]+\})/)
    .map((part) => {
      const name = /^\{([a-zA-Z_]+)\}$/.exec(part)?.[1];
      if (!name) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(name);
      return '([^/]+?)';
    })
    .join('');
  return { regex: new RegExp(`^${source}$`), names };
}

export class Router<Handler> {
  private readonly exact = new Map<string, Map<string, Route<Handler>>>();
  private readonly patterns: Array<Pattern<Handler>> = [];

  add(method: string, path: string, id: string, handler: Handler): this {
    const route: Route<Handler> = { id, method, handler };
    if (!path.includes('{')) {
      const methods = this.exact.get(path) ?? new Map<string, Route<Handler>>();
      methods.set(method, route);
      this.exact.set(path, methods);
      return this;
    }
    const { regex, names } = compile(path);
    let pattern = this.patterns.find((p) => p.regex.source === regex.source);
    if (!pattern) {
      pattern = { regex, names, methods: new Map() };
      this.patterns.push(pattern);
    }
    pattern.methods.set(method, route);
    return this;
  }

  match(method: string, pathname: string): RouteMatch<Handler> {
    const exact = this.exact.get(pathname);
    if (exact) return this.pick(exact, method, {});
    for (const pattern of this.patterns) {
      const m = pattern.regex.exec(pathname);
      if (!m) continue;
      const params: Record<string, string> = {};
      try {
        pattern.names.forEach((name, i) => {
          params[name] = decodeURIComponent(m[i + 1] ?? '');
        });
      } catch {
        return { kind: 'not_found' }; // malformed percent-encoding
      }
      return this.pick(pattern.methods, method, params);
    }
    return { kind: 'not_found' };
  }

  private pick(methods: Map<string, Route<Handler>>, method: string, params: Params): RouteMatch<Handler> {
    const route = methods.get(method) ?? (method === 'HEAD' ? methods.get('GET') : undefined);
    if (route) return { kind: 'found', route, params };
    return { kind: 'method_not_allowed', allow: [...methods.keys()] };
  }
}
