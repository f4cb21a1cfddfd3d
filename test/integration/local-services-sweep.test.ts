import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, sweepStaleRunDirs } from '../../src/lib/local-services.js';

/** A pid that belonged to a process which has exited (so nobody owns a directory named after it). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A SIGKILLed `npm start` leaves its throwaway servers running under `.data/run`; the next start
 * stops them and removes their directories, but never touches a live owner's directory.
 */
describe('sweepStaleRunDirs', function () {
  this.timeout(30_000);
  let base: string;

  beforeEach(() => {
    base = mkdtempSync(path.join(tmpdir(), 'ez-sweep-'));
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it('stops an orphaned redis-server and removes its directory; keeps a live owner’s directory', async () => {
    const orphanDir = path.join(base, 'run', `redis-${deadPid()}-abc123`);
    const liveDir = path.join(base, 'run', `redis-${process.pid}-def456`);
    mkdirSync(orphanDir, { recursive: true });
    mkdirSync(liveDir, { recursive: true });
    const port = await freePort();
    const orphan = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', orphanDir, '--save', '', '--pidfile', path.join(orphanDir, 'redis.pid')], {
      stdio: 'ignore',
      detached: true,
    });
    orphan.unref();
    for (let i = 0; i < 100 && !existsSync(path.join(orphanDir, 'redis.pid')); i++) await sleep(50);
    expect(existsSync(path.join(orphanDir, 'redis.pid')), 'redis wrote its pidfile').to.equal(true);
    const pid = orphan.pid!;
    expect(alive(pid)).to.equal(true);

    expect(sweepStaleRunDirs(base)).to.equal(1);

    for (let i = 0; i < 100 && alive(pid); i++) await sleep(50);
    expect(alive(pid), 'the orphaned server was stopped').to.equal(false);
    expect(existsSync(orphanDir)).to.equal(false);
    expect(existsSync(liveDir)).to.equal(true);
  });

  it('removes a dead owner’s directory with no server, once per process', () => {
    const stale = path.join(base, 'run', `postgres-${deadPid()}-zz9`);
    mkdirSync(path.join(stale, 'data'), { recursive: true });
    expect(sweepStaleRunDirs(base)).to.equal(1);
    expect(existsSync(stale)).to.equal(false);
    mkdirSync(stale, { recursive: true });
    expect(sweepStaleRunDirs(base), 'second call in the same process is a no-op').to.equal(0);
  });
});
