import { mkdtempSync, rmSync } from 'node:fs';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../src/lib/local-services.js';
import { spawnEntry, waitForHttp, type SpawnedProcess } from './process.js';
import { TEST_SECRET } from './sync.js';

/**
 * `src/bin/gateway.ts` as a real child process on loopback, for tests that need several gateway
 * replicas or a gateway whose environment the test controls (no EZ_PG_DSN).
 */
export interface GatewayProcess {
  proc: SpawnedProcess;
  port: number;
  url: string;
  /** Stops the process (SIGTERM by default) and removes its data directory; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export interface GatewayProcessOptions {
  redisUrl: string;
  queuePrefix: string;
  /** Extra or overriding variables. */
  env?: Record<string, string>;
}

/** The environment the gateway child gets: exactly this, plus PATH and HOME (spawnEntry). */
export function gatewayEnv(port: number, dataDir: string, options: GatewayProcessOptions): Record<string, string> {
  return {
    EZ_ENV: 'test',
    EZ_HOST: '127.0.0.1',
    EZ_GATEWAY_PORT: String(port),
    EZ_REDIS_URL: options.redisUrl,
    EZ_SECRET: TEST_SECRET,
    EZ_QUEUE_PREFIX: options.queuePrefix,
    EZ_DATA_DIR: dataDir,
    EZ_LOG_LEVEL: 'warn',
    ...options.env,
  };
}

export async function startGatewayProcess(options: GatewayProcessOptions): Promise<GatewayProcess> {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'ez-gw-'));
  const proc = spawnEntry('src/bin/gateway.ts', [], gatewayEnv(port, dataDir, options));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/health`, proc, { timeoutMs: 30_000 });
  } catch (err) {
    await proc.stop('SIGKILL').catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    proc,
    port,
    url,
    async stop(signal = 'SIGTERM') {
      try {
        return await proc.stop(signal);
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
}

/** Polls `/health` until the gateway has loaded at least `version` of the config (bounded). */
export async function waitForConfigVersion(url: string, version: number, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1_000) }).catch(() => undefined);
    if (res) {
      last = await res.json().catch(() => undefined);
      const loaded = (last as { loaded_config_version?: number } | undefined)?.loaded_config_version ?? 0;
      if (loaded >= version) return;
    }
    await sleep(20);
  }
  throw new Error(`${url} did not load config version ${version} within ${timeoutMs} ms (last health: ${JSON.stringify(last)})`);
}

/** One non-streamed OpenAI chat completion through a gateway; the status and Retry-After. */
export async function chatOnce(url: string, key: string, model: string): Promise<{ status: number; retryAfter: string | null; body: string }> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
    signal: AbortSignal.timeout(5_000),
  });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.text() };
}

/** A TCP socket owned by a process, from /proc (Linux only). */
export interface ProcessSocket {
  inode: string;
  local: { address: string; port: number };
  remote: { address: string; port: number };
  /** Kernel state code, e.g. '01' ESTABLISHED, '0A' LISTEN. */
  state: string;
}

function parseEndpoint(hex: string): { address: string; port: number } {
  const [address = '', port = '0'] = hex.split(':');
  return { address, port: parseInt(port, 16) };
}

/**
 * Every TCP socket (IPv4 and IPv6) held open by `pid`: the socket inodes behind /proc/<pid>/fd
 * matched against /proc/<pid>/net/tcp{,6}. Linux only; throws where /proc is missing.
 */
export async function tcpSocketsOf(pid: number): Promise<ProcessSocket[]> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match) inodes.add(match[1]!);
  }
  const sockets: ProcessSocket[] = [];
  for (const table of ['tcp', 'tcp6']) {
    const text = await readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      const inode = cols[9]!;
      if (!inodes.has(inode)) continue;
      sockets.push({ inode, local: parseEndpoint(cols[1]!), remote: parseEndpoint(cols[2]!), state: cols[3]! });
    }
  }
  return sockets;
}

/** The NUL-separated environment a process was started with (Linux /proc/<pid>/environ). */
export async function environOf(pid: number): Promise<Record<string, string>> {
  const raw = await readFile(`/proc/${pid}/environ`, 'utf8');
  const env: Record<string, string> = {};
  for (const entry of raw.split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}
