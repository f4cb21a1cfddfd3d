import { request } from 'undici';
import type { OAuthClient } from './oauth-clients.js';

/**
 * One `grant_type=refresh_token` exchange with a type's token endpoint (RFC 6749 §6), and the
 * classification of its answer. Pure parts (body, classification) are exported for table tests.
 *
 * Nothing returned here carries a token endpoint's body: failure reasons name the status and the
 * OAuth `error` code only (e.g. `invalid_grant`), because bodies may echo tokens.
 */

export interface IssuedTokens {
  accessToken: string;
  /** A rotated refresh token, or null when the endpoint kept the old one. */
  refreshToken: string | null;
  expiresAt: Date;
  /** Account id from the answer (Codex id_token claim, Claude `account.uuid`), else null. */
  accountId: string | null;
}

export type TokenOutcome =
  | { kind: 'ok'; tokens: IssuedTokens }
  /** Network trouble, timeouts, 429, 5xx and anything else that may pass: retry with backoff. */
  | { kind: 'retryable'; reason: string }
  /** The grant is dead (`invalid_grant`, `unauthorized_client`, or a 400/401): disable the key. */
  | { kind: 'rejected'; reason: string };

/** OAuth error codes that mean the refresh token (or this client) will never work again. */
export const NON_RETRYABLE_ERRORS: ReadonlySet<string> = new Set(['invalid_grant', 'unauthorized_client']);
/** Statuses that refuse the request itself: retrying sends the same refused grant. */
export const NON_RETRYABLE_STATUSES: ReadonlySet<number> = new Set([400, 401]);
/** Lifetime assumed when the answer states none and the token is not a JWT with `exp` (ms). */
export const DEFAULT_LIFETIME_MS = 3_600_000;
/** Most of an answer read (bytes); token answers are a few KiB. */
const MAX_BODY_BYTES = 64 * 1024;

/** The request body for `client`, and its content type. */
export function tokenRequestBody(client: OAuthClient, refreshToken: string): { contentType: string; body: string } {
  const fields: Record<string, string> = { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: client.clientId };
  if (client.clientSecret !== undefined) fields.client_secret = client.clientSecret;
  if (client.scope !== undefined) fields.scope = client.scope;
  if (client.encoding === 'json') return { contentType: 'application/json', body: JSON.stringify(fields) };
  return { contentType: 'application/x-www-form-urlencoded', body: new URLSearchParams(fields).toString() };
}

type Json = Record<string, unknown>;
const isJson = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseJson(text: string): Json | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isJson(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The OAuth `error` code of an answer (`{error: "invalid_grant"}` or `{error: {type}}`), if it is a plain code. */
export function oauthErrorCode(body: Json | undefined): string | undefined {
  const raw = isJson(body?.error) ? body.error.type : body?.error;
  return typeof raw === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(raw) ? raw : undefined;
}

/** The claims of a JWT, unverified (they only label the account and hint the expiry). */
export function jwtClaims(token: string): Json | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return undefined;
  try {
    return parseJson(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

function expiresAtOf(body: Json, accessToken: string, now: Date): Date {
  const expiresIn = typeof body.expires_in === 'string' ? Number(body.expires_in) : body.expires_in;
  if (typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0) return new Date(now.getTime() + Math.round(expiresIn * 1_000));
  const exp = jwtClaims(accessToken)?.exp;
  if (typeof exp === 'number' && Number.isFinite(exp) && exp * 1_000 > now.getTime()) return new Date(exp * 1_000);
  return new Date(now.getTime() + DEFAULT_LIFETIME_MS);
}

const OPENAI_AUTH_CLAIM = 'https://api.openai.com/auth';

function accountIdOf(body: Json): string | null {
  // Codex: the ChatGPT account of the id_token (the upstream needs it as ChatGPT-Account-Id).
  for (const field of ['id_token', 'access_token'] as const) {
    const token = body[field];
    const auth = typeof token === 'string' ? jwtClaims(token)?.[OPENAI_AUTH_CLAIM] : undefined;
    if (isJson(auth) && typeof auth.chatgpt_account_id === 'string' && auth.chatgpt_account_id) return auth.chatgpt_account_id.slice(0, 200);
  }
  // Claude Code: the account the subscription belongs to.
  if (isJson(body.account) && typeof body.account.uuid === 'string' && body.account.uuid) return body.account.uuid.slice(0, 200);
  return null;
}

/** Classifies one answer of a token endpoint. Pure. */
export function classifyTokenResponse(status: number, text: string, now: Date): TokenOutcome {
  const body = parseJson(text);
  if (status >= 200 && status < 300) {
    const accessToken = body?.access_token;
    if (!body || typeof accessToken !== 'string' || accessToken.length === 0) {
      return { kind: 'retryable', reason: `token endpoint answered ${status} without an access_token` };
    }
    const refreshToken = typeof body.refresh_token === 'string' && body.refresh_token.length > 0 ? body.refresh_token : null;
    return { kind: 'ok', tokens: { accessToken, refreshToken, expiresAt: expiresAtOf(body, accessToken, now), accountId: accountIdOf(body) } };
  }
  const code = oauthErrorCode(body);
  const reason = `token endpoint answered ${status}${code ? ` (${code})` : ''}`;
  if ((code !== undefined && NON_RETRYABLE_ERRORS.has(code)) || NON_RETRYABLE_STATUSES.has(status)) return { kind: 'rejected', reason };
  return { kind: 'retryable', reason };
}

/** Posts the refresh grant within `timeoutMs`; never throws (transport failures are retryable). */
export async function exchangeRefreshToken(client: OAuthClient, refreshToken: string, options: { timeoutMs: number; now: () => Date }): Promise<TokenOutcome> {
  const { contentType, body } = tokenRequestBody(client, refreshToken);
  try {
    const res = await request(client.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': contentType, accept: 'application/json', 'user-agent': 'ez-api-token-refresh' },
      body,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    const text = await readLimited(res.body, MAX_BODY_BYTES);
    return classifyTokenResponse(res.statusCode, text, options.now());
  } catch (err) {
    const e = err as { code?: unknown; name?: unknown };
    const what = typeof e.code === 'string' ? e.code : typeof e.name === 'string' ? e.name : 'error';
    return { kind: 'retryable', reason: `token endpoint unreachable (${what})` };
  }
}

async function readLimited(body: AsyncIterable<Buffer> & { destroy(): unknown }, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) {
      body.destroy();
      break;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
