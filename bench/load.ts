import { Pool } from 'undici';

/**
 * A bounded closed-loop load generator: `connections` workers each send requests back to back
 * until `requests` have been sent in total. Loopback only.
 */
export interface LoadOptions {
  url: string;
  path: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  connections: number;
  requests: number;
}

export interface LoadResult {
  requests: number;
  errors: number;
  statusCounts: Record<number, number>;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU time of this process (the load generator), for context. */
  clientCpuMs: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const pool = new Pool(options.url, { connections: options.connections, pipelining: 1 });
  const latencies = new Float64Array(options.requests);
  const statusCounts: Record<number, number> = {};
  let sent = 0;
  let errors = 0;
  const cpuStart = process.cpuUsage();
  const started = performance.now();
  const worker = async () => {
    while (sent < options.requests) {
      const index = sent++;
      const t0 = performance.now();
      try {
        const res = await pool.request({
          method: options.method ?? 'GET',
          path: options.path,
          headers: options.headers,
          body: options.body,
        });
        await res.body.dump();
        statusCounts[res.statusCode] = (statusCounts[res.statusCode] ?? 0) + 1;
      } catch {
        errors++;
      }
      latencies[index] = performance.now() - t0;
    }
  };
  await Promise.all(Array.from({ length: options.connections }, worker));
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  await pool.close();
  latencies.sort();
  return {
    requests: options.requests,
    errors,
    statusCounts,
    seconds,
    rps: options.requests / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    clientCpuMs: (cpu.user + cpu.system) / 1000,
  };
}
