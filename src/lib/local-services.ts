import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Throwaway PostgreSQL and Redis servers started from the machine's own binaries, for `npm start`
 * and the tests when no URLs are configured (DESIGN §1). Each lives in a fresh directory under
 * the data directory, listens on a free loopback port, and is removed when stopped.
 */

export class MissingBinaryError extends Error {
  override readonly name = 'MissingBinaryError';
}

export interface LocalService {
  url: string;
  dir: string;
  stop(): Promise<void>;
}

const DEBIAN_PG_HINT =
  'Install PostgreSQL (Debian/Ubuntu: `apt-get install -y postgresql`; macOS: `brew install postgresql@15`), or set EZ_PG_DSN to an existing server.';
const REDIS_HINT =
  'Install Redis (Debian/Ubuntu: `apt-get install -y redis-server`; macOS: `brew install redis`), or set EZ_REDIS_ADDR / EZ_REDIS_URL to an existing server.';

/** A free TCP port on 127.0.0.1, as the kernel hands it out. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function onPath(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, binary);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** The directory holding initdb and pg_ctl: the newest /usr/lib/postgresql/<v>/bin, else PATH. */
export function findPostgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return path.join(root, versions[0], 'bin');
  }
  const initdb = onPath('initdb');
  if (initdb && onPath('pg_ctl')) return path.dirname(initdb);
  throw new MissingBinaryError(`PostgreSQL server binaries (initdb, pg_ctl) were not found. ${DEBIAN_PG_HINT}`);
}

function findRedisServer(): string {
  const binary = onPath('redis-server');
  if (!binary) throw new MissingBinaryError(`redis-server was not found on PATH. ${REDIS_HINT}`);
  return binary;
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** PostgreSQL refuses to run as root: then run its tools as the `postgres` system user. */
function pgCommand(binDir: string, tool: string, args: string[]): [string, string[]] {
  const binary = path.join(binDir, tool);
  if (!isRoot()) return [binary, args];
  const runuser = onPath('runuser');
  if (!runuser) throw new MissingBinaryError('Running as root needs `runuser` (util-linux) to start PostgreSQL as the postgres user.');
  return [runuser, ['-u', 'postgres', '--', binary, ...args]];
}

function systemUser(name: string): { uid: number; gid: number } | undefined {
  const result = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  if (result.status !== 0 || gid.status !== 0) return undefined;
  return { uid: Number(result.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

function run(command: string, args: string[], what: string): void {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 120_000 });
  if (result.status !== 0) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
    throw new Error(`${what} failed (exit ${result.status ?? result.signal}):\n${output}`);
  }
}

function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function pidFrom(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').split('\n')[0]?.trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

const sweptBaseDirs = new Set<string>();

/**
 * Run directories are named `<server>-<owner pid>-<time>`. One whose owner is gone was left by a
 * SIGKILLed `npm start` or test run: its servers may still be running (PostgreSQL daemonizes;
 * redis-server outlives a killed parent). Stop them — PostgreSQL through its postmaster.pid, Redis
 * through its pidfile — and remove the directory. Directories of live owners (another `npm start`
 * or test run on this checkout) are left alone. Runs once per base directory and process.
 * Returns how many directories were removed.
 */
export function sweepStaleRunDirs(baseDir: string): number {
  const runRoot = path.resolve(baseDir, 'run');
  if (sweptBaseDirs.has(runRoot)) return 0;
  sweptBaseDirs.add(runRoot);
  if (!existsSync(runRoot)) return 0;
  let removed = 0;
  for (const name of readdirSync(runRoot)) {
    const match = /^(postgres|redis)-(\d+)-[0-9a-z]+$/.exec(name);
    if (!match || processAlive(Number(match[2]))) continue;
    const dir = path.join(runRoot, name);
    if (match[1] === 'postgres') {
      const dataDir = path.join(dir, 'data');
      const pid = pidFrom(path.join(dataDir, 'postmaster.pid'));
      if (pid !== undefined && processAlive(pid)) {
        try {
          spawnSync(...pgCommand(findPostgresBinDir(), 'pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', '-t', '30', 'stop']), { stdio: 'ignore' });
        } catch {
          // No binaries any more: leave the directory for a human.
          continue;
        }
      }
    } else {
      const pid = pidFrom(path.join(dir, 'redis.pid'));
      if (pid !== undefined && processAlive(pid) && commandLine(pid).includes('redis-server')) process.kill(pid, 'SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
    removed++;
  }
  return removed;
}

function makeRunDir(baseDir: string, name: string): string {
  sweepStaleRunDirs(baseDir);
  const dir = path.resolve(baseDir, 'run', `${name}-${process.pid}-${Date.now().toString(36)}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * As root the server runs as `postgres`, which must be able to reach its directory: when the
 * data directory sits under a path that user cannot traverse (a 0700 home, a mkdtemp folder),
 * fall back to a fresh directory under the system temp dir.
 */
function postgresRunDir(baseDir: string): string {
  const dir = makeRunDir(baseDir, 'postgres');
  if (!isRoot()) return dir;
  const reachable = spawnSync('runuser', ['-u', 'postgres', '--', 'test', '-x', dir], { stdio: 'ignore' }).status === 0;
  if (reachable) return dir;
  rmSync(dir, { recursive: true, force: true });
  return mkdtempSync(path.join(tmpdir(), 'ez-api-postgres-'));
}

export interface LocalPostgresOptions {
  /** Parent directory; the server gets a fresh subdirectory (default `.data`). */
  baseDir?: string;
  database?: string;
}

/** initdb + pg_ctl start on a free loopback port; resolves once the server accepts connections. */
export async function startLocalPostgres(options: LocalPostgresOptions = {}): Promise<LocalService> {
  const binDir = findPostgresBinDir();
  const dir = postgresRunDir(options.baseDir ?? '.data');
  const dataDir = path.join(dir, 'data');
  const logFile = path.join(dir, 'postgres.log');
  const port = await freePort();
  const user = 'ez';
  mkdirSync(dataDir, { mode: 0o700 });
  writeFileSync(logFile, '');
  if (isRoot()) {
    const pgUser = systemUser('postgres');
    if (!pgUser) throw new MissingBinaryError(`Running as root needs the postgres system user. ${DEBIAN_PG_HINT}`);
    for (const p of [dir, dataDir, logFile]) chownSync(p, pgUser.uid, pgUser.gid);
  }
  run(...pgCommand(binDir, 'initdb', ['-D', dataDir, '-U', user, '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync']), 'initdb');
  const serverOptions = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    "-c unix_socket_directories=''",
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    '-c max_connections=200',
  ].join(' ');
  run(...pgCommand(binDir, 'pg_ctl', ['-D', dataDir, '-o', serverOptions, '-l', logFile, '-w', '-t', '60', 'start']), 'pg_ctl start');

  const database = options.database ?? 'ez_api';
  run(...pgCommand(binDir, 'createdb', ['-h', '127.0.0.1', '-p', String(port), '-U', user, database]), 'createdb');

  let stopped = false;
  return {
    url: `postgres://${user}@127.0.0.1:${port}/${database}`,
    dir,
    async stop() {
      if (stopped) return;
      stopped = true;
      spawnSync(...pgCommand(binDir, 'pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', '-t', '30', 'stop']), { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPing(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.setTimeout(500);
      socket.once('connect', () => socket.write('PING\r\n'));
      socket.once('data', (d) => {
        socket.destroy();
        resolve(d.toString().startsWith('+PONG'));
      });
      socket.once('error', () => resolve(false));
      socket.once('timeout', () => {
        socket.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`redis-server did not answer PING within ${timeoutMs} ms`);
}

export interface LocalRedisOptions {
  baseDir?: string;
  /** Listen on this port instead of a free one (tests restart a server on its old port). */
  port?: number;
  /** Use this directory (and its AOF) instead of a fresh one; it is kept on stop. */
  dir?: string;
}

/** redis-server with AOF on and no eviction (DESIGN §5) on a free loopback port. */
export async function startLocalRedis(options: LocalRedisOptions = {}): Promise<LocalService> {
  const binary = findRedisServer();
  const ownsDir = options.dir === undefined;
  const dir = options.dir ?? makeRunDir(options.baseDir ?? '.data', 'redis');
  mkdirSync(dir, { recursive: true });
  const port = options.port ?? (await freePort());
  const child = spawn(
    binary,
    [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--dir', dir,
      '--appendonly', 'yes',
      '--appendfsync', 'everysec',
      '--maxmemory-policy', 'noeviction',
      '--save', '',
      '--daemonize', 'no',
      '--logfile', path.join(dir, 'redis.log'),
      // Lets a later run stop this server if our process is SIGKILLed (sweepStaleRunDirs).
      '--pidfile', path.join(dir, 'redis.pid'),
    ],
    { stdio: 'ignore', detached: false },
  );
  try {
    await waitForPing(port, child, 15_000);
  } catch (err) {
    child.kill('SIGKILL');
    if (ownsDir) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  let stopped = false;
  return {
    url: `redis://127.0.0.1:${port}/0`,
    dir,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(5_000)]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      if (ownsDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
