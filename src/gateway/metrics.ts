import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { createMetricsRegistry } from '../lib/metrics.js';

/** The gateway's Prometheus registry: Node defaults plus per-route request counts and latency. */
export interface GatewayMetrics {
  registry: Registry;
  /** Records one finished (or aborted) request; `route` is a route id, never a raw path. */
  observe(route: string, status: string, seconds: number): void;
  /** Sets the request-log buffer gauges (read at scrape time). */
  logBuffer(depth: number, droppedTotal: number): void;
}

export function createGatewayMetrics(): GatewayMetrics {
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
  };
}
