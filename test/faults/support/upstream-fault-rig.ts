import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { createQueues } from '../../../jobs/queues.js';
import { startWorker, type RunningWorker } from '../../../jobs/worker.js';
import { loadConfig, type Config } from '../../../src/lib/config.js';
import { createLogger } from '../../../src/lib/logger.js';
import { closeRedis, createRedis, waitForRedis } from '../../../src/lib/redis.js';
import { RedisKeys } from '../../../src/lib/redis-layout.js';
import { publish } from '../../support/gateway-fixtures.js';
import { startGatewayProcess, tcpSocketsOf, waitForConfigVersion, type GatewayProcess } from '../../support/gateway-process.js';
import { resetDatabase, testEnv } from '../../support/hooks.js';
import { TEST_SECRET } from '../../support/sync.js';

/**
 * The bench for part B of the fault suite (docs/faults.md): a real gateway process over the test
 * Redis, fed by control-plane rows the test seeds, optionally with an in-process `logs` worker that
 * moves the gateway's log records into PostgreSQL, plus the /proc probes (sockets, fds, RSS) the
 * leak checks compare before and after each case.
 */
export interface FaultRig {
  redis: Redis;
  prefix: string;
  gateway: GatewayProcess;
  pid: number;
  worker: RunningWorker | undefined;
  close(): Promise<void>;
}

export interface FaultRigOptions {
  /** Writes the control-plane rows (masters, keys, groups) before the gateway starts. */
  seed(): Promise<void>;
  /** Run the `logs` processor in this process so request_logs rows appear in PostgreSQL. */
  logsWorker: boolean;
  env?: Record<string, string>;
}

export async function startFaultRig(options: FaultRigOptions): Promise<FaultRig> {
  const prefix = `ez-faults-b-${randomUUID().slice(0, 8)}`;
  await resetDatabase();
  const redis = createRedis({ url: testEnv().redisUrl, defaulted: false }, 'worker', 'faults-b-test');
  await waitForRedis(redis);
  await redis.flushdb();
  await options.seed();
  await publish(redis);
  const version = Number(await redis.get(RedisKeys.configVersion));
  const gateway = await startGatewayProcess({ redisUrl: testEnv().redisUrl, queuePrefix: prefix, env: { EZ_LOG_FLUSH_MS: '50', ...options.env } });
  await waitForConfigVersion(gateway.url, version);
  let worker: RunningWorker | undefined;
  if (options.logsWorker) {
    const config: Config = { ...loadConfig({ env: { EZ_ENV: 'test', EZ_QUEUE_PREFIX: prefix }, cwd: tmpdir() }), redis: { url: testEnv().redisUrl, defaulted: false } };
    worker = await startWorker({ config, secrets: { master: TEST_SECRET }, knex: testEnv().knex, logger: createLogger({ level: 'silent' }), queueNames: ['logs'] });
  }
  const pid = gateway.proc.child.pid;
  if (pid === undefined) throw new Error('the gateway process has no pid');
  return {
    redis,
    prefix,
    gateway,
    pid,
    worker,
    async close() {
      await worker?.close();
      const code = await gateway.stop('SIGTERM').catch((err: unknown) => (err as Error).message);
      const queues = createQueues({ url: testEnv().redisUrl, defaulted: false }, prefix, ['logs', 'provider-events', 'token-refresh']);
      for (const queue of queues.list()) await queue.obliterate({ force: true }).catch(() => undefined);
      await queues.close();
      await closeRedis(redis);
      if (code !== 0) throw new Error(`the gateway did not exit cleanly on SIGTERM (${String(code)}):\n${gateway.proc.output().slice(-2000)}`);
    },
  };
}

export interface ResourceCounts {
  /** TCP connections from the gateway to the upstream ports. */
  upstream: number;
  /** TCP connections of clients to the gateway's port. */
  client: number;
  /** Open file descriptors of the gateway process. */
  fds: number;
  /** The upstream and client connections as `local→remote state` (for failure messages). */
  detail: string[];
}

export interface WatchedPorts {
  gateway: number;
  upstreams: readonly number[];
}

const TCP_STATES: Record<string, string> = { '01': 'ESTABLISHED', '02': 'SYN_SENT', '04': 'FIN_WAIT1', '05': 'FIN_WAIT2', '06': 'TIME_WAIT', '07': 'CLOSE', '08': 'CLOSE_WAIT', '09': 'LAST_ACK', '0B': 'CLOSING' };

/** The gateway's connections (not listeners) to the upstreams and from clients, and its fds. */
export async function resourceCounts(pid: number, ports: WatchedPorts): Promise<ResourceCounts> {
  const sockets = (await tcpSocketsOf(pid)).filter((s) => s.state !== '0A');
  const upstream = sockets.filter((s) => ports.upstreams.includes(s.remote.port));
  const client = sockets.filter((s) => s.local.port === ports.gateway);
  return {
    upstream: upstream.length,
    client: client.length,
    fds: await fdCount(pid),
    detail: [...upstream, ...client].map((s) => `${s.local.port}→${s.remote.port} ${TCP_STATES[s.state] ?? s.state}`),
  };
}

/**
 * How long a healthy gateway may keep an idle upstream connection: the upstream pools' keep-alive
 * for sockets without a server hint is 30 s (src/gateway/proxy/upstream-pool.ts), and undici can
 * leave one fresh idle socket behind after an aborted request. A connection still open after
 * this is a leak.
 */
export const SETTLE_MS = 35_000;

const above = (now: ResourceCounts, limit: ResourceCounts) => now.upstream > limit.upstream || now.client > limit.client || now.fds > limit.fds;

/**
 * Polls until the gateway holds no more connections and fds than `limit` (bounded): idle
 * keep-alive sockets close within the mock's keep-alive timeout, a leaked one never does.
 * Returns the last counts (the caller asserts them).
 */
export async function settleResources(pid: number, ports: WatchedPorts, limit: ResourceCounts, timeoutMs = SETTLE_MS): Promise<ResourceCounts> {
  const deadline = Date.now() + timeoutMs;
  let now = await resourceCounts(pid, ports);
  while (above(now, limit) && Date.now() < deadline) {
    await sleep(100);
    now = await resourceCounts(pid, ports);
  }
  return now;
}

/** Waits for the gateway to let go of what a case opened, then asserts nothing stayed above the baseline. */
export async function expectBackToBaseline(pid: number, ports: WatchedPorts, baseline: ResourceCounts, timeoutMs = SETTLE_MS): Promise<void> {
  const after = await settleResources(pid, ports, baseline, timeoutMs);
  const context = `after ${JSON.stringify(after)}, baseline ${JSON.stringify(baseline)}`;
  expect(after.upstream, `gateway → upstream connections ${context}`).to.be.at.most(baseline.upstream);
  expect(after.client, `client → gateway connections ${context}`).to.be.at.most(baseline.client);
  expect(after.fds, `gateway file descriptors ${context}`).to.be.at.most(baseline.fds);
}

/**
 * A quiet moment's counts: upstream connections left over from earlier work closed first
 * (bounded). Idle client keep-alive connections (the harness's own health polls) may stay.
 */
export async function quietBaseline(pid: number, ports: WatchedPorts, timeoutMs = SETTLE_MS): Promise<ResourceCounts> {
  const start = await resourceCounts(pid, ports);
  return settleResources(pid, ports, { upstream: 0, client: start.client, fds: start.fds, detail: [] }, timeoutMs);
}

/** Open file descriptors of a process (/proc/<pid>/fd). */
export async function fdCount(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length;
}

/** Resident set size of a process in bytes (/proc/<pid>/status VmRSS). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  if (!kb) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb) * 1024;
}

export interface LogRow {
  request_id: string;
  status_code: number;
  error_code: string | null;
  error_message: string | null;
  abort_reason: string | null;
  attempts: number;
  stream: boolean;
  latency_ms: number;
}

/** Waits (bounded) until every request id has its request_logs row; returns them by id. */
export async function logRowsFor(requestIds: readonly string[], timeoutMs = 15_000): Promise<Map<string, LogRow>> {
  const deadline = Date.now() + timeoutMs;
  let rows: LogRow[] = [];
  while (Date.now() < deadline) {
    rows = await testEnv()
      .knex('request_logs')
      .whereIn('request_id', requestIds as string[])
      .select<LogRow[]>('request_id', 'status_code', 'error_code', 'error_message', 'abort_reason', 'attempts', 'stream', 'latency_ms');
    if (rows.length >= requestIds.length) break;
    await sleep(100);
  }
  const byId = new Map(rows.map((row) => [row.request_id, row]));
  const missing = requestIds.filter((id) => !byId.has(id));
  if (missing.length > 0) throw new Error(`no request_logs row within ${timeoutMs} ms for ${missing.join(', ')}`);
  return byId;
}
