import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import type { Config } from '../lib/config.js';
import { clientErrorHandler, serverTimeouts, type ClientErrorKind } from '../lib/client-error.js';
import { listen, type RunningServer } from '../lib/http-server.js';
import { KeyDigester } from '../lib/key-digest.js';
import type { Logger } from '../lib/logger.js';
import { redisCall } from './redis-call.js';
import { TokenCache } from './auth/token-cache.js';
import { ConfigReplica } from './config/replica.js';
import { createHealthStore } from './health/index.js';
import { createQueueLogBuffer } from './logs/log-queue.js';
import type { LogBuffer } from './logs/log-buffer.js';
import { handleProxy, type ProxyDeps, type ProxyRoute } from './proxy/engine.js';
import { geminiModelList, listModels, openaiModelList } from './proxy/models-list.js';
import { UpstreamPools } from './proxy/upstream-pool.js';
import { createAfterResponseBatch } from './proxy/after-response-batch.js';
import { healthPort, limitsPort, providerEventsPort, upstreamStatsPort } from './proxy/wiring.js';
import { createQueues } from '../../jobs/queues.js';
import { formatForPath, gatewayErrors, GatewayError, renderError, toGatewayError, type ClientFormat, type GatewayErrorCode } from './errors.js';
import { requestIdFrom, sendJson, sendText } from './http.js';
import { createGatewayMetrics, type GatewayMetrics } from './metrics.js';
import { Router, type Params } from './router.js';

/**
 * The gateway process (DESIGN §1, §6, §7): node:http and ioredis only — never PostgreSQL.
 * This is the skeleton: routing, request ids, key extraction and lookup, client-format errors,
 * health and metrics. Proxying itself arrives with the gateway issue (authenticated requests get
 * 501 until then).
 */
export interface GatewayDeps {
  config: Config;
  secrets: { master: string };
  /** Owned by the caller (closed by it after the server). Reads `config:version`, `auth:token:*`. */
  redis: Redis;
  logger: Logger;
}

/** Bound on every Redis call made while answering a request. */
const REDIS_TIMEOUT_MS = 1_000;
/** Above common load-balancer idle timeouts (60 s), so the balancer closes idle sockets first. */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;
/** Redis key bumped by every applied config change (DESIGN §5). */
export const CONFIG_VERSION_KEY = 'config:version';

interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  requestId: string;
  format: ClientFormat;
  params: Params;
}

type Handler = (ctx: RequestContext) => Promise<void>;

/** The provider-facing routes of DESIGN §7: [method, path, route id]. */
export const PROXY_ROUTES: ReadonlyArray<readonly [method: 'GET' | 'POST', path: string, id: string]> = [
  ['POST', '/v1/chat/completions', 'openai_chat_completions'],
  ['POST', '/v1/completions', 'openai_completions'],
  ['POST', '/v1/embeddings', 'openai_embeddings'],
  ['POST', '/v1/responses', 'openai_responses'],
  ['GET', '/v1/models', 'openai_models'],
  ['POST', '/v1/messages', 'anthropic_messages'],
  ['POST', '/v1/messages/count_tokens', 'anthropic_count_tokens'],
  ['POST', '/v1beta/models/{model}:generateContent', 'gemini_generate_content'],
  ['POST', '/v1beta/models/{model}:streamGenerateContent', 'gemini_stream_generate_content'],
  ['GET', '/v1beta/models', 'gemini_models'],
];

function parseVersion(raw: string | null): number {
  const value = raw === null ? 0 : Number(raw);
  return Number.isSafeInteger(value) && value >= 0 ? value : 0;
}

/** Proxy routes: the client dialect, operation and scope of each (DESIGN §7). */
const PROXY_SPECS: Readonly<Record<string, ProxyRoute>> = {
  openai_chat_completions: { op: 'chat', format: 'openai', scope: 'chat', modelFrom: 'body', streamFrom: 'body' },
  openai_completions: { op: 'completions', format: 'openai', scope: 'completions', modelFrom: 'body', streamFrom: 'body' },
  openai_embeddings: { op: 'embeddings', format: 'openai', scope: 'embeddings', modelFrom: 'body', streamFrom: 'body' },
  openai_responses: { op: 'responses', format: 'openai', scope: 'responses', modelFrom: 'body', streamFrom: 'body' },
  anthropic_messages: { op: 'messages', format: 'anthropic', scope: 'chat', modelFrom: 'body', streamFrom: 'body' },
  anthropic_count_tokens: { op: 'count_tokens', format: 'anthropic', scope: 'chat', modelFrom: 'body', streamFrom: 'body' },
  gemini_generate_content: { op: 'generate_content', format: 'gemini', scope: 'chat', modelFrom: 'path', streamFrom: 'operation' },
  gemini_stream_generate_content: { op: 'stream_generate_content', format: 'gemini', scope: 'chat', modelFrom: 'path', streamFrom: 'operation' },
};

interface GatewayParts {
  proxy: ProxyDeps;
  logBuffer: LogBuffer;
}

function buildRouter(deps: GatewayDeps, parts: GatewayParts, metrics: GatewayMetrics, log: Logger): Router<Handler> {
  const { redis } = deps;

  const health: Handler = async ({ res }) => {
    let version: number | null = null;
    let up = false;
    try {
      version = parseVersion(await redisCall(redis, REDIS_TIMEOUT_MS, () => redis.get(CONFIG_VERSION_KEY)));
      up = true;
    } catch (err) {
      log.debug({ err: { message: (err as Error).message } }, 'health: redis is down');
    }
    const snapshot = parts.proxy.replica.snapshot;
    sendJson(
      res,
      up ? 200 : 503,
      {
        status: up ? 'ok' : 'unavailable',
        redis: up ? 'up' : 'down',
        config_version: version,
        loaded_config_version: snapshot.version,
        providers: snapshot.providers.size,
      },
      { 'Cache-Control': 'no-store' },
    );
  };

  // Readiness for load balancers: the server listens only after the replica's first load, so a
  // listening gateway can serve from what it holds, even while Redis is away (DESIGN §9.2).
  const ready: Handler = async ({ res }) => {
    const snapshot = parts.proxy.replica.snapshot;
    sendJson(res, 200, { status: 'ready', loaded_config_version: snapshot.version, providers: snapshot.providers.size }, { 'Cache-Control': 'no-store' });
  };

  const prometheus: Handler = async ({ res }) => {
    const stats = parts.logBuffer.stats();
    metrics.logBuffer(stats.depth, stats.dropped);
    sendText(res, 200, await metrics.registry.metrics(), metrics.registry.contentType);
  };

  const proxy = (spec: ProxyRoute): Handler => async (ctx) => {
    await handleProxy(parts.proxy, spec, { req: ctx.req, res: ctx.res, url: ctx.url, requestId: ctx.requestId, params: ctx.params });
  };

  const models = (format: 'openai' | 'gemini'): Handler => async (ctx) => {
    const listed = await listModels(parts.proxy, { req: ctx.req, url: ctx.url });
    sendJson(ctx.res, 200, format === 'openai' ? openaiModelList(listed) : geminiModelList(listed));
  };

  const router = new Router<Handler>()
    .add('GET', '/health', 'health', health)
    .add('GET', '/health/ready', 'health_ready', ready)
    .add('GET', '/metrics', 'metrics', prometheus);
  for (const [method, path, id] of PROXY_ROUTES) {
    if (id === 'openai_models') router.add(method, path, id, models('openai'));
    else if (id === 'gemini_models') router.add(method, path, id, models('gemini'));
    else router.add(method, path, id, proxy(PROXY_SPECS[id]!));
  }
  return router;
}

export async function startGateway(deps: GatewayDeps & { port?: number; host?: string }): Promise<RunningServer> {
  const { config } = deps;
  const log = deps.logger.child({ module: 'gateway' });
  const subscriber = deps.redis.duplicate({ connectionName: 'ez-api:gateway-subscriber', enableOfflineQueue: true, maxRetriesPerRequest: null });
  subscriber.on('error', () => {});
  const tokens = new TokenCache(deps.redis);
  const replica = new ConfigReplica(deps.redis, subscriber, log, { onKeyInvalidated: (digest) => tokens.invalidate(digest) });
  await replica.start();
  const queues = createQueues(config.redis, config.queuePrefix, ['logs', 'provider-events', 'token-refresh']);
  const healthStore = createHealthStore({ backend: replica.snapshot.features.dp_state_store_backend, redis: deps.redis });
  await healthStore.start();
  const metrics = createGatewayMetrics({
    unavailableUpstreamKeys: () => {
      let count = 0;
      for (const id of replica.snapshot.providers.keys()) if (!healthStore.isAvailable(id)) count++;
      return count;
    },
  });
  const logBuffer = createQueueLogBuffer({ queues, log: config.log, logger: log });
  const pools = new UpstreamPools();
  let lastBatchWarning = 0;
  const afterResponse = createAfterResponseBatch(deps.redis, {
    onError: (err) => {
      if (Date.now() - lastBatchWarning < 5_000) return;
      lastBatchWarning = Date.now();
      log.warn({ err: { message: (err as Error).message } }, 'could not send settles and upstream key counters');
    },
  });
  const limits = limitsPort(deps.redis, (err) => log.debug({ err: { message: (err as Error).message } }, 'limiter degraded to local decisions'), afterResponse);
  const proxyDeps: ProxyDeps = {
    replica,
    tokens,
    // Digests of the 10,000 most recent client keys stay in memory (src/lib/key-digest.ts).
    digester: new KeyDigester(deps.secrets.master, { cacheSize: 10_000 }),
    pools,
    limits,
    health: healthPort(healthStore, log),
    events: providerEventsPort(queues, log),
    logs: { push: (record) => logBuffer.push(record) },
    metrics,
    upstreamStats: upstreamStatsPort(deps.redis, log, '', afterResponse),
    logger: log,
    limitsConfig: {
      bodyLimitBytes: config.http.gatewayBodyLimitBytes,
      // Tool schemas nest deeper than admin payloads; hostile depth is still refused before parsing.
      maxJsonDepth: 128,
      maxAttempts: 4,
      connectTimeoutMs: 5_000,
      firstByteTimeoutMs: 60_000,
      idleTimeoutMs: 60_000,
      requestTimeoutMs: config.http.gatewayDeadlineMs,
      maxUpstreamBodyBytes: 64 * 1024 * 1024,
    },
    now: Date.now,
    random: Math.random,
  };
  const router = buildRouter(deps, { proxy: proxyDeps, logBuffer }, metrics, log);
  const inFlight = new Set<ServerResponse>();
  let closing = false;
  let lastUnavailableLog = 0;

  const replyError = (ctx: RequestContext, routeId: string, err: unknown) => {
    const error = toGatewayError(err);
    if (error.code === 'internal_error') {
      log.error({ requestId: ctx.requestId, route: routeId, err: error.cause ?? error }, 'request failed');
    } else if (error.code === 'service_unavailable' && Date.now() - lastUnavailableLog > 5_000) {
      lastUnavailableLog = Date.now();
      log.warn({ requestId: ctx.requestId, route: routeId, err: { message: (error.cause as Error | undefined)?.message } }, 'redis unavailable');
    }
    if (ctx.res.headersSent) {
      ctx.res.destroy();
      return;
    }
    const { status, body } = renderError(error, ctx.format);
    sendJson(ctx.res, status, body, error.headers);
  };

  const dispatch = async (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    const requestId = requestIdFrom(req.headers['x-request-id']);
    res.setHeader('X-Request-ID', requestId);
    if (closing) res.setHeader('Connection', 'close');
    inFlight.add(res);

    let routeId = 'unmatched';
    res.once('close', () => {
      inFlight.delete(res);
      const status = res.writableFinished ? String(res.statusCode) : 'aborted';
      metrics.observe(routeId, status, (performance.now() - started) / 1_000);
      log.debug({ requestId, method: req.method, route: routeId, status, ms: Math.round(performance.now() - started) }, 'request');
    });

    let url: URL;
    try {
      // Origin-form targets are resolved as paths only, so `//host/x` can never become a host.
      const target = req.url ?? '/';
      url = new URL(target.startsWith('/') ? `http://gateway.invalid${target}` : target);
    } catch {
      const ctx = { req, res, url: new URL('http://gateway.invalid/'), requestId, format: 'openai' as const, params: {} };
      replyError(ctx, routeId, new GatewayError('invalid_request', 'Malformed request target'));
      return;
    }
    const method = req.method ?? 'GET';
    const ctx: RequestContext = { req, res, url, requestId, format: formatForPath(url.pathname), params: {} };
    const match = router.match(method, url.pathname);
    if (match.kind === 'not_found') return replyError(ctx, routeId, gatewayErrors.notFound(method, url.pathname));
    if (match.kind === 'method_not_allowed') {
      return replyError(ctx, routeId, gatewayErrors.methodNotAllowed(method, url.pathname, match.allow));
    }
    routeId = match.route.id;
    ctx.params = match.params;
    try {
      await match.route.handler(ctx);
    } catch (err) {
      replyError(ctx, routeId, err);
    }
  };

  const server = createServer({ ...serverTimeouts(config.http), keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS }, (req, res) => {
    dispatch(req, res).catch((err: unknown) => {
      log.error({ err }, 'unhandled gateway error');
      if (!res.headersSent) sendJson(res, 500, renderError(toGatewayError(err), formatForPath(req.url ?? '/')).body);
      else res.destroy();
    });
  });
  // Requests node's parser refuses or that arrive too slowly: JSON in the OpenAI shape, the one
  // for unknown formats (no path was parsed). docs/http-edge.md
  const clientErrorCodes: Record<ClientErrorKind, GatewayErrorCode> = {
    malformed: 'invalid_request',
    headers_too_large: 'invalid_request',
    chunk_extensions_too_large: 'payload_too_large',
    timeout: 'request_timeout',
  };
  server.on('clientError', clientErrorHandler(log, (reply) => renderError(new GatewayError(clientErrorCodes[reply.kind], reply.message), 'openai').body));

  const running = await listen(server, deps.port ?? config.gatewayPort, deps.host ?? config.host);
  let closed: Promise<void> | undefined;
  return {
    ...running,
    close() {
      closed ??= (async () => {
        closing = true;
        // Answers still being prepared end their connection instead of keeping it alive.
        for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
        const force = setTimeout(() => server.closeAllConnections(), config.http.shutdownTimeoutMs);
        force.unref();
        try {
          await running.close();
        } finally {
          clearTimeout(force);
        }
        // After the last response: flush their settles, counters and logs, then let go of the rest.
        await afterResponse.close();
        await logBuffer.close(config.http.shutdownTimeoutMs);
        await replica.close();
        await healthStore.close();
        await pools.close();
        await queues.close();
        subscriber.disconnect();
      })();
      return closed;
    },
  };
}
