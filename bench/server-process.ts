/**
 * Runs one benchmark server in its own process so its CPU time is measured alone.
 * argv: <kind> [upstreamUrl]; replies on IPC with {url} once listening, {cpuMs} on request, and
 * (mock only) applies {type: 'configure', options} and answers {type: 'configured'}.
 * The mock starts with BENCH_DELAY_MS, BENCH_CHUNKS and BENCH_CHUNK_INTERVAL_MS.
 */
import { startBareProxy } from './bare-proxy.js';
import { startMockUpstream, type MockUpstreamOptions } from './mock-upstream.js';

const [kind, upstream] = process.argv.slice(2);

const envNumber = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  return Number.isFinite(value) && value >= 0 ? value : fallback;
};

async function main(): Promise<void> {
  const mock =
    kind === 'mock'
      ? await startMockUpstream({
          delayMs: envNumber('BENCH_DELAY_MS', 0),
          chunks: envNumber('BENCH_CHUNKS', 10),
          chunkIntervalMs: envNumber('BENCH_CHUNK_INTERVAL_MS', 0),
        })
      : undefined;
  const server = mock ?? (kind === 'bare-proxy' ? await startBareProxy(upstream!) : undefined);
  if (!server) throw new Error(`unknown server kind ${kind}`);
  process.on('message', (msg: { type: string; options?: MockUpstreamOptions }) => {
    if (msg.type === 'cpu') {
      const usage = process.cpuUsage();
      process.send?.({ type: 'cpu', cpuMs: (usage.user + usage.system) / 1000 });
    } else if (msg.type === 'configure' && mock) {
      mock.configure(msg.options ?? {});
      process.send?.({ type: 'configured' });
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send?.({ type: 'ready', url: server.url });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
