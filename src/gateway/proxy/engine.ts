import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { redactString, type Logger } from '../../lib/logger.js';
import { jsonDepthExceeds } from '../../lib/json-depth.js';
import { BodyTooLargeError, declaredLengthExceeds, readBoundedBody } from '../../lib/read-body.js';
import type { KeyDigester } from '../../lib/key-digest.js';
import type { ProviderSnapshot } from '../../lib/redis-layout.js';
import { checkKey, defaultNamespaceOf, effectiveNamespaces, modelAllowed, scopeAllows, type ScopeFamily } from '../auth/authorize.js';
import { extractClientKey } from '../auth/extract-key.js';
import type { TokenCache, TokenView } from '../auth/token-cache.js';
import type { ConfigReplica, MasterView } from '../config/replica.js';
import { gatewayErrors, GatewayError, type ClientFormat } from '../errors.js';
import { OAUTH_TYPES } from '../../domain/provider-presets.js';
import { adapterFor } from '../providers/registry.js';
import { upstreamHeaders } from '../providers/headers.js';
import { ProviderConfigError } from '../providers/adapter.js';
import { createSseParser } from '../sse.js';
import { estimateTokens } from '../translate/usage.js';
import { AggregateStreamError, aggregatorFor } from '../translate/aggregate.js';
import { parseModelRef } from '../routing/model-ref.js';
import { findBinding, planAttempts, type Attempt } from '../routing/plan.js';
import { publicModelLabel } from '../metrics.js';
import { usdToMicros, type Cost } from '../../lib/pricing.js';
import type { SpendRequest } from '../limits/index.js';
import type { Operation, RequestLogRecord, Usage } from '../types.js';
import type { Bridge, BridgeResponseContext } from './bridge.js';
import { bridgeFor } from './bridges.js';
import type { AdmitResult, AttemptOutcome, HealthPort, LimitsPort, MetricsPort, ProviderEventsPort, ProxiedRequest, UpstreamKeyUsage, UpstreamStatsPort } from './ports.js';
import { estimateSpend, NO_COST, requestCost, requestedOutputTokens } from './pricing.js';
import { requestBodyForLog } from './request-body-log.js';
import { responsesIngress } from './responses-ingress.js';
import { classifyBodyError, classifyTransportError, RequestTimeoutError, type TransportFailure, type UpstreamPools } from './upstream-pool.js';

/**
 * The proxy request flow of DESIGN §6, for every client dialect: key → checks → model → binding →
 * limits → weighted attempts with failover before the first byte → stream back → usage → log.
 * Everything the flow reads comes from the in-memory replica and the key cache; the only Redis
 * round trip on a cached key is the one admission script.
 */

export interface ProxyRoute {
  op: Operation;
  format: ClientFormat;
  scope: ScopeFamily;
  /** Gemini carries the model in the path (`{model}`); the others in the body. */
  modelFrom: 'body' | 'path';
  /** Gemini streams by operation; the others by `stream: true`. */
  streamFrom: 'body' | 'operation';
}

export interface ProxyDeps {
  replica: ConfigReplica;
  tokens: TokenCache;
  digester: KeyDigester;
  pools: UpstreamPools;
  limits: LimitsPort;
  health: HealthPort;
  events: ProviderEventsPort;
  logs: { push(record: RequestLogRecord): void };
  metrics: MetricsPort;
  upstreamStats: UpstreamStatsPort;
  logger: Logger;
  limitsConfig: {
    bodyLimitBytes: number;
    maxJsonDepth: number;
    maxAttempts: number;
    /** Defaults when a provider group sets none (ms). */
    connectTimeoutMs: number;
    firstByteTimeoutMs: number;
    idleTimeoutMs: number;
    requestTimeoutMs: number;
    /** Largest non-streamed upstream body read into memory (bytes). */
    maxUpstreamBodyBytes: number;
  };
  now(): number;
  random(): number;
}

export interface ProxyRequest {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  requestId: string;
  params: Readonly<Record<string, string>>;
}

/** Where a finished request stands, for its log record. */
interface Outcome {
  status: number;
  errorCode: string | null;
  errorMessage: string | null;
  attempts: number;
  attempt?: Attempt;
  usage?: Usage;
  usageSource: RequestLogRecord['usage_source'];
  ttftMs: number | null;
  abortReason: string | null;
  namespace: string | null;
  model: string | null;
  stream: boolean;
  key?: TokenView;
  upstreamFormat: ClientFormat | null;
  /** The client's body once read (for `request_body` when the flag is on). */
  rawBody?: Buffer;
  parsedBody?: Record<string, unknown>;
  /** Every upstream call made, for metrics and the per upstream key counters. */
  calls: UpstreamCall[];
  /** Monotonic ms (performance.now) spent waiting on upstream calls; non-stream bodies included. */
  upstreamMs: number;
  /** Monotonic ms (performance.now) when a stream's first event was written to the client. */
  firstWriteAt: number | null;
  /** Estimated prompt tokens of the client's body (billed with the delivered text of an aborted stream). */
  promptEstimate: number;
  /** True once the upstream answered and something came of it: usage reported, a body, or stream output (docs/budgets.md). */
  billed: boolean;
  cost: Cost;
}

type UpstreamCall = ProxiedRequest['attempts'][number] & { apiKeyId: number };

/**
 * Per upstream key counters of one request: every call counts as a request of its key, 2xx as a
 * success, anything else but a client abort as a failure; the request's tokens go to the key
 * whose 2xx answer served it (the last call).
 */
export function upstreamKeyUsage(calls: readonly UpstreamCall[], tokens: number): UpstreamKeyUsage[] {
  const byKey = new Map<number, UpstreamKeyUsage>();
  calls.forEach((call, index) => {
    let entry = byKey.get(call.apiKeyId);
    if (!entry) {
      entry = { apiKeyId: call.apiKeyId, requests: 0, success: 0, failure: 0, faults: 0, tokens: 0 };
      byKey.set(call.apiKeyId, entry);
    }
    entry.requests++;
    if (call.outcome === 'success') entry.success++;
    else if (call.outcome !== 'aborted') entry.failure++;
    if (PROVIDER_FAULTS.has(call.outcome)) entry.faults++;
    if (index === calls.length - 1 && call.outcome === 'success') entry.tokens += Math.max(0, Math.round(tokens));
  });
  return [...byKey.values()];
}

/** Attempt outcomes that count against the provider (the provider-down alert), see UpstreamKeyUsage.faults. */
const PROVIDER_FAULTS: ReadonlySet<AttemptOutcome> = new Set<AttemptOutcome>(['connect_error', 'timeout', 'status_5xx', 'status_401_403', 'error']);

const RETRYABLE_STATUS = new Set([408, 409, 425, 429, 500, 502, 503, 504, 529]);

function parseRetryAfterMs(value: string | string[] | undefined, nowMs: number): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (!raw) return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1_000, 3_600_000);
  const date = Date.parse(raw);
  return Number.isFinite(date) ? Math.max(0, Math.min(date - nowMs, 3_600_000)) : undefined;
}

function clientIp(req: IncomingMessage): string | undefined {
  return req.socket.remoteAddress ?? undefined;
}

async function readJsonBody(req: IncomingMessage, limits: ProxyDeps['limitsConfig'], onRead: (raw: Buffer) => void): Promise<{ raw: Buffer; text: string; body: Record<string, unknown> }> {
  let raw: Buffer;
  try {
    raw = await readBoundedBody(req, limits.bodyLimitBytes);
  } catch (err) {
    if (err instanceof BodyTooLargeError) throw gatewayErrors.payloadTooLarge(limits.bodyLimitBytes);
    throw gatewayErrors.invalidBody('The request body could not be read');
  }
  onRead(raw);
  // JSON is UTF-8 (RFC 8259): invalid bytes are refused, not silently replaced and forwarded.
  if (!isUtf8(raw)) throw gatewayErrors.invalidBody('The request body is not valid UTF-8');
  const text = raw.toString('utf8');
  if (jsonDepthExceeds(text, limits.maxJsonDepth)) throw gatewayErrors.invalidBody(`The request body nests deeper than ${limits.maxJsonDepth} levels`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw gatewayErrors.invalidJson();
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw gatewayErrors.invalidBody('The request body must be a JSON object');
  return { raw, text, body: body as Record<string, unknown> };
}

/** Authenticates the client key: every failure is the same 401; Redis trouble is a 503. */
export async function authenticate(deps: ProxyDeps, request: Pick<ProxyRequest, 'req' | 'url' | 'requestId'>): Promise<{ token: TokenView; master: MasterView }> {
  const extracted = extractClientKey(request.req.headers, request.url.searchParams);
  if (!extracted) throw gatewayErrors.missingApiKey();
  if (!/^[\x21-\x7e]{8,512}$/.test(extracted.key)) throw gatewayErrors.invalidApiKey();
  let token: TokenView | undefined;
  try {
    token = await deps.tokens.get(deps.digester.digest(extracted.key));
  } catch (err) {
    throw gatewayErrors.unavailable(err);
  }
  if (!token) throw gatewayErrors.invalidApiKey();
  let master: MasterView | undefined;
  try {
    master = await deps.replica.master(token.masterId);
  } catch (err) {
    throw gatewayErrors.unavailable(err);
  }
  const refusal = checkKey(token, master, deps.now(), clientIp(request.req));
  if (refusal === 'key_exhausted') throw gatewayErrors.insufficientQuota('key', token.quotaLimit);
  if (refusal || !master) {
    deps.logger.debug({ requestId: request.requestId, keyId: token.id, refusal }, 'client key refused');
    throw gatewayErrors.invalidApiKey();
  }
  return { token, master };
}

function spendRequest(token: TokenView, master: MasterView, estimate: { tokens: number; micros: number }): SpendRequest {
  return {
    key: { quotaLimitMicros: token.quotaLimit, quotaUsedMicros: token.quotaUsed, budgets: token.budgets },
    master: { quotaLimitMicros: master.quotaLimit, quotaUsedMicros: master.quotaUsed, budgets: master.budgets },
    estimatedMicros: estimate.micros,
    estimatedTokens: estimate.tokens,
  };
}

/** A limiter refusal as the client sees it; a used-up lifetime quota is also reported to the control plane. */
function refusalError(deps: ProxyDeps, refusal: Extract<AdmitResult, { ok: false }>, token: TokenView, master: MasterView): GatewayError {
  switch (refusal.reason) {
    case 'key_quota':
    case 'master_quota': {
      const subject = refusal.reason === 'key_quota' ? 'key' : 'master';
      deps.events.quotaExhausted({ subject, id: subject === 'key' ? token.id : master.id, spentMicros: refusal.spentMicros ?? 0, at: new Date(deps.now()).toISOString() });
      return gatewayErrors.insufficientQuota(subject, subject === 'key' ? token.quotaLimit : undefined);
    }
    case 'key_budget':
    case 'master_budget':
      if (refusal.period && refusal.metric) {
        return gatewayErrors.budgetExceeded(refusal.reason === 'key_budget' ? 'key' : 'master', refusal.period, refusal.metric, refusal.limit, refusal.retryAfterMs);
      }
      break;
    default:
      break;
  }
  return gatewayErrors.rateLimited(`Rate limit reached (${refusal.reason}: ${refusal.limit})`, refusal.retryAfterMs);
}

export async function handleProxy(deps: ProxyDeps, route: ProxyRoute, request: ProxyRequest): Promise<void> {
  const started = deps.now();
  const startedMono = performance.now();
  const { res } = request;
  const outcome: Outcome = {
    status: 0,
    errorCode: null,
    errorMessage: null,
    attempts: 0,
    usageSource: null,
    ttftMs: null,
    abortReason: null,
    namespace: null,
    model: null,
    stream: false,
    upstreamFormat: null,
    calls: [],
    upstreamMs: 0,
    firstWriteAt: null,
    promptEstimate: 0,
    billed: false,
    cost: NO_COST,
  };
  // Client disconnect aborts the upstream in every phase (waiting, streaming).
  const abort = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) {
      outcome.abortReason ??= 'client_disconnected';
      abort.abort(new Error('client disconnected'));
    }
  };
  res.once('close', onClose);
  let master: MasterView | undefined;
  let settle: Extract<AdmitResult, { ok: true }>['settle'] | undefined;
  try {
    // An announced oversized body is refused before anything else, and never read.
    if (declaredLengthExceeds(request.req, deps.limitsConfig.bodyLimitBytes)) throw gatewayErrors.payloadTooLarge(deps.limitsConfig.bodyLimitBytes);
    const auth = await authenticate(deps, request);
    master = auth.master;
    outcome.key = auth.token;
    const { raw, text, body } = await readJsonBody(request.req, deps.limitsConfig, (read) => (outcome.rawBody = read));
    outcome.parsedBody = body;
    const stream = route.streamFrom === 'operation' ? route.op === 'stream_generate_content' : body.stream === true;
    outcome.stream = stream;
    const requested = route.modelFrom === 'path' ? (request.params.model ?? '') : body.model;
    if (typeof requested !== 'string' || requested.trim() === '') throw gatewayErrors.invalidBody('`model` is required and must be a string', 'model');
    if (!scopeAllows(auth.token.scopes, route.scope)) throw gatewayErrors.forbidden(`This key may not use ${route.scope} endpoints`);
    if (route.op === 'responses') {
      // Refused before routing and admission; the responses bridge applies the same rule to the body.
      const ingress = responsesIngress(body);
      if (!ingress.ok) throw gatewayErrors.invalidBody(ingress.message, ingress.field);
    }

    const snapshot = deps.replica.snapshot;
    const ref = parseModelRef(requested, defaultNamespaceOf(auth.token, auth.master), snapshot.namespaces);
    outcome.namespace = ref.namespace;
    outcome.model = ref.model;
    if (!effectiveNamespaces(auth.token, auth.master).includes(ref.namespace) || !modelAllowed(auth.token, ref.namespace, ref.model)) {
      throw gatewayErrors.modelNotFound(requested);
    }
    const routeGroup = auth.token.group || auth.master.group;
    const binding = findBinding(snapshot, ref.namespace, ref.model, routeGroup);
    if (!binding) throw gatewayErrors.modelNotFound(requested);
    const nowMs = deps.now();
    const plan = planAttempts(binding, {
      providers: snapshot.providers,
      isAvailable: (id) => deps.health.isAvailable(id, nowMs),
      random: deps.random,
      nowMs,
      maxAttempts: deps.limitsConfig.maxAttempts,
      routeGroup,
    });
    if (plan.length === 0) throw gatewayErrors.noUpstream();

    outcome.promptEstimate = estimateTokens(text);
    const admitted = await deps.limits.admit({
      masterId: auth.master.id,
      masterQps: auth.master.globalQps,
      keyId: auth.token.id,
      keyRpm: auth.token.rpmLimit,
      keyTpm: auth.token.tpmLimit,
      // TPM: the request's own output cap only (the spend estimate below also assumes a default).
      estimatedTokens: outcome.promptEstimate + requestedOutputTokens(body),
      requestId: request.requestId,
      // Only keys or masters with a quota or a budget pay for the estimate and the spend counters.
      ...(auth.token.spendLimited || auth.master.spendLimited ? { spend: spendRequest(auth.token, auth.master, estimateSpend(plan, snapshot.models, ref, outcome.promptEstimate, body)) } : {}),
    });
    if (!admitted.ok) throw refusalError(deps, admitted, auth.token, auth.master);
    settle = admitted.settle;

    await forward(deps, route, request, { raw, body, stream, publicModel: requested, plan, features: snapshot.features }, outcome, abort.signal);
  } catch (err) {
    const error = err instanceof GatewayError ? err : undefined;
    if (!error) throw err;
    outcome.status = error.status;
    outcome.errorCode = error.code;
    outcome.errorMessage = error.message;
    throw err;
  } finally {
    res.off('close', onClose);
    // A request that is not billed (refused, or failed before any output) costs nothing and is refunded.
    if (!outcome.billed) outcome.usage = undefined;
    // Counting tokens is free upstream, so it is free here too.
    outcome.cost = requestCost(outcome.billed && route.op !== 'count_tokens', outcome.usage, outcome.attempt, deps.replica.snapshot.models, outcome);
    const total = (outcome.usage?.prompt_tokens ?? 0) + (outcome.usage?.completion_tokens ?? 0);
    if (settle) void settle(total, { costMicros: usdToMicros(outcome.cost.actual), billed: outcome.billed }).catch(() => undefined);
    if (outcome.key) deps.logs.push(logRecord(request, route, outcome, master, started, deps.now(), deps.replica.snapshot.features));
    recordMetrics(deps, route, outcome, startedMono);
    if (outcome.calls.length > 0) recordUpstreamStats(deps, outcome, total);
  }
}

/** Hands the per upstream key counters to the port (one pipelined Redis call, not awaited). */
function recordUpstreamStats(deps: ProxyDeps, outcome: Outcome, tokens: number): void {
  try {
    deps.upstreamStats.record(upstreamKeyUsage(outcome.calls, tokens), deps.now());
  } catch (err) {
    deps.logger.warn({ err: { message: (err as Error).message } }, 'recording upstream key counters failed');
  }
}

/** The one place a proxied request reaches the metrics (labels bounded here). */
function recordMetrics(deps: ProxyDeps, route: ProxyRoute, outcome: Outcome, startedMono: number): void {
  try {
    const totalMs = performance.now() - startedMono;
    const reachedUpstream = outcome.calls.length > 0;
    deps.metrics.proxied({
      status: outcome.abortReason === 'client_disconnected' ? 'aborted' : String(outcome.status || 500),
      model: publicModelLabel(deps.replica.snapshot, outcome.model),
      providerType: outcome.calls[outcome.calls.length - 1]?.providerType ?? 'none',
      formatIn: route.format,
      attempts: outcome.calls,
      ttftSeconds: outcome.stream && outcome.firstWriteAt !== null ? (outcome.firstWriteAt - startedMono) / 1_000 : null,
      overheadSeconds: !outcome.stream && reachedUpstream ? (totalMs - outcome.upstreamMs) / 1_000 : null,
    });
  } catch (err) {
    deps.logger.warn({ err: { message: (err as Error).message } }, 'recording proxy metrics failed');
  }
}

interface ForwardInput {
  raw: Buffer;
  body: Record<string, unknown>;
  stream: boolean;
  publicModel: string;
  plan: Attempt[];
  features: Readonly<Record<string, string>>;
}

type AttemptFailure =
  | { kind: 'transport'; failure: TransportFailure }
  | { kind: 'status'; status: number; retryAfterMs?: number; message?: string }
  | { kind: 'config'; message: string };

async function forward(deps: ProxyDeps, route: ProxyRoute, request: ProxyRequest, input: ForwardInput, outcome: Outcome, signal: AbortSignal): Promise<void> {
  const { res } = request;
  const deadline = deps.now() + deps.limitsConfig.requestTimeoutMs;
  let lastFailure: AttemptFailure | undefined;
  for (const attempt of input.plan) {
    if (signal.aborted) return;
    if (deps.now() >= deadline) break;
    const adapter = adapterFor(attempt.provider.type);
    const bridge = adapter ? bridgeFor(route.op, route.format, adapter.wireFormat, input.features, adapter.supports) : undefined;
    if (!adapter || !bridge || !adapter.supports(bridge.upstreamOp(input.stream))) {
      lastFailure = { kind: 'config', message: `provider ${attempt.provider.id} cannot serve ${route.op} for ${route.format} clients` };
      continue;
    }
    const provider = attempt.provider;
    const timeouts = {
      connect: provider.timeouts.connect_ms ?? deps.limitsConfig.connectTimeoutMs,
      firstByte: provider.timeouts.first_byte_ms ?? deps.limitsConfig.firstByteTimeoutMs,
      idle: provider.timeouts.idle_ms ?? deps.limitsConfig.idleTimeoutMs,
    };
    let target;
    let body: Buffer | string;
    try {
      body = bridge.requestBody({ body: input.body, raw: input.raw, publicModel: input.publicModel, upstreamModel: attempt.upstreamModel, stream: input.stream });
      if (adapter.wrapBody) {
        body = JSON.stringify(
          adapter.wrapBody(JSON.parse(body.toString()) as Record<string, unknown>, {
            op: bridge.upstreamOp(input.stream),
            provider,
            upstreamModel: attempt.upstreamModel,
            stream: input.stream,
            requestId: request.requestId,
          }),
        );
      }
      target = adapter.target({ op: bridge.upstreamOp(input.stream), provider, upstreamModel: attempt.upstreamModel, stream: input.stream });
    } catch (err) {
      if (err instanceof ProviderConfigError) {
        lastFailure = { kind: 'config', message: err.message };
        continue;
      }
      outcome.attempt = attempt;
      outcome.upstreamFormat = adapter.wireFormat;
      throw err; // translation refusals (400) and the like end the request
    }
    // A half-open key lets one probe through; when another request holds it, try the next key.
    if (!deps.health.acquire(provider.id, deps.now())) {
      deps.logger.debug({ requestId: request.requestId, provider: provider.id }, 'upstream key is being probed; skipped');
      continue;
    }
    outcome.attempts++;
    outcome.attempt = attempt;
    outcome.upstreamFormat = adapter.wireFormat;
    const attemptStarted = deps.now();
    const sentAt = performance.now();
    const call: UpstreamCall = { providerType: provider.type, outcome: 'error', headersSeconds: null, apiKeyId: provider.id };
    outcome.calls.push(call);
    // The attempt's own bound: the group's request timeout, capped by what is left of the overall
    // deadline. One timer, armed only when the bound can cut something the existing timeouts do not:
    // a group bound, or a stream read (the client's or an always-streaming upstream's; a non-stream
    // answer's wait for headers is already capped below).
    const leftMs = deadline - attemptStarted;
    const groupMs = provider.timeouts.request_ms;
    const bound = groupMs !== null || input.stream || adapter.alwaysStreams ? boundAttempt(signal, Math.max(1, Math.min(leftMs, groupMs ?? Infinity))) : undefined;
    try {
      let upstream;
      try {
        const pool = deps.pools.get(target.origin, { connectTimeoutMs: timeouts.connect });
        upstream = await pool.request({
          method: 'POST',
          path: target.path,
          headers: { ...upstreamHeaders(target.headers, request.req.headers, bridge.upstreamOp(input.stream)), 'content-length': String(Buffer.byteLength(body)) },
          body,
          signal: bound?.signal ?? signal,
          headersTimeout: Math.max(1, Math.min(timeouts.firstByte, leftMs)),
          bodyTimeout: timeouts.idle,
        });
      } catch (err) {
        outcome.upstreamMs += performance.now() - sentAt;
        if (signal.aborted) {
          call.outcome = 'aborted';
          // No verdict on the key: a half-open probe it held is free for the next request.
          deps.health.release(provider.id, deps.now());
          return;
        }
        let failure = classifyTransportError(err);
        // A wait for headers cut short by the overall deadline is the request's timeout, not the first byte's.
        if (failure === 'first_byte_timeout' && leftMs < timeouts.firstByte) failure = 'request_timeout';
        call.outcome = transportOutcome(failure);
        deps.health.recordFailure(provider.id, deps.now());
        deps.logger.debug({ requestId: request.requestId, provider: provider.id, failure }, 'upstream attempt failed');
        lastFailure = { kind: 'transport', failure };
        continue;
      }

      call.headersSeconds = (performance.now() - sentAt) / 1_000;
      call.outcome = statusOutcome(upstream.statusCode);
      if (upstream.statusCode >= 200 && upstream.statusCode < 300) {
        deps.health.recordSuccess(provider.id, deps.now());
        const ctx: BridgeResponseContext = {
          requestId: request.requestId,
          publicModel: input.publicModel,
          created: Math.floor(deps.now() / 1_000),
          clientWantsUsage: (input.body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true,
        };
        const upstreamStreams = input.stream || adapter.alwaysStreams;
        if (input.stream) await relayStream(deps, request, bridge, adapter.unwrapEvent, upstream.body, ctx, outcome, signal);
        else if (upstreamStreams) await relayAggregated(deps, res, route.op, bridge, adapter.unwrapEvent, upstream.body, ctx, outcome, sentAt, signal);
        else await relayJson(deps, res, bridge, adapter.unwrapEvent, upstream.body, upstream.headers, ctx, outcome, sentAt);
        return;
      }

      // An error before any byte reached the client: decide whether another attempt may help.
      const status = upstream.statusCode;
      const text = await readLimited(upstream.body, 64 * 1024).catch(() => '');
      outcome.upstreamMs += performance.now() - sentAt;
      const message = bridge.errorMessage(safeJson(text));
      const retryAfterMs = parseRetryAfterMs(upstream.headers['retry-after'], deps.now());
      if (status === 401 || status === 403) {
        deps.health.recordFailure(provider.id, deps.now());
        if (status === 401 && (OAUTH_TYPES as ReadonlySet<string>).has(provider.type)) {
          // An OAuth access token was refused: have it renewed (token-refresh) instead of banning the key.
          deps.events.oauthUnauthorized({ apiKeyId: provider.id, at: new Date(deps.now()).toISOString() });
        } else if (provider.auto_ban) {
          deps.health.ban(provider.id, `upstream answered ${status}`, null);
          deps.events.autoBan({ apiKeyId: provider.id, reason: `upstream answered ${status}`, until: null, statusCode: status, at: new Date(deps.now()).toISOString() });
        }
        lastFailure = { kind: 'status', status: 502, message: 'The upstream provider refused the gateway credentials' };
        continue;
      }
      if (status === 429) {
        deps.health.coolDown(provider.id, deps.now() + (retryAfterMs ?? 30_000));
        lastFailure = { kind: 'status', status, retryAfterMs: retryAfterMs ?? 1_000, ...(message ? { message } : {}) };
        continue;
      }
      if (RETRYABLE_STATUS.has(status) || status >= 500) {
        deps.health.recordFailure(provider.id, deps.now());
        lastFailure = { kind: 'status', status, ...(message ? { message } : {}) };
        continue;
      }
      // 400 and friends: the request itself is wrong; another upstream would say the same. The key
      // answered, so it counts as healthy (classifyUpstream), which also settles a half-open probe.
      deps.health.recordSuccess(provider.id, deps.now());
      throw new GatewayError(status === 404 ? 'model_not_found' : 'invalid_request', redactString(message ?? `The upstream provider refused the request (${status})`));
    } finally {
      bound?.clear();
    }
  }
  throw failureToError(lastFailure);
}

/** One attempt's time bound: a signal for the upstream call that the bound's timer and the client's abort both trip. */
interface AttemptBound {
  signal: AbortSignal;
  clear(): void;
}

function boundAttempt(client: AbortSignal, ms: number): AttemptBound {
  const controller = new AbortController();
  const follow = () => controller.abort(client.reason);
  client.addEventListener('abort', follow, { once: true });
  const timer = setTimeout(() => controller.abort(new RequestTimeoutError(ms)), ms);
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer);
      client.removeEventListener('abort', follow);
    },
  };
}

function transportOutcome(failure: TransportFailure): AttemptOutcome {
  switch (failure) {
    case 'connect_timeout':
    case 'first_byte_timeout':
    case 'idle_timeout':
    case 'request_timeout':
      return 'timeout';
    case 'connect_error':
    case 'connection_closed':
      return 'connect_error';
    case 'aborted':
      return 'aborted';
    case 'refused_address':
      return 'refused_address';
    case 'other':
      return 'error';
  }
}

function statusOutcome(status: number): AttemptOutcome {
  if (status >= 200 && status < 300) return 'success';
  if (status === 429) return 'status_429';
  if (status === 401 || status === 403) return 'status_401_403';
  if (status >= 500) return 'status_5xx';
  return 'status_4xx';
}

/** What the client (and the log row) is told about a transport failure: the reason, by name. */
const TRANSPORT_MESSAGES: Record<TransportFailure, string> = {
  connect_timeout: 'The upstream provider did not accept a connection in time (connect_timeout)',
  first_byte_timeout: 'The upstream provider did not answer in time (first_byte_timeout)',
  idle_timeout: 'The upstream provider stopped sending its answer (idle_timeout)',
  request_timeout: 'The upstream provider did not finish its answer within the request timeout (request_timeout)',
  connect_error: 'The upstream provider could not be reached or closed the connection (connect_error)',
  connection_closed: 'The upstream provider closed the connection before finishing its answer (connection_closed)',
  refused_address: 'The upstream address is not allowed (refused_address)',
  aborted: 'The upstream call was aborted',
  other: 'The upstream provider failed to answer',
};

function transportError(failure: TransportFailure): GatewayError {
  const timedOut = failure === 'first_byte_timeout' || failure === 'connect_timeout' || failure === 'idle_timeout' || failure === 'request_timeout';
  return timedOut ? gatewayErrors.upstreamTimeout(TRANSPORT_MESSAGES[failure]) : gatewayErrors.upstreamFailed(TRANSPORT_MESSAGES[failure]);
}

function failureToError(failure: AttemptFailure | undefined): GatewayError {
  if (!failure || failure.kind === 'config') return gatewayErrors.noUpstream();
  if (failure.kind === 'transport') return transportError(failure.failure);
  if (failure.status === 429) return gatewayErrors.rateLimited('The upstream provider is rate limiting; retry later', failure.retryAfterMs ?? 1_000);
  return gatewayErrors.upstreamFailed(failure.message ? `The upstream provider failed: ${redactString(failure.message)}` : undefined);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

async function readLimited(body: AsyncIterable<Buffer>, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) throw new Error(`upstream body exceeds ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function relayJson(
  deps: ProxyDeps,
  res: ServerResponse,
  bridge: Bridge,
  unwrap: ((payload: Record<string, unknown>) => Record<string, unknown>) | undefined,
  body: AsyncIterable<Buffer>,
  headers: Record<string, string | string[] | undefined>,
  ctx: BridgeResponseContext,
  outcome: Outcome,
  sentAt: number,
): Promise<void> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      size += chunk.length;
      if (size > deps.limitsConfig.maxUpstreamBodyBytes) throw gatewayErrors.upstreamFailed('The upstream response is too large');
      chunks.push(chunk);
    }
  } catch (err) {
    // The client left while the body was read: nothing to answer; the row says 499.
    if (outcome.abortReason === 'client_disconnected') return;
    // Headers came, then the body stalled or broke: nothing reached the client yet, so it gets a
    // 504/502 naming the reason.
    const failure = err instanceof GatewayError ? undefined : classifyBodyError(err);
    throw failure && failure !== 'aborted' ? transportError(failure) : err;
  } finally {
    outcome.upstreamMs += performance.now() - sentAt;
  }
  const raw = Buffer.concat(chunks);
  const parsed = safeJson(raw.toString('utf8'));
  if (typeof parsed !== 'object' || parsed === null) throw gatewayErrors.upstreamFailed('The upstream answered with something other than JSON');
  const upstreamJson = unwrap ? unwrap(parsed as Record<string, unknown>) : (parsed as Record<string, unknown>);
  const { body: out, usage } = bridge.response(upstreamJson, unwrap ? Buffer.from(JSON.stringify(upstreamJson)) : raw, ctx);
  outcome.usage = usage;
  outcome.usageSource = usage ? 'upstream' : 'estimated';
  outcome.billed = true;
  outcome.status = 200;
  const type = headers['content-type'];
  res.writeHead(200, { 'content-type': typeof type === 'string' && bridge.clientFormat === bridge.upstreamFormat ? type : 'application/json', 'content-length': Buffer.byteLength(out) });
  res.end(out);
  const answeredAt = deps.now();
  outcome.ttftMs = answeredAt - (outcome.ttftMs ?? answeredAt);
}

/** Writes and waits for the socket to drain: a slow client slows the upstream read, never buffers it. */
async function write(res: ServerResponse, text: string): Promise<void> {
  if (text === '' || res.destroyed) return;
  if (!res.write(text)) await new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

async function relayStream(
  deps: ProxyDeps,
  request: ProxyRequest,
  bridge: Bridge,
  unwrap: ((payload: Record<string, unknown>) => Record<string, unknown>) | undefined,
  body: AsyncIterable<Buffer> & { destroy?(err?: Error): void },
  ctx: BridgeResponseContext,
  outcome: Outcome,
  signal: AbortSignal,
): Promise<void> {
  const { res } = request;
  const started = deps.now();
  const translator = bridge.stream(ctx);
  const parser = createSseParser();
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no', 'x-request-id': request.requestId });
  res.flushHeaders();
  outcome.status = 200;
  const emit = async (events: ReturnType<typeof parser.push>) => {
    for (const event of events) {
      let e = event;
      if (unwrap && e.data && e.data !== '[DONE]') {
        const parsed = safeJson(e.data);
        if (typeof parsed === 'object' && parsed !== null) e = { ...e, data: JSON.stringify(unwrap(parsed as Record<string, unknown>)) };
      }
      const out = translator.push(e);
      if (out && outcome.ttftMs === null) {
        outcome.ttftMs = deps.now() - started;
        outcome.firstWriteAt = performance.now();
      }
      await write(res, out);
    }
  };
  try {
    for await (const chunk of body) {
      if (signal.aborted) break;
      await emit(parser.push(chunk));
    }
    if (!signal.aborted) {
      await emit(parser.end());
      await write(res, translator.end());
    }
  } catch (err) {
    if (!signal.aborted) {
      const failure = classifyBodyError(err);
      outcome.abortReason = `upstream_${failure}`;
      outcome.errorCode = 'upstream_stream_failed';
      outcome.errorMessage = failure === 'request_timeout' ? 'The upstream stream ran past the request timeout (request_timeout)' : 'The upstream stream failed after it had started';
      await write(res, translator.fail('The upstream stream failed; the response is incomplete')).catch(() => undefined);
    }
  } finally {
    const usage = translator.usage();
    if (usage) {
      outcome.usage = usage;
      outcome.usageSource = 'upstream';
      outcome.billed = true;
    } else {
      // No usage from the upstream (the client left, or the stream broke): bill what was delivered,
      // the prompt estimate plus the delivered text; nothing when nothing reached the client.
      outcome.usage = { prompt_tokens: outcome.promptEstimate, completion_tokens: estimateTokens(translator.deliveredText()), cache_read_tokens: 0, cache_write_tokens: 0 };
      outcome.usageSource = 'estimated';
      outcome.billed = outcome.firstWriteAt !== null;
    }
    if (!res.destroyed) res.end();
  }
}

/**
 * An upstream that always streams (Codex) for a client that did not ask to: the upstream events go
 * through the translator a streaming client's would, and the client-format events it writes are
 * folded into the one JSON answer of the client's format (translate/aggregate.ts). Nothing reaches
 * the client before the stream ended complete: an error event or an early end is a 502 in the
 * client's format, never a half answer. The body is bounded and timed like relayJson's.
 */
async function relayAggregated(
  deps: ProxyDeps,
  res: ServerResponse,
  op: Operation,
  bridge: Bridge,
  unwrap: ((payload: Record<string, unknown>) => Record<string, unknown>) | undefined,
  body: AsyncIterable<Buffer> & { destroy?(err?: Error): void },
  ctx: BridgeResponseContext,
  outcome: Outcome,
  sentAt: number,
  signal: AbortSignal,
): Promise<void> {
  const aggregator = aggregatorFor(bridge.clientFormat, op);
  if (!aggregator) {
    body.destroy?.();
    outcome.upstreamMs += performance.now() - sentAt;
    throw gatewayErrors.upstreamFailed(`The upstream answers ${op} only as a stream, which cannot be aggregated`);
  }
  // Every non-stream answer carries usage, so the translator is asked for it (OpenAI include_usage).
  const translator = bridge.stream({ ...ctx, clientWantsUsage: true });
  const upstreamEvents = createSseParser();
  const clientEvents = createSseParser();
  const fold = (text: string) => {
    if (text) for (const event of clientEvents.push(text)) aggregator.push(event);
  };
  const feed = (events: ReturnType<typeof upstreamEvents.push>) => {
    for (const event of events) {
      let e = event;
      if (unwrap && e.data && e.data !== '[DONE]') {
        const parsed = safeJson(e.data);
        if (typeof parsed === 'object' && parsed !== null) e = { ...e, data: JSON.stringify(unwrap(parsed as Record<string, unknown>)) };
      }
      fold(translator.push(e));
    }
  };
  let answer: Record<string, unknown>;
  let size = 0;
  try {
    for await (const chunk of body) {
      size += chunk.length;
      if (size > deps.limitsConfig.maxUpstreamBodyBytes) throw gatewayErrors.upstreamFailed('The upstream response is too large');
      feed(upstreamEvents.push(chunk));
    }
    feed(upstreamEvents.end());
    fold(translator.end());
    for (const event of clientEvents.end()) aggregator.push(event);
    answer = aggregator.finish();
  } catch (err) {
    // The client left (its close aborted the upstream body): nobody to answer, nothing billed (499).
    if (signal.aborted) return;
    if (err instanceof AggregateStreamError) {
      throw gatewayErrors.upstreamFailed(err.fromUpstream ? `The upstream provider failed: ${redactString(err.message)}` : err.message);
    }
    // As relayJson: a stalled or broken body is a 504/502 naming the reason; a client abort stays as it is.
    const failure = err instanceof GatewayError ? undefined : classifyBodyError(err);
    throw failure && failure !== 'aborted' ? transportError(failure) : err;
  } finally {
    outcome.upstreamMs += performance.now() - sentAt;
  }
  const usage = translator.usage();
  // Without upstream usage, bill as a stream would: the prompt estimate plus the delivered text.
  outcome.usage = usage ?? { prompt_tokens: outcome.promptEstimate, completion_tokens: estimateTokens(translator.deliveredText()), cache_read_tokens: 0, cache_write_tokens: 0 };
  outcome.usageSource = usage ? 'upstream' : 'estimated';
  outcome.billed = true;
  outcome.status = 200;
  const out = JSON.stringify(answer);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
  res.end(out);
  const answeredAt = deps.now();
  outcome.ttftMs = answeredAt - (outcome.ttftMs ?? answeredAt);
}

function logRecord(
  request: ProxyRequest,
  route: ProxyRoute,
  outcome: Outcome,
  master: MasterView | undefined,
  started: number,
  ended: number,
  features: Readonly<Record<string, string>>,
): RequestLogRecord {
  const provider: ProviderSnapshot | undefined = outcome.attempt?.provider;
  return {
    request_id: request.requestId,
    created_at: new Date(started).toISOString(),
    master_id: master?.id ?? outcome.key?.masterId ?? null,
    key_id: outcome.key?.id ?? null,
    namespace: outcome.namespace,
    model: outcome.model,
    upstream_model: outcome.attempt?.upstreamModel ?? null,
    provider_group_id: provider?.group_id ?? null,
    api_key_id: provider?.id ?? null,
    format_in: route.format,
    format_out: outcome.upstreamFormat,
    stream: outcome.stream,
    // A client that left before any answer gets 499 (nginx's "client closed request"), not a 500
    // that would count as the gateway's failure in stats and alerts.
    status_code: outcome.status || (outcome.abortReason === 'client_disconnected' ? 499 : 500),
    error_code: outcome.errorCode,
    error_message: outcome.errorMessage ? redactString(outcome.errorMessage).slice(0, 1_000) : null,
    latency_ms: Math.max(0, Math.round(ended - started)),
    ttft_ms: outcome.ttftMs === null ? null : Math.round(outcome.ttftMs),
    prompt_tokens: outcome.usage?.prompt_tokens ?? 0,
    completion_tokens: outcome.usage?.completion_tokens ?? 0,
    cache_read_tokens: outcome.usage?.cache_read_tokens ?? 0,
    cache_write_tokens: outcome.usage?.cache_write_tokens ?? 0,
    cost_list: outcome.cost.list,
    cost_actual: outcome.cost.actual,
    usage_source: outcome.usageSource,
    client_ip: clientIp(request.req) ?? null,
    attempts: outcome.attempts,
    request_body: features.log_request_body_enabled === 'true' && outcome.rawBody ? requestBodyForLog(outcome.rawBody, outcome.parsedBody) : null,
    abort_reason: outcome.abortReason,
  };
}
