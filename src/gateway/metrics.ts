import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { createMetricsRegistry } from '../lib/metrics.js';
import type { BindingLookup } from './routing/plan.js';
import type { MetricsPort, ProxiedRequest } from './proxy/ports.js';

/**
 * The gateway's Prometheus registry (DESIGN §7 `GET /metrics`): Node defaults, per-route HTTP
 * counts and latency, and the proxy series the engine records once per proxied request.
 * No label ever carries a key, a request id or a raw path: routes are route ids, models are
 * capped to the public names the replica knows (`other` otherwise), provider types come from the
 * provider registry, outcomes and statuses from small fixed sets.
 */
export interface GatewayMetrics extends MetricsPort {
  registry: Registry;
  /** Records one finished (or aborted) request; `route` is a route id, never a raw path. */
  observe(route: string, status: string, seconds: number): void;
  /** Sets the request-log buffer gauges (read at scrape time). */
  logBuffer(depth: number, droppedTotal: number): void;
}

export interface GatewayMetricsOptions {
  /** Upstream keys the health store currently keeps out of rotation; called at scrape time. */
  unavailableUpstreamKeys?: () => number;
}

/** The model label for anything the replica has no binding for (unknown, mistyped, hostile names). */
export const OTHER_MODEL = 'other';

const knownModels = new WeakMap<BindingLookup['bindings'], { implicit: BindingLookup['implicitBindings']; names: ReadonlySet<string> }>();

/**
 * The `model` label: the public model name when an explicit or implicit binding of the replica
 * carries it, else `other`, so clients cannot grow the label set. Cached per snapshot maps (the
 * replica replaces them on every routing change).
 */
export function publicModelLabel(lookup: BindingLookup, model: string | null): string {
  if (!model) return OTHER_MODEL;
  let entry = knownModels.get(lookup.bindings);
  if (!entry || entry.implicit !== lookup.implicitBindings) {
    const names = new Set<string>();
    for (const binding of lookup.bindings.values()) names.add(binding.public_model);
    for (const binding of lookup.implicitBindings.values()) names.add(binding.public_model);
    entry = { implicit: lookup.implicitBindings, names };
    knownModels.set(lookup.bindings, entry);
  }
  return entry.names.has(model) ? model : OTHER_MODEL;
}

export function createGatewayMetrics(options: GatewayMetricsOptions = {}): GatewayMetrics {
  const registry = createMetricsRegistry('gateway');
  const requests = new Counter({
    name: 'ez_gateway_http_requests_total',
    help: 'HTTP requests answered by the gateway, by route id and status code',
    labelNames: ['route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'ez_gateway_http_request_duration_seconds',
    help: 'Time from request headers to the end of the response, by route id',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const bufferDepth = new Gauge({
    name: 'ez_gateway_log_buffer_depth',
    help: 'Request-log records waiting in memory for the logs queue',
    registers: [registry],
  });
  const bufferDropped = new Gauge({
    name: 'ez_gateway_log_buffer_dropped',
    help: 'Request-log records dropped since start because the buffer was full (Redis unreachable)',
    registers: [registry],
  });
  const proxied = new Counter({
    name: 'ez_gateway_proxy_requests_total',
    help: 'Proxied requests by final status (or "aborted" when the client left), public model, provider type and client format',
    labelNames: ['status', 'model', 'provider_type', 'format_in'] as const,
    registers: [registry],
  });
  const upstreamDuration = new Histogram({
    name: 'ez_gateway_upstream_duration_seconds',
    help: 'Time from sending an upstream request until its response headers arrived, per attempt',
    labelNames: ['provider_type'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [registry],
  });
  const overhead = new Histogram({
    name: 'ez_gateway_overhead_seconds',
    help: 'Gateway time of a non-stream proxied request: total time minus time spent on upstream calls',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  const ttft = new Histogram({
    name: 'ez_gateway_ttft_seconds',
    help: 'Streams: time from the request reaching the gateway until the first event was written to the client',
    labelNames: ['format_in'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const attempts = new Counter({
    name: 'ez_gateway_upstream_attempts_total',
    help: 'Upstream calls by provider type and outcome (success, connect_error, timeout, status_429, status_5xx, status_401_403, status_4xx, aborted, refused_address, error)',
    labelNames: ['provider_type', 'outcome'] as const,
    registers: [registry],
  });
  const unavailable = options.unavailableUpstreamKeys;
  new Gauge({
    name: 'ez_gateway_breaker_open',
    help: 'Upstream keys the health store currently keeps out of rotation (breaker open or probing, cooling down, banned)',
    registers: [registry],
    collect() {
      this.set(unavailable ? unavailable() : 0);
    },
  });

  return {
    registry,
    logBuffer(depth, dropped) {
      bufferDepth.set(depth);
      bufferDropped.set(dropped);
    },
    observe(route, status, seconds) {
      requests.inc({ route, status });
      duration.observe({ route }, seconds);
    },
    proxied(request: ProxiedRequest) {
      proxied.inc({ status: request.status, model: request.model, provider_type: request.providerType, format_in: request.formatIn });
      for (const attempt of request.attempts) {
        attempts.inc({ provider_type: attempt.providerType, outcome: attempt.outcome });
        if (attempt.headersSeconds !== null) upstreamDuration.observe({ provider_type: attempt.providerType }, attempt.headersSeconds);
      }
      if (request.ttftSeconds !== null) ttft.observe({ format_in: request.formatIn }, request.ttftSeconds);
      if (request.overheadSeconds !== null) overhead.observe(Math.max(0, request.overheadSeconds));
    },
  };
}
