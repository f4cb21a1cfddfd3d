import { BlockList } from 'node:net';

/**
 * The policy for an upstream `base_url` (provider groups). Pure: no DNS, no I/O, table-tested in
 * test/unit/base-url.test.ts.
 *
 * Accepted: `http:` or `https:` with a hostname, no credentials, no query, no fragment, no control
 * characters, whitespace or backslashes, at most 2,048 characters. The result is normalised by the
 * WHATWG URL parser (lower-case scheme and host, default port dropped, numeric IPv4 forms written
 * out) and loses its trailing slashes: `https://api.openai.com/v1/` → `https://api.openai.com/v1`.
 *
 * Refused always: cloud metadata endpoints — the IPv4 link-local range 169.254.0.0/16 (AWS, GCP,
 * Azure, Oracle, DigitalOcean… serve instance credentials at 169.254.169.254) in any spelling the
 * URL parser folds onto it (`http://2852039166/`, `http://0xA9FEA9FE/`, `http://0251.0376.0251.0376/`,
 * `http://169.254.43518/`, IPv4-mapped `[::ffff:169.254.169.254]`, NAT64 `[64:ff9b::a9fe:a9fe]`),
 * AWS's IPv6 endpoint `fd00:ec2::254`, Alibaba Cloud's `100.100.100.200`, and the names
 * `metadata`, `metadata.google.internal`, `instance-data` and `instance-data.ec2.internal`.
 *
 * Allowed on purpose: loopback (127.0.0.0/8, ::1, localhost) and private ranges (10/8, 172.16/12,
 * 192.168/16, fc00::/7 except the AWS address): self-hosted models (vLLM, Ollama, TGI) usually live
 * there, and only admins can set a base URL. What this check cannot see: a public name whose DNS
 * answer is a metadata address. The gateway resolves names when it connects; refusing link-local
 * answers there is the complement of this check.
 */

export type BaseUrlCheck = { ok: true; url: string } | { ok: false; reason: string };

export const MAX_BASE_URL_LENGTH = 2_048;

const METADATA_HOSTNAMES = new Set(['metadata', 'metadata.google.internal', 'instance-data', 'instance-data.ec2.internal']);

const METADATA_ADDRESSES = (() => {
  const list = new BlockList();
  list.addSubnet('169.254.0.0', 16, 'ipv4');
  list.addAddress('100.100.100.200', 'ipv4');
  list.addAddress('fd00:ec2::254', 'ipv6');
  // IPv4 embedded in IPv6: NAT64 (64:ff9b::/96) and the deprecated IPv4-compatible form (::/96).
  // (IPv4-mapped ::ffff:0:0/96 is matched by BlockList against the IPv4 rules itself.)
  list.addSubnet('64:ff9b::a9fe:0', 112, 'ipv6');
  list.addSubnet('::a9fe:0', 112, 'ipv6');
  return list;
})();

const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;
// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
const FORBIDDEN_CHARS = /[\u0000-\u0020\u007f-\u009f\\]/;

/** True when `hostname` (as `URL.hostname` spells it: IPv6 in brackets) is a cloud metadata endpoint. */
export function isMetadataHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.+$/, '');
  if (METADATA_HOSTNAMES.has(host)) return true;
  if (host.startsWith('[') && host.endsWith(']')) return METADATA_ADDRESSES.check(host.slice(1, -1), 'ipv6');
  if (IPV4.test(host)) return METADATA_ADDRESSES.check(host, 'ipv4');
  return false;
}

/** Checks and normalises an upstream base URL (see the module comment for the rules). */
export function checkBaseUrl(input: string): BaseUrlCheck {
  const raw = input.trim();
  if (raw === '') return { ok: false, reason: 'base_url must not be empty' };
  if (raw.length > MAX_BASE_URL_LENGTH) return { ok: false, reason: `base_url must be at most ${MAX_BASE_URL_LENGTH} characters` };
  if (FORBIDDEN_CHARS.test(raw)) return { ok: false, reason: 'base_url must not contain whitespace, control characters or backslashes' };
  if (!/^https?:\/\//i.test(raw)) return { ok: false, reason: 'base_url must be an http:// or https:// URL' };
  // The URL parser would read `http:///host` as `http://host`; an empty authority is a typo, not a host.
  if (!/^https?:\/\/[^/]/i.test(raw)) return { ok: false, reason: 'base_url must name a host' };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'base_url is not a valid URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, reason: 'base_url must be an http:// or https:// URL' };
  if (url.hostname === '') return { ok: false, reason: 'base_url must name a host' };
  if (url.username !== '' || url.password !== '' || /^https?:\/\/[^/]*@/i.test(raw)) {
    return { ok: false, reason: 'base_url must not contain credentials; put the key in api_key' };
  }
  if (raw.includes('?') || raw.includes('#')) return { ok: false, reason: 'base_url must not have a query string or fragment' };
  if (isMetadataHost(url.hostname)) return { ok: false, reason: 'base_url points at a cloud metadata endpoint, which is never allowed' };
  return { ok: true, url: `${url.origin}${url.pathname.replace(/\/+$/, '')}` };
}
