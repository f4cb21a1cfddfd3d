import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resetDatabase, testEnv } from './hooks.js';
import { spawnEntry, type SpawnedProcess } from './process.js';
import { TEST_SECRET } from './sync.js';

/**
 * The `ez-api` CLI as a real child process against the test PostgreSQL and Redis. Registers
 * mocha hooks in the calling `describe`: each test gets an empty database and a fresh data
 * directory (`cli.dataDir()`), and any process still running afterwards is killed.
 */
export function useCli(label: string): { run(args: string[]): Promise<{ code: number | string; output: string }>; dataDir(): string } {
  let dataDir = '';
  let running: SpawnedProcess[] = [];

  beforeEach(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), `ez-${label}-`));
    await resetDatabase();
  });
  afterEach(async () => {
    await Promise.all(running.map((p) => p.stop('SIGKILL').catch(() => undefined)));
    running = [];
    rmSync(dataDir, { recursive: true, force: true });
  });

  return {
    dataDir: () => dataDir,
    async run(args) {
      const proc = spawnEntry('src/bin/ez-api.ts', args, {
        EZ_ENV: 'test',
        EZ_PG_DSN: testEnv().pgUrl,
        EZ_REDIS_URL: testEnv().redisUrl,
        EZ_SECRET: TEST_SECRET,
        EZ_DATA_DIR: dataDir,
        EZ_QUEUE_PREFIX: `ez-${label}-${process.pid}-${Date.now()}`,
      });
      running.push(proc);
      const code = await proc.exited;
      return { code, output: proc.output() };
    },
  };
}
