import { mergeSorted, percentile, runLoad } from './load.js';

/**
 * Side-by-side measurement: the targets (direct, bare proxy, gateway) are loaded in alternating
 * short rounds — A B C A B C … — so machine drift (other processes, CPU frequency, a log flush)
 * hits all of them alike, and each target's figures are the merge of its rounds.
 */
export interface LoadTarget {
  label: string;
  url: string;
  headers: Record<string, string>;
  body: string;
  /** CPU time (ms) of the process serving this target, read before and after each round. */
  cpuMs(): Promise<number>;
}

export interface TargetFigures {
  label: string;
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Time to first body byte, when asked for. */
  ttfbP50Ms?: number;
  ttfbP99Ms?: number;
  serverCpuMsPerRequest: number;
  errors: number;
  firstError?: string;
}

export interface RoundsOptions {
  path: string;
  connections: number;
  /** Requests per target in total, split evenly over the rounds. */
  requests: number;
  rounds: number;
  /** Unmeasured requests per target before the first round (connections, JIT). */
  warmup: number;
  firstByte?: boolean;
}

export async function measureInRounds(targets: readonly LoadTarget[], options: RoundsOptions): Promise<TargetFigures[]> {
  const perRound = Math.max(options.connections, Math.ceil(options.requests / options.rounds));
  const load = (t: LoadTarget, requests: number) =>
    runLoad({ url: t.url, path: options.path, method: 'POST', headers: t.headers, body: t.body, connections: options.connections, requests, firstByte: options.firstByte ?? false });
  if (options.warmup > 0) for (const t of targets) await load(t, Math.max(options.warmup, options.connections));

  const acc = targets.map(() => ({ latencies: [] as Float64Array[], ttfb: [] as Float64Array[], seconds: 0, cpuMs: 0, errors: 0, firstError: undefined as string | undefined }));
  for (let round = 0; round < options.rounds; round++) {
    for (const [i, t] of targets.entries()) {
      const a = acc[i]!;
      const before = await t.cpuMs();
      const result = await load(t, perRound);
      a.cpuMs += (await t.cpuMs()) - before;
      a.seconds += result.seconds;
      a.errors += result.errors;
      a.firstError ??= result.firstError;
      a.latencies.push(result.latencies);
      if (result.firstByteLatencies) a.ttfb.push(result.firstByteLatencies);
    }
  }
  return targets.map((t, i) => {
    const a = acc[i]!;
    const latencies = mergeSorted(a.latencies);
    const ttfb = a.ttfb.length ? mergeSorted(a.ttfb) : undefined;
    return {
      label: t.label,
      requests: latencies.length,
      seconds: a.seconds,
      rps: latencies.length / a.seconds,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      ...(ttfb ? { ttfbP50Ms: percentile(ttfb, 50), ttfbP99Ms: percentile(ttfb, 99) } : {}),
      serverCpuMsPerRequest: a.cpuMs / latencies.length,
      errors: a.errors,
      ...(a.firstError === undefined ? {} : { firstError: a.firstError }),
    };
  });
}

/** Throws when any target answered errors: figures over failed requests would be meaningless. */
export function assertNoErrors(figures: readonly TargetFigures[], what: string): void {
  const bad = figures.find((f) => f.errors > 0);
  if (bad) throw new Error(`${what}: ${bad.label} had ${bad.errors} failed request(s); first: ${bad.firstError ?? 'unknown'}`);
}
