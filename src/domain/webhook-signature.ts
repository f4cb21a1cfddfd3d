import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Standard Webhooks signing (https://www.standardwebhooks.com, DESIGN §8). Pure, table-tested in
 * test/unit/webhook-signature.test.ts against the specification's published test vector.
 *
 * Every delivery carries three headers:
 * - `webhook-id`: the event id, the same on every retry of the event (receivers dedupe on it);
 * - `webhook-timestamp`: integer seconds since the epoch at which this attempt was sent;
 * - `webhook-signature`: `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>` (space-separated
 *   when several signatures are sent, e.g. during a secret rotation).
 *
 * The signing key comes from the configured secret:
 * - `whsec_<base64>` (the Standard Webhooks form, what the reference libraries take): the key is
 *   the base64-decoded part;
 * - anything else is a raw secret: the key is its UTF-8 bytes. A receiver using a Standard
 *   Webhooks library with a raw secret passes `whsec_` + base64(secret) to it.
 */

export const WHSEC_PREFIX = 'whsec_';
/** Raw secrets: 16–256 characters; `whsec_` secrets: 16–64 key bytes (the spec asks for 24–64; 16 is accepted for existing keys). */
export const MIN_SECRET_BYTES = 16;
export const MAX_WHSEC_KEY_BYTES = 64;
export const MAX_RAW_SECRET_LENGTH = 256;
/** Receivers should refuse messages whose timestamp is further than this from their clock (seconds). */
export const DEFAULT_TOLERANCE_SECONDS = 5 * 60;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/;

/** Why a secret cannot sign, or undefined when it can. */
export function secretProblem(secret: string): string | undefined {
  if (secret.startsWith(WHSEC_PREFIX)) {
    const encoded = secret.slice(WHSEC_PREFIX.length);
    if (!BASE64.test(encoded)) return 'a whsec_ secret must be followed by standard base64';
    const bytes = Buffer.from(encoded, 'base64').length;
    if (bytes < MIN_SECRET_BYTES || bytes > MAX_WHSEC_KEY_BYTES) return `a whsec_ secret must decode to ${MIN_SECRET_BYTES}–${MAX_WHSEC_KEY_BYTES} bytes`;
    return undefined;
  }
  if (secret.length < MIN_SECRET_BYTES || secret.length > MAX_RAW_SECRET_LENGTH) return `a raw secret must have ${MIN_SECRET_BYTES}–${MAX_RAW_SECRET_LENGTH} characters`;
  return undefined;
}

/** The HMAC key bytes of a secret (see the module comment). */
export function signingKey(secret: string): Buffer {
  return secret.startsWith(WHSEC_PREFIX) ? Buffer.from(secret.slice(WHSEC_PREFIX.length), 'base64') : Buffer.from(secret, 'utf8');
}

/** `v1,<base64 signature>` of one message. `timestampSeconds` is what goes in `webhook-timestamp`. */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string | Buffer): string {
  const hmac = createHmac('sha256', signingKey(secret));
  hmac.update(`${id}.${timestampSeconds}.`, 'utf8');
  hmac.update(body);
  return `v1,${hmac.digest('base64')}`;
}

export interface WebhookHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/** The three Standard Webhooks headers for one attempt. */
export function webhookHeaders(secret: string, id: string, at: Date, body: string | Buffer): WebhookHeaders {
  const timestamp = Math.floor(at.getTime() / 1000);
  return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signWebhook(secret, id, timestamp, body) };
}

export type VerifyResult = { ok: true } | { ok: false; reason: string };

/**
 * What a receiver does (used by the tests' receivers, and documented for integrators): headers
 * present, timestamp within `toleranceSeconds` of `now`, and one of the space-separated `v1,`
 * signatures equal (constant-time) to the expected one.
 */
export function verifyWebhook(
  secret: string,
  headers: Partial<Record<keyof WebhookHeaders, string | undefined>>,
  body: string | Buffer,
  options: { now?: Date; toleranceSeconds?: number } = {},
): VerifyResult {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['webhook-signature'];
  if (!id || !timestamp || !signatures) return { ok: false, reason: 'missing webhook-id, webhook-timestamp or webhook-signature' };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'webhook-timestamp is not an integer' };
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  if (Math.abs(now - Number(timestamp)) > (options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS)) return { ok: false, reason: 'webhook-timestamp is outside the tolerance' };
  const expected = Buffer.from(signWebhook(secret, id, Number(timestamp), body).slice(3), 'base64');
  for (const candidate of signatures.split(' ')) {
    const [version, value] = candidate.split(',', 2);
    if (version !== 'v1' || !value) continue;
    const given = Buffer.from(value, 'base64');
    if (given.length === expected.length && timingSafeEqual(given, expected)) return { ok: true };
  }
  return { ok: false, reason: 'no matching signature' };
}
