import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import { Pool } from 'undici';
import { createKnex, migrateLatest } from '../../../src/db/knex.js';
import { findPostgresBinDir, freePort, startLocalPostgres, startLocalRedis, type LocalService } from '../../../src/lib/local-services.js';
import { closeRedis, createRedis, waitForRedis } from '../../../src/lib/redis.js';
import { RedisKeys } from '../../../src/lib/redis-layout.js';
import { gatewayEnv } from '../../support/gateway-process.js';
import { startMockUpstream, type MockUpstream } from '../../support/mock-upstream.js';
import { spawnEntry, waitForHttp, waitForOutput, type SpawnedProcess } from '../../support/process.js';
import { TEST_SECRET } from '../../support/sync.js';

/**
 * A whole EZ-API deployment for the fault suite (issue #9), on servers of its own so a test may
 * stop, kill or flush them without disturbing the shared PostgreSQL/Redis of the root hook:
 *
 *   const cluster = await startCluster();            // dedicated PG + Redis, migrated; mock upstream;
 *                                                   // api, worker and two gateways as child processes
 *   const tenant = await cluster.seedTenant('acme');  // provider group + upstream key + master + child key, via the admin API
 *   await cluster.waitForGateways();                  // every gateway has loaded the current config
 *   const run = await runLoad({ gateways: cluster.gatewayUrls(), key: tenant.key, model: cluster.model, total: 1_000 });
 *   await cluster.worker.kill('SIGKILL'); await cluster.worker.start();
 *   await cluster.redis.stop(); … await cluster.redis.start();   // same port, same data (AOF)
 *   await cluster.pg.stop();    … await cluster.pg.start();      // same port, same data
 *   await cluster.close();
 *
 * Every process gets the same secrets and a queue prefix of its own; the worker runs with short
 * BullMQ locks (a killed worker's jobs come back within seconds) and a 500 ms sync sweeper.
 */

export const ADMIN_TOKEN = 'ezadm_faults-cluster-admin-token-0000000';
export const INTERNAL_TOKEN = 'ezint_faults-cluster-internal-token-000000';
export const DEFAULT_MODEL = 'gpt-4o-mini';

/** One product process (api, worker or a gateway) that a test can kill and start again. */
export interface ManagedProcess {
  readonly name: string;
  /** Base URL of an HTTP process (api, gateway); undefined for the worker. */
  readonly url: string | undefined;
  /** The running (or last) child process. */
  current(): SpawnedProcess;
  pid(): number;
  alive(): boolean;
  /** Spawns the process again (same port, same environment) and waits until it is ready. */
  start(): Promise<void>;
  /** Sends `signal` (default SIGKILL) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<number | string>;
}

/** A store the test can stop and start again with its data (same port). */
export interface ManagedStore {
  readonly url: string;
  running(): boolean;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export interface ClusterOptions {
  /** Gateway processes (default 2). */
  gateways?: number;
  /** Extra environment for every process / per role (override the defaults). */
  env?: Record<string, string>;
  apiEnv?: Record<string, string>;
  workerEnv?: Record<string, string>;
  gatewayEnv?: Record<string, string>;
}

export interface AdminResponse<T = unknown> {
  /** HTTP status; 0 when no answer came (network error or `timeoutMs`). */
  status: number;
  body: T;
  /** Wall time of the call (ms). */
  ms: number;
  error?: string;
}

export interface Tenant {
  masterId: number;
  masterKey: string;
  keyId: number;
  key: string;
}

export interface Cluster {
  pg: ManagedStore;
  redis: ManagedStore;
  /** Test-side PostgreSQL connection (for assertions; unusable while `pg` is stopped). */
  knex: Knex;
  /** Test-side Redis connection (reconnects by itself after a restart). */
  redisClient: Redis;
  mock: MockUpstream;
  model: string;
  queuePrefix: string;
  api: ManagedProcess;
  worker: ManagedProcess;
  gateways: ManagedProcess[];
  gatewayUrls(): string[];
  /** One admin API call with the bootstrap token; never throws, never waits past `timeoutMs` (10 s). */
  admin<T = Record<string, unknown>>(method: string, path: string, body?: unknown, options?: { timeoutMs?: number }): Promise<AdminResponse<T>>;
  /** A provider group for `model` on the mock upstream with one upstream key (once per cluster). */
  seedProvider(): Promise<{ groupId: number; apiKeyId: number }>;
  /** A master (global_qps 0 unless given) and one child key (`keyFields` go to the key's create body). */
  seedTenant(name: string, keyFields?: Record<string, unknown>, masterFields?: Record<string, unknown>): Promise<Tenant>;
  /** Waits until every gateway has loaded Redis' current `config:version` (bounded). */
  waitForGateways(timeoutMs?: number): Promise<void>;
  /** Waits until the outbox is empty and Redis is in sync (GET /admin/sync/status), bounded. */
  waitForSync(timeoutMs?: number): Promise<void>;
  /** Rows in request_logs. */
  logRows(): Promise<number>;
  close(): Promise<void>;
}

function runCommand(command: string, args: string[], timeoutMs = 120_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(' ')} failed (${code ?? signal}):\n${output.slice(-2000)}`));
    });
  });
}

/** pg_ctl as the postgres system user when we are root (PostgreSQL refuses to run as root). */
function pgCtl(args: string[]): [string, string[]] {
  const binary = path.join(findPostgresBinDir(), 'pg_ctl');
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  return root ? ['runuser', ['-u', 'postgres', '--', binary, ...args]] : [binary, args];
}

/** Dedicated PostgreSQL that can be stopped and started again on its port with its data. */
async function startStorePostgres(): Promise<{ store: ManagedStore; destroy(): Promise<void> }> {
  const baseDir = mkdtempSync(path.join(tmpdir(), 'ez-faults-pg-'));
  const local: LocalService = await startLocalPostgres({ baseDir });
  const dataDir = path.join(local.dir, 'data');
  const port = new URL(local.url).port;
  // The same server options startLocalPostgres uses (src/lib/local-services.ts).
  const options = [`-p ${port}`, '-c listen_addresses=127.0.0.1', "-c unix_socket_directories=''", '-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off', '-c max_connections=200'].join(' ');
  let running = true;
  const store: ManagedStore = {
    url: local.url,
    running: () => running,
    async stop() {
      if (!running) return;
      await runCommand(...pgCtl(['-D', dataDir, '-m', 'fast', '-w', '-t', '60', 'stop']));
      running = false;
    },
    async start() {
      if (running) return;
      await runCommand(...pgCtl(['-D', dataDir, '-o', options, '-l', path.join(local.dir, 'postgres.log'), '-w', '-t', '60', 'start']));
      running = true;
    },
  };
  return {
    store,
    async destroy() {
      if (!running) await store.start().catch(() => undefined); // LocalService.stop() expects a server to stop
      await local.stop();
      rmSync(baseDir, { recursive: true, force: true });
    },
  };
}

/** Dedicated Redis (AOF on) that can be stopped and started again on its port with its data. */
async function startStoreRedis(): Promise<{ store: ManagedStore; destroy(): Promise<void> }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'ez-faults-redis-'));
  const port = await freePort();
  let server: LocalService | undefined = await startLocalRedis({ port, dir });
  const store: ManagedStore = {
    url: server.url,
    running: () => server !== undefined,
    async stop() {
      // AOF is fsynced every second: give the last writes that second before stopping.
      await sleep(1_100);
      await server?.stop();
      server = undefined;
    },
    async start() {
      server ??= await startLocalRedis({ port, dir });
    },
  };
  return {
    store,
    async destroy() {
      await server?.stop();
      server = undefined;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function managed(name: string, entry: string, env: Record<string, string>, ready: (proc: SpawnedProcess) => Promise<unknown>, url?: string): ManagedProcess {
  let proc: SpawnedProcess | undefined;
  const current = () => {
    if (!proc) throw new Error(`${name} was never started`);
    return proc;
  };
  const alive = () => proc !== undefined && proc.child.exitCode === null && proc.child.signalCode === null;
  return {
    name,
    url,
    current,
    pid: () => current().child.pid ?? -1,
    alive,
    async start() {
      if (alive()) throw new Error(`${name} is already running`);
      proc = spawnEntry(entry, [], env);
      await ready(proc);
    },
    async kill(signal = 'SIGKILL') {
      if (!alive()) return current().exited;
      current().child.kill(signal);
      return current().exited;
    },
  };
}

/** Starts PostgreSQL, Redis, the mock upstream, migrations, then the api, the worker and the gateways. */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const cleanups: Array<() => Promise<unknown>> = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  };
  try {
    const [pg, redis] = await Promise.all([startStorePostgres(), startStoreRedis()]);
    cleanups.push(() => pg.destroy(), () => redis.destroy());
    const knex = createKnex({ dsn: pg.store.url, poolMax: 4, applicationName: 'ez-faults-test' });
    cleanups.push(() => knex.destroy());
    await migrateLatest(knex);
    const redisClient = createRedis({ url: redis.store.url, defaulted: false }, 'worker', 'ez-faults-test');
    redisClient.on('error', () => {});
    cleanups.push(() => closeRedis(redisClient));
    await waitForRedis(redisClient);
    const mock = await startMockUpstream();
    cleanups.push(() => mock.close());

    const dataDir = mkdtempSync(path.join(tmpdir(), 'ez-faults-data-'));
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    const queuePrefix = `ez-faults-${process.pid}-${Date.now().toString(36)}`;
    const common: Record<string, string> = {
      EZ_ENV: 'test',
      EZ_HOST: '127.0.0.1',
      EZ_DATA_DIR: dataDir,
      EZ_LOG_LEVEL: 'warn',
      EZ_REDIS_URL: redis.store.url,
      EZ_SECRET: TEST_SECRET,
      EZ_QUEUE_PREFIX: queuePrefix,
      ...options.env,
    };
    const controlPlane = { ...common, EZ_PG_DSN: pg.store.url, EZ_ADMIN_TOKEN: ADMIN_TOKEN, EZ_INTERNAL_TOKEN: INTERNAL_TOKEN };

    const apiPort = await freePort();
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const api = managed('api', 'src/bin/api.ts', { ...controlPlane, EZ_API_PORT: String(apiPort), ...options.apiEnv }, (p) => waitForHttp(`${apiUrl}/health`, p, { timeoutMs: 60_000 }), apiUrl);
    const worker = managed(
      'worker',
      'src/bin/worker.ts',
      {
        ...controlPlane,
        // A killed worker's jobs come back within seconds (BullMQ lock + stalled check), and the
        // sweeper applies pending outbox rows twice a second.
        EZ_WORKER_LOCK_DURATION_MS: '3000',
        EZ_WORKER_STALLED_INTERVAL_MS: '1000',
        EZ_SYNC_INTERVAL_MS: '500',
        // `worker started` (the readiness line) is an info line; the worker logs nothing per job.
        EZ_LOG_LEVEL: 'info',
        ...options.workerEnv,
      },
      (p) => waitForOutput(p, 'worker started', 60_000),
    );
    const gateways: ManagedProcess[] = [];
    for (let i = 0; i < (options.gateways ?? 2); i++) {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const env = gatewayEnv(port, dataDir, { redisUrl: redis.store.url, queuePrefix, env: { ...options.env, ...options.gatewayEnv } });
      gateways.push(managed(`gateway-${i + 1}`, 'src/bin/gateway.ts', env, (p) => waitForHttp(`${url}/health`, p, { timeoutMs: 60_000 }), url));
    }
    cleanups.push(async () => {
      await Promise.all([api, worker, ...gateways].map(async (p) => {
        if (!p.alive()) return;
        await p.current().stop('SIGTERM', 15_000).catch(() => p.kill('SIGKILL'));
      }));
    });
    await Promise.all([api.start(), worker.start(), ...gateways.map((g) => g.start())]);

    const admin = async <T>(method: string, urlPath: string, body?: unknown, opts: { timeoutMs?: number } = {}): Promise<AdminResponse<T>> => {
      const started = Date.now();
      try {
        const res = await fetch(`${apiUrl}${urlPath}`, {
          method,
          headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
        });
        const text = await res.text();
        let parsed: unknown = text;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          // not JSON: keep the text for the assertion message
        }
        return { status: res.status, body: parsed as T, ms: Date.now() - started };
      } catch (err) {
        return { status: 0, body: undefined as T, ms: Date.now() - started, error: (err as Error).message };
      }
    };
    const must = async <T>(method: string, urlPath: string, body: unknown, status: number): Promise<T> => {
      const res = await admin<T>(method, urlPath, body);
      if (res.status !== status) throw new Error(`${method} ${urlPath}: expected ${status}, got ${res.status} ${JSON.stringify(res.body) ?? res.error}`);
      return res.body;
    };

    let provider: { groupId: number; apiKeyId: number } | undefined;
    const cluster: Cluster = {
      pg: pg.store,
      redis: redis.store,
      knex,
      redisClient,
      mock,
      model: DEFAULT_MODEL,
      queuePrefix,
      api,
      worker,
      gateways,
      gatewayUrls: () => gateways.map((g) => g.url!),
      admin,
      async seedProvider() {
        if (provider) return provider;
        const group = await must<{ id: number }>('POST', '/admin/provider-groups', { name: 'faults-mock', type: 'openai', base_url: `${mock.url}/v1`, models: [DEFAULT_MODEL] }, 201);
        const key = await must<{ id: number }>('POST', '/admin/api-keys', { group_id: group.id, api_key: 'sk-faults-upstream-0000000000000000' }, 201);
        provider = { groupId: group.id, apiKeyId: key.id };
        return provider;
      },
      async seedTenant(name, keyFields = {}, masterFields = {}) {
        await cluster.seedProvider();
        const master = await must<{ id: number; key: string }>('POST', '/admin/masters', { name, global_qps: 0, ...masterFields }, 201);
        const key = await must<{ id: number; key: string }>('POST', `/admin/masters/${master.id}/keys`, { name: `${name}-key`, ...keyFields }, 201);
        return { masterId: master.id, masterKey: master.key, keyId: key.id, key: key.key };
      },
      async waitForGateways(timeoutMs = 30_000) {
        await cluster.waitForSync(timeoutMs);
        const version = Number((await redisClient.get(RedisKeys.configVersion)) ?? 0);
        const deadline = Date.now() + timeoutMs;
        for (const gateway of gateways) {
          let loaded = -1;
          while (loaded < version) {
            if (Date.now() > deadline) throw new Error(`${gateway.name} did not load config version ${version} (at ${loaded})`);
            const res = await fetch(`${gateway.url}/health`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
            const health = (await res?.json().catch(() => undefined)) as { loaded_config_version?: number } | undefined;
            loaded = health?.loaded_config_version ?? -1;
            if (loaded < version) await sleep(50);
          }
        }
      },
      async waitForSync(timeoutMs = 30_000) {
        const deadline = Date.now() + timeoutMs;
        let last: unknown;
        while (Date.now() < deadline) {
          const res = await admin<{ pending: number; failed: number; in_sync: boolean }>('GET', '/admin/sync/status', undefined, { timeoutMs: 5_000 });
          last = res.body ?? res.error;
          if (res.status === 200 && res.body.pending === 0 && res.body.in_sync) return;
          await sleep(100);
        }
        throw new Error(`the outbox did not drain within ${timeoutMs} ms (last status: ${JSON.stringify(last)})`);
      },
      async logRows() {
        const { rows } = await knex.raw<{ rows: Array<{ n: number }> }>('select count(*)::int as n from request_logs');
        return rows[0]!.n;
      },
      close: cleanup,
    };
    return cluster;
  } catch (err) {
    await cleanup();
    throw err;
  }
}

export interface LoadOptions {
  gateways: string[];
  key: string;
  model: string;
  /** Stop after this many requests were sent (over all workers). */
  total?: number;
  /** Or stop once this returns true (checked before each request). */
  until?: () => boolean;
  /** Concurrent requests per gateway (default 16). */
  concurrency?: number;
  /** Prefix of the X-Request-ID each request carries (`<prefix>-<n>`). */
  idPrefix?: string;
  /** Per-request headers/body timeout (default 15 s). */
  timeoutMs?: number;
  /** Pause after each answer, per connection (ms; paces a steady load). */
  intervalMs?: number;
  /** Updated as the run goes (read it from the test to time faults). */
  progress?: { sent: number; answered: number };
}

export interface LoadResult {
  /** X-Request-ID → HTTP status, for every request the gateway answered. */
  answered: Map<string, number>;
  /** Requests that got no HTTP answer (connection error or timeout), with the reason. */
  unanswered: Array<{ id: string; error: string }>;
  statuses: Record<number, number>;
}

/** Non-streamed chat completions spread round-robin over the gateways (undici pools, bounded). */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const concurrency = options.concurrency ?? 16;
  const prefix = options.idPrefix ?? `load-${Date.now().toString(36)}`;
  const pools = options.gateways.map((url) => new Pool(url, { connections: concurrency }));
  const body = JSON.stringify({ model: options.model, messages: [{ role: 'user', content: 'hi' }] });
  const result: LoadResult = { answered: new Map(), unanswered: [], statuses: {} };
  const progress = options.progress ?? { sent: 0, answered: 0 };
  const more = () => (options.total === undefined || progress.sent < options.total) && !(options.until?.() ?? false);
  if (options.total === undefined && options.until === undefined) throw new Error('runLoad needs total or until');
  try {
    await Promise.all(
      pools.flatMap((pool) =>
        Array.from({ length: concurrency }, async () => {
          while (more()) {
            const id = `${prefix}-${progress.sent++}`;
            try {
              const res = await pool.request({
                path: '/v1/chat/completions',
                method: 'POST',
                headers: { 'content-type': 'application/json', authorization: `Bearer ${options.key}`, 'x-request-id': id },
                body,
                headersTimeout: options.timeoutMs ?? 15_000,
                bodyTimeout: options.timeoutMs ?? 15_000,
              });
              await res.body.text();
              result.answered.set(id, res.statusCode);
              progress.answered++;
              result.statuses[res.statusCode] = (result.statuses[res.statusCode] ?? 0) + 1;
            } catch (err) {
              result.unanswered.push({ id, error: (err as Error).message });
            }
            if (options.intervalMs) await sleep(options.intervalMs);
          }
        }),
      ),
    );
  } finally {
    await Promise.all(pools.map((p) => p.close()));
  }
  return result;
}

/** request_id of every request_logs row whose id starts with `prefix` (bounded by the caller's run). */
export async function loggedRequestIds(knex: Knex, prefix: string): Promise<{ total: number; distinct: Set<string> }> {
  const rows = (await knex('request_logs').select('request_id').where('request_id', 'like', `${prefix}-%`)) as Array<{ request_id: string }>;
  return { total: rows.length, distinct: new Set(rows.map((r) => r.request_id)) };
}

/** BullMQ connection options (host, port, db) for a redis:// URL, e.g. for QueueEvents. */
export function redisConnection(redisUrl: string): { host: string; port: number; db: number } {
  const url = new URL(redisUrl);
  return { host: url.hostname, port: Number(url.port || 6379), db: Number(url.pathname.slice(1) || 0) };
}
