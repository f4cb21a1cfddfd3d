/**
 * `npm run bench -- gateway-overhead`: the mock called directly, through the bare undici proxy and
 * through the gateway (auth, limits, routing and logging on), in alternating rounds, for 1 and 32
 * connections, 0 and 50 ms upstream delay, JSON and SSE answers. Reports req/s, p50/p99, latency
 * added over the direct call, the serving process's CPU per request, and the DESIGN §10 ratios.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BENCH_MODEL, benchEnv, chatBody, type BenchEnv } from './env.js';
import { procCpuMs } from './processes.js';
import { count, ms, ratio, table, type ScenarioReport, type Verdict } from './report.js';
import { assertNoErrors, measureInRounds, type LoadTarget, type TargetFigures } from './rounds.js';

const PATH = '/v1/chat/completions';
/** DESIGN §10. */
export const CPU_RATIO_TARGET = 1.5;
export const THROUGHPUT_RATIO_TARGET = 2 / 3;
export const ADDED_P50_SLACK_MS = 0.3;
export const ADDED_P99_SLACK_MS = 2;

interface Config {
  connections: number;
  delayMs: number;
  stream: boolean;
  requests: number;
}

const label = (c: Config) => `${c.connections} conn${c.connections > 1 ? 's' : ''}, ${c.delayMs} ms, ${c.stream ? 'SSE' : 'JSON'}`;

function configs(): Config[] {
  const out: Config[] = [];
  for (const stream of [false, true]) {
    out.push({ connections: 1, delayMs: 0, stream, requests: count(3_000, 60) });
    out.push({ connections: 32, delayMs: 0, stream, requests: count(9_000, 320) });
    out.push({ connections: 1, delayMs: 50, stream, requests: count(60, 6) });
    out.push({ connections: 32, delayMs: 50, stream, requests: count(2_880, 96) });
  }
  // BENCH_OVERHEAD_ONLY="32:0:JSON,1:0:SSE" keeps only those configurations (profiling one case).
  const only = (process.env.BENCH_OVERHEAD_ONLY ?? '').split(',').filter(Boolean);
  return only.length === 0 ? out : out.filter((c) => only.includes(`${c.connections}:${c.delayMs}:${c.stream ? 'SSE' : 'JSON'}`));
}

export function targetsFor(env: BenchEnv, stream: boolean): LoadTarget[] {
  const json = { 'content-type': 'application/json' };
  return [
    { label: 'direct', url: env.mock.url, headers: json, body: chatBody('bench-model', stream), cpuMs: () => env.mock.cpuMs() },
    { label: 'bare proxy', url: env.bare.url, headers: json, body: chatBody('bench-model', stream), cpuMs: () => env.bare.cpuMs() },
    {
      label: 'gateway',
      url: env.gateway.url,
      headers: { ...json, authorization: `Bearer ${env.key}` },
      body: chatBody(BENCH_MODEL, stream),
      cpuMs: async () => procCpuMs(env.gateway.proc.pid),
    },
  ];
}

/** CPU of the processes the gateway leans on beside itself: Redis (limits, stats) and the worker (logs). */
function sideCpuMs(env: BenchEnv): number {
  return (env.redisPid ? procCpuMs(env.redisPid) : 0) + procCpuMs(env.worker.pid);
}

async function logRows(env: BenchEnv): Promise<number> {
  const { rows } = await env.knex.raw<{ rows: Array<{ n: string }> }>('select count(*) as n from request_logs');
  return Number(rows[0]?.n ?? 0);
}

/** Waits (bounded) until the worker has stored a log row for every gateway request sent. */
async function waitForLogRows(env: BenchEnv, expected: number, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let rows = await logRows(env);
  while (rows < expected && Date.now() < deadline) {
    await sleep(100);
    rows = await logRows(env);
  }
  return rows;
}

interface ConfigResult {
  config: Config;
  figures: TargetFigures[];
  sideCpuMsPerRequest: number;
  logRowsMissing: number;
}

export async function measureGatewayOverhead(): Promise<ScenarioReport> {
  const env = await benchEnv();
  const results: ConfigResult[] = [];
  for (const config of configs()) {
    await env.mock.configure({ delayMs: config.delayMs, chunks: 10, chunkIntervalMs: 0 });
    const warmup = Math.min(500, Math.ceil(config.requests / 3));
    const logsBefore = await logRows(env);
    const sideBefore = sideCpuMs(env);
    const figures = await measureInRounds(targetsFor(env, config.stream), { path: PATH, connections: config.connections, requests: config.requests, rounds: 3, warmup });
    assertNoErrors(figures, label(config));
    const gatewayRequests = figures[2]!.requests + Math.max(warmup, config.connections);
    const logsAfter = await waitForLogRows(env, logsBefore + gatewayRequests);
    results.push({
      config,
      figures,
      sideCpuMsPerRequest: (sideCpuMs(env) - sideBefore) / gatewayRequests,
      logRowsMissing: logsBefore + gatewayRequests - logsAfter,
    });
    console.log(`  ${label(config)}: ${figures.map((f) => `${f.label} ${f.rps.toFixed(0)} req/s p50 ${f.p50Ms.toFixed(2)} ms`).join(' · ')}`);
  }
  return report(results);
}

function report(results: readonly ConfigResult[]): ScenarioReport {
  const rows: string[][] = [];
  const verdicts: Verdict[] = [];
  for (const { config, figures, sideCpuMsPerRequest } of results) {
    const [direct, bare, gateway] = figures as [TargetFigures, TargetFigures, TargetFigures];
    for (const f of figures) {
      const added = f === direct ? undefined : { p50: f.p50Ms - direct.p50Ms, p99: f.p99Ms - direct.p99Ms };
      rows.push([
        label(config),
        f.label,
        String(f.requests),
        f.rps.toFixed(0),
        f.p50Ms.toFixed(3),
        f.p99Ms.toFixed(3),
        added ? added.p50.toFixed(3) : '—',
        added ? added.p99.toFixed(3) : '—',
        f.serverCpuMsPerRequest.toFixed(3),
        f === gateway ? sideCpuMsPerRequest.toFixed(3) : '—',
      ]);
    }
    const cpuRatio = gateway.serverCpuMsPerRequest / bare.serverCpuMsPerRequest;
    verdicts.push({ figure: `CPU/request gateway ÷ bare (${label(config)})`, measured: ratio(cpuRatio), target: `≤ ${ratio(CPU_RATIO_TARGET)}`, pass: cpuRatio <= CPU_RATIO_TARGET });
    if (config.connections === 32 && config.delayMs === 0) {
      const throughput = gateway.rps / bare.rps;
      verdicts.push({
        figure: `throughput at saturation gateway ÷ bare (${label(config)})`,
        measured: ratio(throughput),
        target: `≥ ${ratio(THROUGHPUT_RATIO_TARGET)}`,
        pass: throughput >= THROUGHPUT_RATIO_TARGET,
      });
    }
    const gwAdded = { p50: gateway.p50Ms - direct.p50Ms, p99: gateway.p99Ms - direct.p99Ms };
    const bareAdded = { p50: bare.p50Ms - direct.p50Ms, p99: bare.p99Ms - direct.p99Ms };
    const targetConfig = config.connections === 32 && config.delayMs === 50;
    verdicts.push({
      figure: `added latency p50 (${label(config)})`,
      measured: `${ms(gwAdded.p50, 3)} (bare ${ms(bareAdded.p50, 3)})`,
      target: targetConfig ? `≤ bare + ${ADDED_P50_SLACK_MS} ms = ${ms(bareAdded.p50 + ADDED_P50_SLACK_MS, 3)}` : 'context',
      pass: targetConfig ? gwAdded.p50 <= bareAdded.p50 + ADDED_P50_SLACK_MS : null,
    });
    if (targetConfig) {
      verdicts.push({
        figure: `added latency p99 (${label(config)})`,
        measured: `${ms(gwAdded.p99, 3)} (bare ${ms(bareAdded.p99, 3)})`,
        target: `≤ bare + ${ADDED_P99_SLACK_MS} ms = ${ms(bareAdded.p99 + ADDED_P99_SLACK_MS, 3)}`,
        pass: gwAdded.p99 <= bareAdded.p99 + ADDED_P99_SLACK_MS,
      });
    }
  }
  const missing = results.reduce((n, r) => n + Math.max(0, r.logRowsMissing), 0);
  const body = [
    table(
      ['config', 'target', 'requests', 'req/s', 'p50 ms', 'p99 ms', 'added p50 ms', 'added p99 ms', 'server CPU ms/req', 'Redis + worker CPU ms/req'],
      rows,
    ),
    '',
    'Three alternating rounds per configuration (direct, bare proxy, gateway, repeated), after an unmeasured warm-up of each.',
    '"server CPU" is the process that answers the load: the mock for direct, the bare proxy, the gateway (from /proc, 10 ms ticks).',
    '"Redis + worker" is the CPU the gateway causes outside its own process (limits and stats in Redis, log batches persisted by the worker); PostgreSQL is not counted.',
    '"added" is the target\'s latency minus the direct call\'s at the same percentile, from the same configuration.',
    missing > 0
      ? `**${missing} gateway request(s) had no log row 30 s after their configuration finished.**`
      : 'Every gateway request of every configuration had its row in request_logs before the next configuration started.',
  ].join('\n');
  return { body, verdicts };
}
