import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Knex } from 'knex';
import { createKnex, migrateLatest } from '../src/db/knex.js';
import { freePort, startLocalPostgres, startLocalRedis, type LocalService } from '../src/lib/local-services.js';
import { AdminClient } from './admin-client.js';
import { startChildServer, type ChildServer } from './child.js';
import {
  BENCH_DATA_DIR,
  benchRuntime,
  ensureBuild,
  pidFromFile,
  ROOT,
  spawnProduct,
  waitUntil,
  type ProductProcess,
  type Runtime,
} from './processes.js';

/**
 * The environment the gateway scenarios share within one `npm run bench`: throwaway PostgreSQL and
 * Redis (src/lib/local-services.ts; a benchmark never touches EZ_PG_DSN), migrations, the api and a
 * worker (all queues) as child processes, the real gateway process, the mock upstream and the bare
 * proxy. Everything the gateway serves is configured through the admin API over HTTP, and the
 * scenarios start only once the gateway has loaded that configuration. Auth, limits (high enough
 * never to refuse), routing and logging are all on.
 */

/** Public model the bench key calls (an explicit binding onto the mock's `bench-model`). */
export const BENCH_MODEL = 'bench';

export interface GatewayHandle {
  proc: ProductProcess;
  url: string;
}

export interface BenchEnv {
  runtime: Runtime;
  buildWarning?: string;
  knex: Knex;
  secret: string;
  admin: AdminClient;
  api: ProductProcess;
  worker: ProductProcess;
  gateway: GatewayHandle;
  redisPid: number | undefined;
  mock: ChildServer;
  bare: ChildServer;
  /** Plaintext of the child key the load uses. */
  key: string;
  keyId: number;
  masterId: number;
  /** Spawns a further gateway replica on the same Redis without waiting for it (stopped with the environment). */
  spawnGateway(name: string): Promise<GatewayHandle>;
  /** A further gateway replica, once it answers /health. */
  startGateway(name: string): Promise<GatewayHandle>;
  /** Waits until every applied admin write is in Redis and every gateway given has loaded it; returns the version. */
  waitForConfig(gateways: readonly GatewayHandle[], timeoutMs?: number): Promise<number>;
  stop(): Promise<void>;
}

/** The commit under test, for RESULTS.md (read-only `git rev-parse`). */
export function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5_000 }).trim();
  } catch {
    return 'unknown';
  }
}

interface SyncStatus {
  pending: number;
  failed: number;
  redis_version: number | null;
  in_sync: boolean;
}

async function gatewayLoaded(url: string): Promise<number> {
  const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
  const body = (await res.json()) as { loaded_config_version?: number };
  return body.loaded_config_version ?? 0;
}

let shared: Promise<BenchEnv> | undefined;

/** The shared environment, started on first use. */
export function benchEnv(): Promise<BenchEnv> {
  shared ??= startBenchEnv();
  return shared;
}

/** Stops the shared environment if one was started. */
export async function stopBenchEnv(): Promise<void> {
  if (!shared) return;
  const env = await shared.catch(() => undefined);
  shared = undefined;
  await env?.stop();
}

async function startBenchEnv(): Promise<BenchEnv> {
  const runtime = benchRuntime();
  const build = runtime === 'build' ? ensureBuild() : Promise.resolve({ rebuilt: false } as { rebuilt: boolean; warning?: string });
  const stops: Array<() => Promise<unknown>> = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => console.error('bench: stop failed:', err));
    stops.length = 0;
  };
  try {
    const pg = await startLocalPostgres({ baseDir: BENCH_DATA_DIR });
    stops.push(() => pg.stop());
    const redis: LocalService = await startLocalRedis({ baseDir: BENCH_DATA_DIR });
    stops.push(() => redis.stop());
    const knex = createKnex({ dsn: pg.url, poolMax: 4, applicationName: 'ez-bench' });
    stops.push(() => knex.destroy());
    await migrateLatest(knex);
    const { warning: buildWarning } = await build;

    const secret = randomBytes(32).toString('hex');
    const adminToken = `ezadm_bench_${randomBytes(16).toString('hex')}`;
    const queuePrefix = `ez-bench-${randomBytes(4).toString('hex')}`;
    const commit = gitCommit();
    const common = {
      EZ_ENV: 'production',
      EZ_HOST: '127.0.0.1',
      EZ_SECRET: secret,
      EZ_REDIS_URL: redis.url,
      EZ_QUEUE_PREFIX: queuePrefix,
      EZ_DATA_DIR: BENCH_DATA_DIR,
      EZ_COMMIT: commit,
      EZ_LOG_LEVEL: 'warn',
    };

    const mock = await startChildServer('mock');
    stops.push(() => mock.stop());
    const bare = await startChildServer('bare-proxy', [mock.url]);
    stops.push(() => bare.stop());

    const apiPort = await freePort();
    const api = spawnProduct('api', runtime, { ...common, EZ_PG_DSN: pg.url, EZ_API_PORT: String(apiPort), EZ_ADMIN_TOKEN: adminToken });
    stops.push(() => api.stop());
    const worker = spawnProduct('worker', runtime, { ...common, EZ_PG_DSN: pg.url, EZ_LOG_LEVEL: 'info' });
    stops.push(() => worker.stop());
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    await waitUntil('the api to be ready', async () => (await fetch(`${apiUrl}/health/ready`, { signal: AbortSignal.timeout(2_000) })).ok, {
      timeoutMs: 60_000,
      proc: api,
    });
    await waitUntil('the worker to start', async () => worker.output().includes('worker started'), { timeoutMs: 60_000, proc: worker });

    const spawnGateway = async (name: string): Promise<GatewayHandle> => {
      const port = await freePort();
      const proc = spawnProduct('gateway', runtime, { ...common, EZ_GATEWAY_PORT: String(port) }, name);
      stops.push(() => proc.stop());
      return { proc, url: `http://127.0.0.1:${port}` };
    };
    const startGateway = async (name: string): Promise<GatewayHandle> => {
      const handle = await spawnGateway(name);
      await waitUntil(`${name} to answer /health`, async () => (await fetch(`${handle.url}/health`, { signal: AbortSignal.timeout(2_000) })).ok, {
        timeoutMs: 60_000,
        proc: handle.proc,
      });
      return handle;
    };

    const admin = new AdminClient(apiUrl, adminToken);
    const waitForConfig = async (targets: readonly GatewayHandle[], timeoutMs = 30_000): Promise<number> => {
      let version = 0;
      await waitUntil(
        'the outbox to drain into Redis',
        async () => {
          const status = await admin.get<SyncStatus>('/admin/sync/status');
          if (status.failed > 0) throw new Error(`sync outbox has ${status.failed} failed row(s)`);
          version = status.redis_version ?? 0;
          return status.pending === 0 && status.in_sync;
        },
        { timeoutMs, intervalMs: 20 },
      );
      for (const gw of targets) {
        await waitUntil(`${gw.proc.name} to load config version ${version}`, async () => (await gatewayLoaded(gw.url)) >= version, {
          timeoutMs,
          intervalMs: 20,
          proc: gw.proc,
        });
      }
      return version;
    };

    // The configuration, through the admin API like an operator would write it.
    const master = await admin.post<{ id: number }>('/admin/masters', { name: 'bench', global_qps: 1_000_000, max_child_keys: 1_000 });
    const child = await admin.post<{ id: number; key: string }>(`/admin/masters/${master.id}/keys`, {
      name: 'bench-load',
      rpm_limit: 2_000_000_000,
      tpm_limit: 1_000_000_000_000,
      quota_limit: 1_000_000_000_000,
    });
    const group = await admin.post<{ id: number }>('/admin/provider-groups', {
      name: 'bench-mock',
      type: 'openai',
      base_url: `${mock.url}/v1`,
      models: ['bench-model'],
    });
    for (const name of ['bench-a', 'bench-b']) {
      await admin.post('/admin/api-keys', { group_id: group.id, name, api_key: `sk-bench-${name}-${randomBytes(12).toString('hex')}` });
    }
    await admin.post('/admin/models', { name: 'bench-model', price_input: 0.15, price_output: 0.6 });
    await admin.post('/admin/bindings', {
      namespace: 'default',
      public_model: BENCH_MODEL,
      candidates: [{ group_id: group.id, selector_type: 'exact', selector_value: 'bench-model' }],
    });

    const gateway = await startGateway('gateway');
    await waitForConfig([gateway]);

    const env: BenchEnv = {
      runtime,
      ...(buildWarning ? { buildWarning } : {}),
      knex,
      secret,
      admin,
      api,
      worker,
      gateway,
      redisPid: pidFromFile(path.join(redis.dir, 'redis.pid')),
      mock,
      bare,
      key: child.key,
      keyId: child.id,
      masterId: master.id,
      spawnGateway,
      startGateway,
      waitForConfig,
      stop: stopAll,
    };
    await assertServes(env);
    return env;
  } catch (err) {
    await stopAll();
    throw err;
  }
}

export function chatBody(model: string, stream: boolean): string {
  return JSON.stringify({ model, messages: [{ role: 'user', content: 'ping' }], ...(stream ? { stream: true } : {}) });
}

/** One JSON and one streamed completion through the gateway must succeed before anything is measured. */
async function assertServes(env: BenchEnv): Promise<void> {
  for (const stream of [false, true]) {
    const res = await fetch(`${env.gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${env.key}` },
      body: chatBody(BENCH_MODEL, stream),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    if (res.status !== 200 || (stream && !text.includes('data:'))) {
      throw new Error(`the gateway does not serve the bench model (${stream ? 'stream' : 'json'}): HTTP ${res.status} ${text.slice(0, 500)}\n${env.gateway.proc.output().slice(-2000)}`);
    }
  }
}
