import { Pool } from 'undici';

/**
 * A bounded closed-loop load generator: `connections` workers each send requests back to back
 * until `requests` have been sent in total. Loopback only. Latency is request start → last body
 * byte; with `firstByte` it also records request start → first body byte (streams' TTFB).
 */
export interface LoadOptions {
  url: string;
  path: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  connections: number;
  requests: number;
  /** Also record the time to the first body byte of every response. */
  firstByte?: boolean;
}

export interface LoadResult {
  requests: number;
  /** Transport errors plus non-2xx answers. */
  errors: number;
  statusCounts: Record<number, number>;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU time of this process (the load generator), for context. */
  clientCpuMs: number;
  /** Every request's latency (ms), sorted, for merging rounds. */
  latencies: Float64Array;
  /** Every request's time to first body byte (ms), sorted, when `firstByte` was asked for. */
  firstByteLatencies?: Float64Array;
  /** The first non-2xx body or transport error seen, for diagnostics. */
  firstError?: string;
}

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Sorted concatenation of several rounds' latency arrays. */
export function mergeSorted(parts: readonly Float64Array[]): Float64Array {
  const all = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.length;
  }
  return all.sort();
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const pool = new Pool(options.url, { connections: options.connections, pipelining: 1 });
  const latencies = new Float64Array(options.requests);
  const firstBytes = options.firstByte ? new Float64Array(options.requests) : undefined;
  const statusCounts: Record<number, number> = {};
  let sent = 0;
  let errors = 0;
  let firstError: string | undefined;
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
        const ok = res.statusCode >= 200 && res.statusCode < 300;
        if (firstBytes || !ok) {
          let text = '';
          let first = true;
          for await (const chunk of res.body) {
            if (first && firstBytes) firstBytes[index] = performance.now() - t0;
            first = false;
            if (!ok && text.length < 500) text += (chunk as Buffer).toString();
          }
          if (!ok) {
            errors++;
            firstError ??= `HTTP ${res.statusCode}: ${text.slice(0, 500)}`;
          }
        } else {
          await res.body.dump();
        }
        statusCounts[res.statusCode] = (statusCounts[res.statusCode] ?? 0) + 1;
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
      }
      latencies[index] = performance.now() - t0;
    }
  };
  await Promise.all(Array.from({ length: options.connections }, worker));
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  await pool.close();
  latencies.sort();
  firstBytes?.sort();
  return {
    requests: options.requests,
    errors,
    statusCounts,
    seconds,
    rps: options.requests / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    clientCpuMs: (cpu.user + cpu.system) / 1000,
    latencies,
    ...(firstBytes ? { firstByteLatencies: firstBytes } : {}),
    ...(firstError === undefined ? {} : { firstError }),
  };
}
