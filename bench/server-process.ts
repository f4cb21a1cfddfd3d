/**
 * Runs one benchmark server in its own process so its CPU time is measured alone.
 * argv: <kind> [upstreamUrl]; replies on IPC with {url} once listening and {cpuMs} on request.
 */
import { startBareProxy } from './bare-proxy.js';
import { startMockUpstream } from './mock-upstream.js';

const [kind, upstream] = process.argv.slice(2);

async function main(): Promise<void> {
  const server =
    kind === 'mock'
      ? await startMockUpstream({ delayMs: Number(process.env.BENCH_DELAY_MS ?? 0) })
      : kind === 'bare-proxy'
        ? await startBareProxy(upstream!)
        : undefined;
  if (!server) throw new Error(`unknown server kind ${kind}`);
  process.on('message', (msg: { type: string }) => {
    if (msg.type === 'cpu') {
      const usage = process.cpuUsage();
      process.send?.({ type: 'cpu', cpuMs: (usage.user + usage.system) / 1000 });
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send?.({ type: 'ready', url: server.url });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
