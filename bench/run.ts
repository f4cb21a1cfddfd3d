/**
 * `npm run bench [-- <scenario>]`: benchmarks that report the gateway against the yardstick of
 * DESIGN §10 (a bare undici pass-through proxy) in the same run, as ratios. Loopback only,
 * bounded request counts. Scenarios are added here as the gateway grows (issue: benchmarks).
 */
import { startChildServer } from './child.js';
import { formatLogPipeline, measureLogPipeline } from './log-pipeline.js';
import { runLoad, type LoadResult } from './load.js';

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
async function proxyFloor(): Promise<Row[]> {
  const rows: Row[] = [];
  for (const [label, delayMs, connections, requests] of [
    ['1 conn, no delay', 0, 1, 5_000],
    ['32 conns, 50 ms upstream', 50, 32, 6_000],
    ['64 conns, no delay (throughput)', 0, 64, 30_000],
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
  return rows;
}

/** Log pipeline throughput into PostgreSQL (DESIGN §10: ≥ 5,000 records/s); its own table. */
async function logPipeline(): Promise<string> {
  return formatLogPipeline(await measureLogPipeline());
}

/** A scenario reports load rows (formatted as one table) or a table of its own. */
const scenarios: Record<string, () => Promise<Row[] | string>> = { 'proxy-floor': proxyFloor, 'log-pipeline': logPipeline };

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
  for (const name of names) {
    const scenario = scenarios[name];
    if (!scenario) {
      console.error(`unknown scenario "${name}"; available: ${Object.keys(scenarios).join(', ')}`);
      process.exit(2);
    }
    console.log(`\n## ${name}\n`);
    const result = await scenario();
    console.log(typeof result === 'string' ? result : format(result));
  }
  console.log(
    '\nThe gateway proxies no traffic yet; its rows join these once proxying lands, reported as ratios against "bare proxy" from the same run.',
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
