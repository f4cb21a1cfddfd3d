import { checkBaseUrl } from '../../domain/base-url.js';
import type { ProviderSnapshot } from '../../lib/redis-layout.js';
import { ProviderConfigError } from './adapter.js';

/**
 * Base URLs, paths and credentials, shared by every adapter. Pure (a bounded memo aside).
 *
 * THE BASE-URL RULE. A provider's `base_url` (or, when it is empty, the family's built-in default)
 * is checked and normalised by the control plane's own policy, `checkBaseUrl`
 * (src/domain/base-url.ts): http(s) only, no credentials/query/fragment, trailing slashes dropped,
 * cloud metadata hosts refused. It then splits into an `origin` (scheme://host[:port], the undici
 * Pool key) and a path `prefix` ('' or `/a/b`: runs of `/` collapsed, no trailing slash). Each
 * family appends its own paths to the prefix (see each adapter's module comment); a family whose
 * paths start with an API version drops a trailing version segment from the prefix first, so a
 * base URL written with or without it gives the same URL and never `/v1/v1`. Every appended piece
 * starts with `/` and the prefix never ends with one, so no path contains `//`.
 */

export interface ApiRoot {
  /** scheme://host[:port] */
  origin: string;
  /** '' or `/segment/...`, no trailing slash, no `//`. */
  prefix: string;
}

type Parsed = ApiRoot | { refused: string };

const MEMO_MAX = 1_024;
const baseMemo = new Map<string, Parsed>();

function parse(raw: string): Parsed {
  const cached = baseMemo.get(raw);
  if (cached) return cached;
  const check = checkBaseUrl(raw);
  let parsed: Parsed;
  if (!check.ok) {
    parsed = { refused: check.reason };
  } else {
    const url = new URL(check.url);
    parsed = { origin: url.origin, prefix: url.pathname.replace(/\/{2,}/g, '/').replace(/\/+$/, '') };
  }
  // A handful of distinct base URLs in practice; the bound only guards against pathological churn.
  if (baseMemo.size >= MEMO_MAX) baseMemo.clear();
  baseMemo.set(raw, parsed);
  return parsed;
}

/**
 * The API root of a provider: its `base_url`, or `fallback` when that is empty. Throws
 * `missing_base_url` when both are empty and `invalid_base_url` when the URL fails the policy.
 */
export function apiRoot(provider: ProviderSnapshot, fallback: string | undefined): ApiRoot {
  const configured = provider.base_url.trim();
  const raw = configured === '' ? fallback : configured;
  if (raw === undefined || raw === '') {
    throw new ProviderConfigError('missing_base_url', `provider ${provider.id} (${provider.type}) has no base_url`, provider.id);
  }
  const parsed = parse(raw);
  if ('refused' in parsed) {
    // The reason names the rule, never the URL (its path may embed a token).
    throw new ProviderConfigError('invalid_base_url', `provider ${provider.id} has an unusable base_url: ${parsed.refused}`, provider.id);
  }
  return parsed;
}

/**
 * Splits a trailing API-version segment off a prefix: `/anthropic/v1` with /^v1$/i →
 * `{ root: '/anthropic', version: 'v1' }`; no match → `{ root: prefix }`.
 */
export function splitVersion(prefix: string, version: RegExp): { root: string; version?: string } {
  const slash = prefix.lastIndexOf('/');
  const last = prefix.slice(slash + 1);
  if (slash >= 0 && version.test(last)) return { root: prefix.slice(0, slash), version: last.toLowerCase() };
  return { root: prefix };
}

/**
 * A model name as one path segment: surrounding whitespace trimmed, the first matching resource
 * prefix in `strip` removed (`models/gemini-2.5-pro` → `gemini-2.5-pro`), then percent-encoded so
 * `/`, `:`, `?`, `#`, `%` and spaces cannot change the path. Throws `missing_model` when empty.
 */
export function modelSegment(provider: ProviderSnapshot, model: string, strip: readonly string[] = []): string {
  let name = model.trim();
  for (const prefix of strip) {
    if (name.startsWith(prefix)) {
      name = name.slice(prefix.length);
      break;
    }
  }
  if (name === '') throw new ProviderConfigError('missing_model', `no upstream model for provider ${provider.id}`, provider.id);
  return encodeURIComponent(name);
}

/** Visible ASCII only: anything else would be refused by undici or split a header. */
const HEADER_SAFE = /^[\x21-\x7e]+$/;

/**
 * The provider's credential (`api_key`: an API key, or the OAuth access token the token-refresh job
 * wrote), trimmed. Throws `missing_credential` when empty (an OAuth key before its first refresh)
 * and `unsupported_credential` when it could not be sent as a header value.
 */
export function credential(provider: ProviderSnapshot): string {
  const key = provider.api_key.trim();
  if (key === '') throw new ProviderConfigError('missing_credential', `provider ${provider.id} (${provider.type}) has no credential yet`, provider.id);
  if (!HEADER_SAFE.test(key)) {
    throw new ProviderConfigError('unsupported_credential', `provider ${provider.id} has a credential that is not a single header token`, provider.id);
  }
  return key;
}

/** google_project, trimmed; throws `missing_project` when required and absent. */
export function requireProject(provider: ProviderSnapshot): string {
  const project = (provider.google_project ?? '').trim();
  if (project === '') throw new ProviderConfigError('missing_project', `provider ${provider.id} (${provider.type}) needs google_project`, provider.id);
  return project;
}

/** The provider type as the control plane normalizes it (trimmed, lower-case). */
export function providerType(provider: ProviderSnapshot): string {
  return provider.type.trim().toLowerCase();
}

export const JSON_CONTENT_TYPE = 'application/json';
