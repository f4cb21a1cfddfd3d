/**
 * `npm run bench [-- <scenario>…]`: benchmarks that report the gateway beside the yardsticks of
 * DESIGN §10 — the mock upstream called directly and a bare undici pass-through proxy — measured in
 * the same run, with every figure next to its target. Results are printed and written to
 * bench/RESULTS.md (BENCH_QUICK=1: a smoke run with tiny counts, written to
 * .data/bench/RESULTS.quick.md instead). Loopback only, bounded request counts. See
 * docs/benchmarks.md.
 */
import { startChildServer } from './child.js';
import { measureConfigPropagation } from './config-propagation.js';
import { gitCommit, stopBenchEnv } from './env.js';
import { measureGatewayOverhead } from './gateway-overhead.js';
import { formatLogPipeline, LOG_PIPELINE_TARGET_RPS, measureLogPipeline } from './log-pipeline.js';
import { runLoad, type LoadResult } from './load.js';
import { benchRuntime, describeRuntime } from './processes.js';
import { count, isQuick, ms, writeResults, type ScenarioReport } from './report.js';
import { measureScale } from './scale.js';
import { measureTtfb } from './ttfb.js';

interface Row {
  scenario: string;
  target: string;
  result: LoadResult;
  serverCpuMsPerRequest?: number;
}

const BODY = JSON.stringify({ model: 'bench-model', messages: [{ role: 'user', content: 'ping' }] });

async function measure(url: string, connections: number, requests: number): Promise<LoadResult> {
  await runLoad({ url, path: '/v1/chat/completions', method: 'POST', body: BODY, headers: { 'content-type': 'application/json' }, connections, requests: Math.min(2_000, requests) });
  return runLoad({ url, path: '/v1/chat/completions', method: 'POST', body: BODY, headers: { 'content-type': 'application/json' }, connections, requests });
}

/** The floor: calling the mock directly vs through the bare proxy (DESIGN §10 yardstick). */
async function proxyFloor(): Promise<ScenarioReport> {
  const rows: Row[] = [];
  for (const [label, delayMs, connections, requests] of [
    ['1 conn, no delay', 0, 1, count(5_000, 100)],
    ['32 conns, 50 ms upstream', 50, 32, count(6_000, 128)],
    ['64 conns, no delay (throughput)', 0, 64, count(30_000, 640)],
  ] as const) {
    const mock = await startChildServer('mock', [], { BENCH_DELAY_MS: String(delayMs) });
    const proxy = await startChildServer('bare-proxy', [mock.url]);
    try {
      rows.push({ scenario: label, target: 'direct', result: await measure(mock.url, connections, requests) });
      const before = await proxy.cpuMs();
      const result = await measure(proxy.url, connections, requests);
      const cpu = (await proxy.cpuMs()) - before;
      rows.push({ scenario: label, target: 'bare proxy', result, serverCpuMsPerRequest: cpu / (requests + Math.min(2_000, requests)) });
    } finally {
      await proxy.stop();
      await mock.stop();
    }
  }
  const bareThroughput = rows.find((r) => r.target === 'bare proxy' && r.scenario.startsWith('64'));
  const bareCpu = bareThroughput?.serverCpuMsPerRequest ?? 0;
  return {
    body: `${format(rows)}\n\nThe yardstick alone, each case in fresh processes. The gateway is compared with the bare proxy in gateway-overhead, in the same rounds.`,
    verdicts: [
      { figure: 'bare proxy CPU per request (64 conns)', measured: ms(bareCpu, 3), target: 'reference machine ≈ 0.2 ms', pass: null },
      { figure: 'bare proxy throughput (64 conns, no delay)', measured: `${(bareThroughput?.result.rps ?? 0).toFixed(0)} req/s`, target: 'reference machine ≈ 5,000 req/s', pass: null },
    ],
  };
}

/** Log pipeline throughput into PostgreSQL (DESIGN §10: ≥ 5,000 records/s); its own services. */
async function logPipeline(): Promise<ScenarioReport> {
  if (isQuick()) process.env.BENCH_LOG_RECORDS ??= '2000';
  const result = await measureLogPipeline();
  return {
    body: formatLogPipeline(result),
    verdicts: [
      {
        figure: 'log pipeline records/s into PostgreSQL',
        measured: result.recordsPerSecond.toFixed(0),
        target: `≥ ${LOG_PIPELINE_TARGET_RPS.toLocaleString('en-US')}`,
        pass: result.recordsPerSecond >= LOG_PIPELINE_TARGET_RPS,
      },
    ],
  };
}

interface Scenario {
  run: () => Promise<ScenarioReport>;
  /** Needs the shared environment (PostgreSQL, Redis, api, worker, gateway: bench/env.ts). */
  usesEnv: boolean;
}

const scenarios: Record<string, Scenario> = {
  'proxy-floor': { run: proxyFloor, usesEnv: false },
  'gateway-overhead': { run: measureGatewayOverhead, usesEnv: true },
  ttfb: { run: measureTtfb, usesEnv: true },
  'config-propagation': { run: measureConfigPropagation, usesEnv: true },
  scale: { run: measureScale, usesEnv: true },
  'log-pipeline': { run: logPipeline, usesEnv: false },
};

function format(rows: Row[]): string {
  const lines = ['| scenario | target | req/s | p50 ms | p99 ms | server CPU ms/req | errors |', '|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    lines.push(
      `| ${r.scenario} | ${r.target} | ${r.result.rps.toFixed(0)} | ${r.result.p50Ms.toFixed(3)} | ${r.result.p99Ms.toFixed(3)} | ${
        r.serverCpuMsPerRequest === undefined ? '—' : r.serverCpuMsPerRequest.toFixed(3)
      } | ${r.result.errors} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const names = wanted.length ? wanted : Object.keys(scenarios);
  const unknown = names.filter((n) => !scenarios[n]);
  if (unknown.length) {
    console.error(`unknown scenario "${unknown.join('", "')}"; available: ${Object.keys(scenarios).join(', ')}`);
    process.exit(2);
  }
  const info = { commit: gitCommit(), runtime: describeRuntime(benchRuntime()), startedAt: new Date() };
  const reports = new Map<string, ScenarioReport>();
  const started = performance.now();
  let failed = false;
  for (const [index, name] of names.entries()) {
    const scenario = scenarios[name]!;
    // Nothing later needs the gateway environment: free the machine before measuring the rest.
    if (!names.slice(index).some((n) => scenarios[n]!.usesEnv)) await stopBenchEnv();
    console.log(`\n## ${name}\n`);
    const scenarioStarted = performance.now();
    try {
      const report = await scenario.run();
      reports.set(name, report);
      console.log(report.body);
      for (const v of report.verdicts) console.log(`- ${v.figure}: ${v.measured} (target ${v.target})${v.pass === null ? '' : v.pass ? ' pass' : ' FAIL'}`);
    } catch (err) {
      failed = true;
      console.error(`scenario ${name} failed:`, err);
    }
    console.log(`(${name}: ${((performance.now() - scenarioStarted) / 1_000).toFixed(1)} s)`);
  }
  await stopBenchEnv();
  if (reports.size) {
    const file = writeResults(reports, info, Object.keys(scenarios));
    console.log(`\nwrote ${file} (${((performance.now() - started) / 1_000).toFixed(0)} s in all)`);
  }
  if (failed) process.exitCode = 1;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the benchmark environment`);
    void stopBenchEnv().finally(() => process.exit(130));
  });
}

main().catch(async (err: unknown) => {
  console.error(err);
  await stopBenchEnv();
  process.exit(1);
});
