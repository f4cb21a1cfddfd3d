/**
 * `npm run bench -- config-propagation`: admin writes → enforced by every gateway. N times, a child
 * key is disabled or re-enabled through `PATCH /admin/keys/:id` while two gateway replicas are
 * polled with that key until both answer accordingly (refused after a disable, served after an
 * enable). The figure is write start → the later of the two gateways enforcing it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BENCH_MODEL, benchEnv, chatBody, type GatewayHandle } from './env.js';
import { percentile } from './load.js';
import { count, ms, table, type ScenarioReport } from './report.js';

/** DESIGN §10: config propagation p99 ≤ 1 s. */
export const PROPAGATION_P99_TARGET_MS = 1_000;
const POLL_GAP_MS = 2;
const DEADLINE_MS = 10_000;

async function status(gateway: GatewayHandle, key: string): Promise<number> {
  const res = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: chatBody(BENCH_MODEL, false),
    signal: AbortSignal.timeout(5_000),
  });
  await res.arrayBuffer();
  return res.status;
}

/** Polls until the gateway serves (`enabled`) or refuses the key; resolves with performance.now() then. */
async function enforcedAt(gateway: GatewayHandle, key: string, enabled: boolean): Promise<number> {
  const deadline = performance.now() + DEADLINE_MS;
  for (;;) {
    const code = await status(gateway, key);
    const now = performance.now();
    if (enabled ? code === 200 : code === 401 || code === 403) return now;
    if (code !== 200 && code !== 401 && code !== 403) throw new Error(`${gateway.proc.name} answered ${code} while the key was being ${enabled ? 'enabled' : 'disabled'}`);
    if (now > deadline) throw new Error(`${gateway.proc.name} did not enforce the key being ${enabled ? 'enabled' : 'disabled'} within ${DEADLINE_MS} ms`);
    await sleep(POLL_GAP_MS);
  }
}

export async function measureConfigPropagation(): Promise<ScenarioReport> {
  const env = await benchEnv();
  await env.mock.configure({ delayMs: 0, chunks: 10, chunkIntervalMs: 0 });
  const second = await env.startGateway('gateway-2');
  try {
    const gateways = [env.gateway, second];
    const key = await env.admin.post<{ id: number; key: string }>(`/admin/masters/${env.masterId}/keys`, {
      name: 'bench-propagation',
      rpm_limit: 2_000_000_000,
      tpm_limit: 1_000_000_000_000,
    });
    await env.waitForConfig(gateways);
    for (const gw of gateways) await enforcedAt(gw, key.key, true);

    const writes = count(100, 10);
    const propagation = new Float64Array(writes);
    const acks = new Float64Array(writes);
    for (let i = 0; i < writes; i++) {
      const enabled = i % 2 === 1;
      const started = performance.now();
      await env.admin.patch(`/admin/keys/${key.id}`, { status: enabled ? 'active' : 'disabled' });
      acks[i] = performance.now() - started;
      const times = await Promise.all(gateways.map((gw) => enforcedAt(gw, key.key, enabled)));
      propagation[i] = Math.max(...times) - started;
    }
    propagation.sort();
    acks.sort();
    const p99 = percentile(propagation, 99);
    const body = [
      table(
        ['writes', 'gateways', 'propagation p50 ms', 'p99 ms', 'max ms', 'write ack p50 ms', 'ack p99 ms'],
        [[String(writes), String(gateways.length), percentile(propagation, 50).toFixed(1), p99.toFixed(1), propagation[writes - 1]!.toFixed(1), percentile(acks, 50).toFixed(1), percentile(acks, 99).toFixed(1)]],
      ),
      '',
      `Each write alternately disables and re-enables one child key (PATCH /admin/keys/:id); both gateways are polled with that key every ${POLL_GAP_MS} ms (plus the request's own time) until they refuse or serve it.`,
      'Propagation runs from just before the PATCH is sent to the later gateway enforcing it: api transaction + outbox, the sync job in the worker, the Redis apply, the refresh message and the gateway\'s cache invalidation.',
    ].join('\n');
    return {
      body,
      verdicts: [{ figure: 'config propagation p99 (admin write → enforced by every gateway)', measured: ms(p99, 1), target: `≤ ${ms(PROPAGATION_P99_TARGET_MS, 0)}`, pass: p99 <= PROPAGATION_P99_TARGET_MS }],
    };
  } finally {
    await second.proc.stop();
  }
}
