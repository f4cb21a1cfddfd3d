import { collectDefaultMetrics, Registry } from 'prom-client';

/** A Prometheus registry for one process role, with Node's default metrics (prom-client). */
export function createMetricsRegistry(processName: 'api' | 'worker' | 'gateway'): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ process: processName });
  collectDefaultMetrics({ register: registry, prefix: 'ez_' });
  return registry;
}
