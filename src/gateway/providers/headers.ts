import type { Operation } from '../types.js';

/**
 * Which client headers reach an upstream (DESIGN §6: clients never choose base URLs or upstream
 * headers). Pure, table-tested.
 *
 * Default: none. The request an upstream sees carries the adapter's headers (credential, version,
 * required betas) plus the allow-list below, and nothing else: no client credential, cookie, host,
 * hop-by-hop or proxy header, no `x-forwarded-*` (the client's address is ours to log, not the
 * upstream's), no `user-agent`, `accept-encoding` or `content-length` (the engine sets its own
 * framing and asks for identity encoding so it can read SSE).
 *
 * Allow-listed:
 * - `anthropic-beta` on `messages` / `count_tokens`: Anthropic features are switched on per request
 *   by beta flags (extended output, interleaved thinking, 1M context…); Claude Code and the
 *   Anthropic SDKs send them. The client's flags are appended to the adapter's (claude-code's
 *   `oauth-2025-04-20` stays first), deduplicated, and each must be a plain token. Note that some
 *   betas change pricing (1M context); the usage the upstream reports is what gets billed.
 *
 * Deliberately not forwarded: `openai-organization` / `openai-project` (they name the client's
 * OpenAI org, but the upstream key is the operator's: a mismatch is a 401 and a match bills the
 * wrong project), `anthropic-version` (the adapter pins the version its translators speak),
 * `openai-beta` (Codex sets its own; the public API needs none for these operations),
 * `x-goog-user-project` (billing project of the operator's key, not the client's).
 */

/** Header (lower-case) → the upstream operations for which a client's value is forwarded. */
export const FORWARDABLE_CLIENT_HEADERS: Readonly<Record<string, readonly Operation[]>> = {
  'anthropic-beta': ['messages', 'count_tokens'],
};

/** The allow-list as a Map, so a client header named `constructor` or `__proto__` finds nothing. */
const FORWARDABLE = new Map<string, readonly Operation[]>(Object.entries(FORWARDABLE_CLIENT_HEADERS));

/** Comma-list headers whose client values are merged after the adapter's instead of dropped. */
const MERGED_HEADERS: ReadonlySet<string> = new Set(['anthropic-beta']);

/**
 * Never forwarded, whatever the allow-list says (checked at module load): hop-by-hop headers
 * (RFC 9110 §7.6.1 plus the legacy `keep-alive`/`proxy-connection`), framing, the client's own
 * credentials in every spelling the gateway accepts, cookies, and proxy/forwarding headers.
 */
export const NEVER_FORWARDED: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'expect',
  'authorization',
  'x-api-key',
  'x-goog-api-key',
  'api-key',
  'cookie',
  'set-cookie',
  'x-internal-token',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-real-ip',
]);

for (const name of Object.keys(FORWARDABLE_CLIENT_HEADERS)) {
  if (name !== name.toLowerCase() || NEVER_FORWARDED.has(name)) {
    throw new Error(`FORWARDABLE_CLIENT_HEADERS: "${name}" must be lower-case and may not be a never-forwarded header`);
  }
}

/** Incoming headers as node:http gives them (lower-case names); other casings are folded too. */
export type ClientHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

const BETA_TOKEN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function listValues(value: string): string[] {
  return value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

function mergeList(adapterValue: string | undefined, clientValue: string): string {
  const merged = new Set(adapterValue === undefined ? [] : listValues(adapterValue));
  for (const token of listValues(clientValue)) if (BETA_TOKEN.test(token)) merged.add(token);
  return [...merged].join(',');
}

/** Names the client listed in its own `Connection` header are hop-by-hop for this request. */
function connectionTokens(clientHeaders: ClientHeaders): Set<string> {
  const out = new Set<string>();
  for (const [name, value] of Object.entries(clientHeaders)) {
    if (name.toLowerCase() !== 'connection' || value === undefined) continue;
    for (const token of listValues(typeof value === 'string' ? value : value.join(','))) out.add(token.toLowerCase());
  }
  return out;
}

/**
 * The headers of an upstream request: the adapter's (names lower-cased; they always win) plus the
 * client's allow-listed headers for `op`. Never returns a client credential, cookie, host or
 * hop-by-hop header.
 */
export function upstreamHeaders(adapterHeaders: Readonly<Record<string, string>>, clientHeaders: ClientHeaders, op: Operation): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(adapterHeaders)) out[name.toLowerCase()] = value;
  let hopByHop: Set<string> | undefined;
  for (const [rawName, rawValue] of Object.entries(clientHeaders)) {
    if (rawValue === undefined) continue;
    const name = rawName.toLowerCase();
    const ops = FORWARDABLE.get(name);
    if (!ops || !ops.includes(op) || NEVER_FORWARDED.has(name)) continue;
    hopByHop ??= connectionTokens(clientHeaders);
    if (hopByHop.has(name)) continue;
    const value = typeof rawValue === 'string' ? rawValue : rawValue.join(',');
    if (MERGED_HEADERS.has(name)) {
      const merged = mergeList(out[name], value);
      if (merged !== '') out[name] = merged;
    } else if (out[name] === undefined) {
      out[name] = value;
    }
  }
  return out;
}
