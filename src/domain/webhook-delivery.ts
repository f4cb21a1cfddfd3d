import dns from 'node:dns';
import { isIP } from 'node:net';
import type { Knex } from 'knex';
import { Agent, request } from 'undici';
import { disableWebhookTarget, getWebhookTarget, insertDeliveryAttempt } from '../db/webhook-deliveries.repository.js';
import { isMetadataAddress } from '../gateway/proxy/upstream-pool.js';
import type { Logger } from '../lib/logger.js';
import { SecretBox } from '../lib/secret-box.js';
import { buildInfo } from '../lib/version.js';
import { isMetadataHost } from './base-url.js';
import { disableLogWebhookAfterGone, getLogWebhookTarget } from './log-webhook.service.js';
import { webhookHeaders } from './webhook-signature.js';
import { urlOrigin } from './webhook-url.js';

/**
 * One delivery attempt of one event to one target (the `webhooks` queue, DESIGN §8). BullMQ-free:
 * the processor maps a thrown WebhookDeliveryError to a retry (transient) or an
 * UnrecoverableError (permanent).
 *
 * - Success: any 2xx.
 * - Permanent: 410 Gone (the target is disabled as well: the log webhook gets `enabled: false`, a
 *   webhook row `status: disabled`), any other 4xx except 408 and 429, any 3xx (redirects are not
 *   followed: a receiver that moved is a configuration change), a refused metadata address.
 * - Transient (retried with backoff): 408, 429, 5xx, connect errors, the timeout (10 s unless
 *   `EZ_WEBHOOK_TIMEOUT_MS`). A 429 or 503 with `Retry-After` puts the wait it asks for (at most
 *   MAX_RETRY_AFTER_MS) on the error; the queue's backoff (webhookRetryDelayMs) honours it.
 * Every attempt that reached the network is recorded in `webhook_deliveries`.
 */

export type WebhookTarget = { kind: 'log_webhook' } | { kind: 'webhook'; id: number };

export interface WebhookEvent {
  /** The `webhook-id` header: the same on every attempt. */
  id: string;
  type: string;
  /** When the event happened (ISO 8601). */
  timestamp?: string | undefined;
  data: Record<string, unknown>;
}

/** What one `webhooks` job carries. */
export interface WebhookDelivery {
  target: WebhookTarget;
  event: WebhookEvent;
}

/** Default deadline of one whole exchange (connect, send, answer, body) (ms); `EZ_WEBHOOK_TIMEOUT_MS`. */
export const DELIVERY_TIMEOUT_MS = 10_000;
/** The longest `Retry-After` honoured (ms): a receiver cannot park a delivery for longer. */
export const MAX_RETRY_AFTER_MS = 3_600_000;
/** Characters of a failed answer's body kept in `webhook_deliveries.error`. */
const ERROR_SNIPPET_CHARS = 200;

export type PostResult =
  | { status_code: number; body_snippet: string; /** The raw `Retry-After` header, if any. */ retry_after?: string | undefined }
  | { error: string; refused_address: boolean };

/** Sends one POST within `options.timeoutMs`; never throws. Injectable for tests. */
export type WebhookPoster = (url: string, headers: Record<string, string>, body: string, options: { timeoutMs: number }) => Promise<PostResult>;

export interface DeliveryDeps {
  knex: Knex;
  secretBox: SecretBox;
  logger: Logger;
  now(): Date;
  post?: WebhookPoster;
  /** Deadline of one attempt (ms); default DELIVERY_TIMEOUT_MS. */
  timeoutMs?: number | undefined;
}

export interface AttemptInfo {
  /** 1 for the first attempt. */
  attempt: number;
  /** When the job was created (the body's `timestamp` when the event has none). */
  createdAt: Date;
}

export type DeliveryResult =
  | { outcome: 'delivered'; status_code: number; duration_ms: number }
  | { outcome: 'skipped'; reason: 'not_configured' | 'disabled' | 'deleted' };

export class WebhookDeliveryError extends Error {
  override readonly name = 'WebhookDeliveryError';
  constructor(
    message: string,
    /** True when a retry cannot help. */
    readonly permanent: boolean,
    readonly statusCode: number | null,
    /** How long the receiver asked us to wait (`Retry-After` on a 429 or 503), capped; null when it did not. */
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
  }
}

/**
 * `Retry-After` (delta-seconds or an HTTP date) as milliseconds from `now`, capped at
 * MAX_RETRY_AFTER_MS; null when absent or unparseable. A date in the past is 0.
 */
export function parseRetryAfter(value: string | undefined, now: Date): number | null {
  if (value === undefined) return null;
  const text = value.trim();
  let ms: number;
  if (/^\d{1,10}$/.test(text)) ms = Number(text) * 1_000;
  else {
    const at = Date.parse(text);
    if (!/[a-z]/i.test(text) || Number.isNaN(at)) return null;
    ms = Math.max(0, at - now.getTime());
  }
  return Math.min(ms, MAX_RETRY_AFTER_MS);
}

/**
 * The wait before retry number `attemptsMade` (1 after the first failed attempt): `firstDelayMs`
 * doubled per retry (30 s, 1, 2, 4, 8, 16, 32 min by default), or the receiver's `Retry-After`
 * when that is longer. Pure; the `webhooks` queue's backoff strategy.
 */
export function webhookRetryDelayMs(attemptsMade: number, firstDelayMs: number, retryAfterMs: number | null): number {
  const exponential = Math.round(firstDelayMs * 2 ** Math.max(0, attemptsMade - 1));
  return Math.max(exponential, retryAfterMs ?? 0);
}

interface ResolvedTarget {
  url: string;
  secret: string;
}

type Resolution = { target: ResolvedTarget } | { skip: 'not_configured' | 'disabled' | 'deleted' } | { broken: string };

async function resolveTarget(deps: DeliveryDeps, target: WebhookTarget): Promise<Resolution> {
  if (target.kind === 'log_webhook') {
    const resolved = await getLogWebhookTarget(deps.knex, deps.secretBox);
    if (resolved.state === 'ok') return { target: { url: resolved.url, secret: resolved.secret } };
    if (resolved.state === 'undecryptable') return { broken: 'the log webhook secret no longer decrypts (EZ_SECRET changed?); set it again' };
    return { skip: resolved.state };
  }
  const row = await getWebhookTarget(deps.knex, target.id);
  if (!row) return { skip: 'deleted' };
  if (row.status !== 'active') return { skip: 'disabled' };
  try {
    const secret = deps.secretBox.open({ ciphertext: row.secret_ciphertext, nonce: row.secret_nonce, keyVersion: row.key_version }, SecretBox.aad('webhooks', row.id, 'secret'));
    return { target: { url: row.url, secret } };
  } catch {
    return { broken: `webhook ${row.id}'s secret no longer decrypts (EZ_SECRET changed?); set it again` };
  }
}

type Verdict = 'delivered' | 'gone' | 'retry' | 'permanent';

/** What an HTTP status means for the delivery (see the module comment). */
export function classifyStatus(status: number): Verdict {
  if (status >= 200 && status <= 299) return 'delivered';
  if (status === 410) return 'gone';
  if (status === 408 || status === 429 || status >= 500) return 'retry';
  return 'permanent';
}

/** Delivers `delivery` once; throws WebhookDeliveryError when the attempt failed. */
export async function deliverWebhook(deps: DeliveryDeps, delivery: WebhookDelivery, info: AttemptInfo): Promise<DeliveryResult> {
  const { target, event } = delivery;
  const resolution = await resolveTarget(deps, target);
  if ('skip' in resolution) return { outcome: 'skipped', reason: resolution.skip };
  const record = (status_code: number | null, error: string | null, duration_ms: number) =>
    insertDeliveryAttempt(deps.knex, {
      target: target.kind,
      webhook_id: target.kind === 'webhook' ? target.id : null,
      event_id: event.id,
      event_type: event.type,
      attempt: info.attempt,
      status_code,
      error,
      duration_ms,
    });
  if ('broken' in resolution) {
    await record(null, resolution.broken, 0);
    throw new WebhookDeliveryError(resolution.broken, true, null);
  }
  const { url, secret } = resolution.target;
  const body = JSON.stringify({ type: event.type, timestamp: event.timestamp ?? info.createdAt.toISOString(), data: event.data });
  const headers = {
    'content-type': 'application/json',
    'user-agent': `ez-api-webhooks/${buildInfo.version}`,
    ...webhookHeaders(secret, event.id, deps.now(), body),
  };
  const timeoutMs = deps.timeoutMs ?? DELIVERY_TIMEOUT_MS;
  const started = performance.now();
  const result = await (deps.post ?? postWebhook)(url, headers, body, { timeoutMs });
  const duration = Math.round(performance.now() - started);

  if ('error' in result) {
    await record(null, result.error, duration);
    throw new WebhookDeliveryError(`delivery to ${urlOrigin(url)} failed: ${result.error}`, result.refused_address, null);
  }
  const status = result.status_code;
  const verdict = classifyStatus(status);
  if (verdict === 'delivered') {
    await record(status, null, duration);
    return { outcome: 'delivered', status_code: status, duration_ms: duration };
  }
  const snippet = result.body_snippet ? `: ${result.body_snippet}` : '';
  if (verdict === 'gone') {
    const reason = `the receiver answered 410 Gone at ${new Date(deps.now()).toISOString()}`;
    const disabled =
      target.kind === 'log_webhook' ? await disableLogWebhookAfterGone(deps.knex, url, reason) : await disableWebhookTarget(deps.knex, target.id, url, reason);
    await record(status, `HTTP 410${snippet}${disabled ? ' (target disabled)' : ''}`, duration);
    if (disabled) deps.logger.warn({ target, origin: urlOrigin(url) }, 'webhook receiver answered 410 Gone; target disabled');
    throw new WebhookDeliveryError(`${urlOrigin(url)} answered 410 Gone; target disabled`, true, status);
  }
  const redirect = status >= 300 && status <= 399 ? ' (redirects are not followed)' : '';
  const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(result.retry_after, deps.now()) : null;
  const waited = retryAfterMs === null ? '' : ` (Retry-After ${Math.round(retryAfterMs / 1_000)} s)`;
  await record(status, `HTTP ${status}${redirect}${waited}${snippet}`, duration);
  throw new WebhookDeliveryError(`${urlOrigin(url)} answered HTTP ${status}${redirect}`, verdict === 'permanent', status, retryAfterMs);
}

// --- the HTTP client ------------------------------------------------------------------------

const REFUSED_CODE = 'EZ_METADATA_ADDRESS';

/** A metadata address in any form the resolver may return (v4, v6, v4-mapped, NAT64). */
export function refusedAddress(address: string): boolean {
  return isMetadataAddress(address) || isMetadataHost(isIP(address) === 6 ? `[${address}]` : address);
}

/** dns.lookup that refuses cloud metadata answers: the connect-time half of the URL policy. */
function guardedLookup(
  hostname: string,
  options: dns.LookupOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void,
): void {
  dns.lookup(hostname, options, (err, address, family) => {
    if (err) return callback(err, address, family);
    const addresses = Array.isArray(address) ? address.map((a) => a.address) : [address];
    if (addresses.some(refusedAddress)) {
      const refused: NodeJS.ErrnoException = new Error(`refusing to connect to a cloud metadata address for ${hostname}`);
      refused.code = REFUSED_CODE;
      return callback(refused, address, family);
    }
    callback(null, address, family);
  });
}

const agents = new Map<number, Agent>();

/** One keep-alive dispatcher per deadline (one in practice: the configured one) for the whole process. */
function webhookAgent(timeoutMs: number): Agent {
  let agent = agents.get(timeoutMs);
  if (!agent) {
    agent = new Agent({
      connect: { timeout: timeoutMs, lookup: guardedLookup },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      keepAliveTimeout: 4_000,
      connections: 32,
    });
    agents.set(timeoutMs, agent);
  }
  return agent;
}

function isRefused(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } } | undefined;
  return e?.code === REFUSED_CODE || e?.cause?.code === REFUSED_CODE;
}

function describeError(err: unknown, timeoutMs: number): string {
  if (isRefused(err)) return 'refused: the host resolves to a cloud metadata address';
  const e = err as { name?: string; code?: string; message?: string } | undefined;
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError' || e?.code === 'UND_ERR_HEADERS_TIMEOUT' || e?.code === 'UND_ERR_BODY_TIMEOUT' || e?.code === 'UND_ERR_CONNECT_TIMEOUT') {
    return timeoutMs % 1_000 === 0 ? `timed out after ${timeoutMs / 1_000} s` : `timed out after ${timeoutMs} ms`;
  }
  const cause = (err as { cause?: { code?: string; message?: string } } | undefined)?.cause;
  const text = e?.code ?? cause?.code ?? e?.message ?? 'request failed';
  return String(text).slice(0, 300);
}

/** The printable start of a response body. */
function snippetOf(bytes: Buffer): string {
  // eslint-disable-next-line no-control-regex -- control characters are what is replaced
  return bytes.toString('utf8').replace(/[\u0000-\u001f\u007f]+/g, ' ').trim().slice(0, ERROR_SNIPPET_CHARS);
}

/** POST through undici with the metadata guard and the deadline; never throws. */
export const postWebhook: WebhookPoster = async (url, headers, body, { timeoutMs }) => {
  let hostname: string;
  try {
    hostname = new URL(url).hostname;
  } catch {
    return { error: 'invalid url', refused_address: true };
  }
  if (isMetadataHost(hostname)) return { error: 'refused: cloud metadata address', refused_address: true };
  try {
    const res = await request(url, { method: 'POST', headers, body, dispatcher: webhookAgent(timeoutMs), signal: AbortSignal.timeout(timeoutMs) });
    const chunks: Buffer[] = [];
    let size = 0;
    if (res.statusCode >= 200 && res.statusCode <= 299) {
      await res.body.dump({ limit: 64 * 1_024 });
      return { status_code: res.statusCode, body_snippet: '' };
    }
    for await (const chunk of res.body) {
      const buf = chunk as Buffer;
      chunks.push(buf);
      size += buf.length;
      if (size >= ERROR_SNIPPET_CHARS * 4) break;
    }
    const retryAfter = res.headers['retry-after'];
    return { status_code: res.statusCode, body_snippet: snippetOf(Buffer.concat(chunks)), retry_after: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter };
  } catch (err) {
    return { error: describeError(err, timeoutMs), refused_address: isRefused(err) };
  }
};
