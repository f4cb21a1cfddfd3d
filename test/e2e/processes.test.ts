import { expect } from 'chai';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/lib/local-services.js';
import { testEnv } from '../support/hooks.js';
import { spawnEntry, waitForHttp, waitForOutput, type SpawnedProcess } from '../support/process.js';

describe('processes', function () {
  this.timeout(90_000);
  let dataDir: string;
  let running: SpawnedProcess[] = [];

  beforeEach(() => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'ez-e2e-'));
  });
  afterEach(async () => {
    await Promise.all(running.map((p) => p.stop('SIGKILL').catch(() => undefined)));
    running = [];
    rmSync(dataDir, { recursive: true, force: true });
  });

  const baseEnv = (): Record<string, string> => ({
    EZ_ENV: 'test',
    EZ_HOST: '127.0.0.1',
    EZ_DATA_DIR: dataDir,
    EZ_LOG_LEVEL: 'info',
    EZ_QUEUE_PREFIX: `ez-e2e-${process.pid}-${Date.now()}`,
  });
  const start = (entry: string, args: string[], env: Record<string, string>) => {
    const proc = spawnEntry(entry, args, env);
    running.push(proc);
    return proc;
  };

  it('prints its name, version and commit', async () => {
    const proc = start('src/bin/ez-api.ts', ['--version'], baseEnv());
    expect(await proc.exited).to.equal(0);
    expect(proc.output()).to.match(/^ez-api \d+\.\d+\.\d+ \(/);
  });

  it('stops with a message naming the variable when the configuration is invalid', async () => {
    const proc = start('src/bin/api.ts', [], { ...baseEnv(), EZ_API_PORT: 'eighty' });
    expect(await proc.exited).to.equal(2);
    expect(proc.output()).to.include('EZ_API_PORT');
    expect(proc.output()).to.not.include('    at ');
  });

  it('the api answers ready on real PostgreSQL and Redis and shuts down gracefully on SIGTERM', async () => {
    const port = await freePort();
    const proc = start('src/bin/api.ts', [], {
      ...baseEnv(),
      EZ_API_PORT: String(port),
      EZ_PG_DSN: testEnv().pgUrl,
      EZ_REDIS_URL: testEnv().redisUrl,
    });
    const res = await waitForHttp(`http://127.0.0.1:${port}/health/ready`, proc);
    const body = (await res.json()) as { checks: Record<string, { status: string }> };
    expect(body.checks.postgres?.status).to.equal('up');
    expect(body.checks.redis?.status).to.equal('up');
    expect(await proc.stop('SIGTERM')).to.equal(0);
    expect(proc.output()).to.include('shutdown complete');
  });

  it('the gateway runs without any database setting and shuts down gracefully on SIGTERM', async () => {
    const port = await freePort();
    const proc = start('src/bin/gateway.ts', [], { ...baseEnv(), EZ_GATEWAY_PORT: String(port), EZ_REDIS_URL: testEnv().redisUrl });
    await waitForHttp(`http://127.0.0.1:${port}/health`, proc);
    expect(await proc.stop('SIGINT')).to.equal(0);
    expect(proc.output()).to.include('shutdown complete');
  });

  it('the worker starts its queues and shuts down gracefully on SIGTERM', async () => {
    const proc = start('src/bin/worker.ts', [], { ...baseEnv(), EZ_PG_DSN: testEnv().pgUrl, EZ_REDIS_URL: testEnv().redisUrl });
    await waitForOutput(proc, 'worker started');
    expect(await proc.stop('SIGTERM')).to.equal(0);
    expect(proc.output()).to.include('shutdown complete');
  });

  it('`serve all` with no URLs starts throwaway PostgreSQL and Redis, serves, and removes them on exit', async () => {
    const [apiPort, gatewayPort] = [await freePort(), await freePort()];
    const proc = start('src/bin/ez-api.ts', ['serve', 'all'], {
      ...baseEnv(),
      EZ_API_PORT: String(apiPort),
      EZ_GATEWAY_PORT: String(gatewayPort),
    });
    await waitForOutput(proc, 'EZ-API is running', 60_000);
    const curl = /curl -s (http:\/\/\S+\/health\/ready)/.exec(proc.output());
    expect(curl, 'the banner prints a curl line').to.not.equal(null);
    const ready = await fetch(curl![1]!);
    expect(ready.status).to.equal(200);
    const body = (await ready.json()) as { checks: Record<string, { status: string }> };
    expect(body.checks.postgres?.status).to.equal('up');
    expect(body.checks.redis?.status).to.equal('up');
    expect((await fetch(`http://127.0.0.1:${gatewayPort}/health`)).status).to.equal(200);
    const token = /Authorization: Bearer (\S+)"/.exec(proc.output())?.[1];
    expect(token).to.match(/^ezadm_/);
    const whoami = await fetch(`http://127.0.0.1:${apiPort}/admin/whoami`, { headers: { authorization: `Bearer ${token}` } });
    expect(whoami.status).to.equal(200);

    expect(await proc.stop('SIGTERM', 30_000)).to.equal(0);
    const runDir = path.join(dataDir, 'run');
    const leftovers = existsSync(runDir) ? readdirSync(runDir) : [];
    expect(leftovers, 'local servers are removed on exit').to.deep.equal([]);
    expect(proc.output()).to.not.match(/ezadm_\S+.*"level"/);
  });
});
