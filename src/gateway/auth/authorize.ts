import { BlockList, isIP } from 'node:net';
import type { MasterView } from '../config/replica.js';
import type { TokenView } from './token-cache.js';

/**
 * The key checks of DESIGN §6, pure: status, expiry, master status and epoch, allowed IPs. Every
 * failure here is answered with the same 401 so an unauthenticated caller cannot tell which check
 * failed; the reason is kept for logs and metrics only. The one exception is `key_exhausted` (the
 * control plane marked the key's quota as used up), answered 429 `insufficient_quota`, and only
 * when every other check passed, so it tells nothing about a key that would be refused anyway.
 */
export type KeyRefusal = 'key_inactive' | 'key_expired' | 'master_missing' | 'master_inactive' | 'epoch_revoked' | 'ip_not_allowed' | 'key_exhausted';

const blockLists = new WeakMap<readonly string[], BlockList | null>();

/** Compiles a key's allow list once (cached per record); null means "no restriction". */
function allowList(cidrs: readonly string[]): BlockList | null {
  let list = blockLists.get(cidrs);
  if (list !== undefined) return list;
  if (cidrs.length === 0) list = null;
  else {
    list = new BlockList();
    for (const entry of cidrs) {
      const [address = '', prefix] = entry.split('/');
      const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      if (!isIP(address)) continue;
      if (prefix === undefined) list.addAddress(address, family);
      else list.addSubnet(address, Number(prefix), family);
    }
  }
  blockLists.set(cidrs, list);
  return list;
}

/** `::ffff:10.0.0.1` (IPv4-mapped, as node reports IPv4 peers on dual-stack sockets) → `10.0.0.1`. */
export function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

export function ipAllowed(cidrs: readonly string[], clientIp: string | undefined): boolean {
  const list = allowList(cidrs);
  if (!list) return true;
  if (!clientIp) return false;
  const ip = normalizeIp(clientIp);
  const family = isIP(ip);
  if (!family) return false;
  return list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
}

export function checkKey(token: TokenView, master: MasterView | undefined, nowMs: number, clientIp: string | undefined): KeyRefusal | undefined {
  if (token.status !== 'active' && token.status !== 'exhausted') return 'key_inactive';
  if (token.expiresAt !== null && token.expiresAt <= nowMs) return 'key_expired';
  if (!master) return 'master_missing';
  if (master.status !== 'active') return 'master_inactive';
  if (token.issuedAtEpoch < master.epoch) return 'epoch_revoked';
  if (!ipAllowed(token.allowIps, clientIp)) return 'ip_not_allowed';
  if (token.status === 'exhausted') return 'key_exhausted';
  return undefined;
}

/** Scope families by operation: `chat` covers chat completions, Anthropic messages and Gemini. */
export type ScopeFamily = 'chat' | 'completions' | 'embeddings' | 'responses' | 'models';

/** `*`, `<family>:*` or `<family>:<anything>` allow the family; listing models needs any scope. */
export function scopeAllows(scopes: readonly string[], family: ScopeFamily): boolean {
  if (family === 'models') return scopes.length > 0;
  return scopes.some((scope) => scope === '*' || scope === family || scope.startsWith(`${family}:`));
}

/** The namespaces a key may use: its own list (empty = the master's), within the master's. */
export function effectiveNamespaces(token: TokenView, master: MasterView): string[] {
  const own = token.namespaces.length > 0 ? token.namespaces : master.namespaces;
  return own.filter((ns) => master.namespaces.includes(ns));
}

export function defaultNamespaceOf(token: TokenView, master: MasterView): string {
  return token.defaultNamespace || master.defaultNamespace || 'default';
}

/** Model limits name public models, bare (`gpt-4o`) or qualified (`team.gpt-4o`). */
export function modelAllowed(token: TokenView, namespace: string, model: string): boolean {
  if (!token.modelLimitsEnabled) return true;
  return token.modelLimits.includes(model) || token.modelLimits.includes(`${namespace}.${model}`);
}
