import { isMetadataHost } from './base-url.js';

/**
 * The policy for an outgoing webhook URL (the log webhook now, `/admin/webhooks` later). The
 * same rules as an upstream base URL (src/domain/base-url.ts) — `http:`/`https:` with a host, no
 * credentials, no control characters or backslashes, never a cloud metadata address however it
 * is spelled — except that a query string is allowed (receivers often carry a token there) and
 * the path is kept exactly, trailing slash included. Loopback and private addresses are allowed:
 * receivers often live inside the same network, and only admins set the URL. The delivery worker
 * also refuses metadata addresses at connect time, whatever a name resolves to.
 */

export type WebhookUrlCheck = { ok: true; url: string } | { ok: false; reason: string };

export const MAX_WEBHOOK_URL_LENGTH = 2_048;

// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
const FORBIDDEN_CHARS = /[\u0000-\u0020\u007f-\u009f\\]/;

export function checkWebhookUrl(input: string): WebhookUrlCheck {
  const raw = input.trim();
  if (raw === '') return { ok: false, reason: 'url must not be empty' };
  if (raw.length > MAX_WEBHOOK_URL_LENGTH) return { ok: false, reason: `url must be at most ${MAX_WEBHOOK_URL_LENGTH} characters` };
  if (FORBIDDEN_CHARS.test(raw)) return { ok: false, reason: 'url must not contain whitespace, control characters or backslashes' };
  if (!/^https?:\/\//i.test(raw)) return { ok: false, reason: 'url must be an http:// or https:// URL' };
  if (!/^https?:\/\/[^/?#]/i.test(raw)) return { ok: false, reason: 'url must name a host' };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'url is not a valid URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, reason: 'url must be an http:// or https:// URL' };
  if (url.hostname === '') return { ok: false, reason: 'url must name a host' };
  if (url.username !== '' || url.password !== '' || /^https?:\/\/[^/?#]*@/i.test(raw)) return { ok: false, reason: 'url must not contain credentials' };
  if (raw.includes('#')) return { ok: false, reason: 'url must not have a fragment' };
  if (isMetadataHost(url.hostname)) return { ok: false, reason: 'url points at a cloud metadata endpoint, which is never allowed' };
  return { ok: true, url: url.href };
}

/** `https://hooks.example.com` of a URL: what audit events and logs show (paths and queries often hold tokens). */
export function urlOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid url)';
  }
}
