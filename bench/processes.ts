import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

/**
 * The product's own entry points (src/bin/api.ts, worker.ts, gateway.ts) as child processes of a
 * benchmark, run either from the production build (`tsc -p tsconfig.build.json`, plain `node`: what
 * the Procfile and the Docker image run) or through tsx. Plus what a benchmark reads about a process
 * from /proc: CPU time and resident memory.
 */

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '..');
export const BENCH_DATA_DIR = path.join(ROOT, '.data', 'bench');
const BUILD_DIR = path.join(BENCH_DATA_DIR, 'build');
const BUILD_STAMP = path.join(BUILD_DIR, '.built-at');
const BUILD_INPUTS = ['src', 'jobs', 'migrations', 'knexfile.ts', 'tsconfig.json', 'tsconfig.build.json', 'package.json'];

export type Runtime = 'build' | 'tsx';

/** BENCH_RUNTIME=build (default) or tsx. */
export function benchRuntime(): Runtime {
  const raw = process.env.BENCH_RUNTIME ?? 'build';
  if (raw !== 'build' && raw !== 'tsx') throw new Error(`BENCH_RUNTIME must be build or tsx, got ${raw}`);
  return raw;
}

export function describeRuntime(runtime: Runtime): string {
  return runtime === 'build'
    ? 'production build (`tsc -p tsconfig.build.json`, run with plain `node`)'
    : 'tsx (TypeScript compiled on load; set BENCH_RUNTIME=build for the production build)';
}

function newestMtime(entry: string): number {
  const stat = statSync(entry, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const name of readdirSync(entry)) newest = Math.max(newest, newestMtime(path.join(entry, name)));
  return newest;
}

/**
 * Compiles the production build into .data/bench/build unless it is newer than every input.
 * Type errors (another change in progress) do not stop the emit; they are returned as a warning.
 */
export async function ensureBuild(): Promise<{ rebuilt: boolean; warning?: string }> {
  const stamp = statSync(BUILD_STAMP, { throwIfNoEntry: false });
  const newestInput = Math.max(...BUILD_INPUTS.map((entry) => newestMtime(path.join(ROOT, entry))));
  if (stamp && stamp.mtimeMs > newestInput && existsSync(path.join(BUILD_DIR, 'src/bin/gateway.js'))) return { rebuilt: false };
  mkdirSync(BUILD_DIR, { recursive: true });
  const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
  const output = await new Promise<{ code: number | null; text: string }>((resolve) => {
    const child = spawn(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', BUILD_DIR, '--sourceMap', 'false'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.stderr.on('data', (d: Buffer) => (text += d.toString()));
    child.once('exit', (code) => resolve({ code, text }));
  });
  if (!existsSync(path.join(BUILD_DIR, 'src/bin/gateway.js'))) throw new Error(`the production build failed:\n${output.text.slice(-3000)}`);
  // ESM ("type": "module") and the name/version src/lib/version.ts reads, next to the build.
  copyFileSync(path.join(ROOT, 'package.json'), path.join(BUILD_DIR, 'package.json'));
  writeFileSync(BUILD_STAMP, new Date().toISOString());
  const errors = output.text.split('\n').filter((l) => l.includes('error TS')).length;
  return errors || output.code !== 0
    ? { rebuilt: true, warning: `tsc reported ${errors} type error(s) (emitted anyway): ${output.text.split('\n')[0] ?? ''}` }
    : { rebuilt: true };
}

/** A product process with its output kept (the last 64 KiB). */
export interface ProductProcess {
  name: string;
  child: ChildProcess;
  pid: number;
  output(): string;
  exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<void>;
}

const OUTPUT_LIMIT = 64 * 1024;

export function spawnProduct(entry: 'api' | 'worker' | 'gateway', runtime: Runtime, env: Record<string, string>, name: string = entry): ProductProcess {
  const args =
    runtime === 'build' ? [path.join(BUILD_DIR, 'src/bin', `${entry}.js`)] : ['--import', 'tsx', path.join(ROOT, 'src/bin', `${entry}.ts`)];
  const extra = (process.env.BENCH_NODE_OPTIONS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...(entry === 'gateway' ? extra : []), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (d: Buffer) => {
    output += d.toString();
    if (output.length > OUTPUT_LIMIT * 2) output = output.slice(-OUTPUT_LIMIT);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    name,
    child,
    pid: child.pid ?? 0,
    output: () => output,
    exited,
    async stop(signal = 'SIGTERM', timeoutMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const result = await Promise.race([exited, sleep(timeoutMs).then(() => 'timeout' as const)]);
      if (result === 'timeout') {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** Polls until `check` resolves true (bounded), failing with the process's output if it exits. */
export async function waitUntil(what: string, check: () => Promise<boolean>, options: { timeoutMs: number; intervalMs?: number; proc?: ProductProcess }): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    if (options.proc && options.proc.child.exitCode !== null) {
      throw new Error(`${options.proc.name} exited (${options.proc.child.exitCode}) while waiting for ${what}:\n${options.proc.output().slice(-3000)}`);
    }
    try {
      if (await check()) return;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await sleep(options.intervalMs ?? 50);
  }
  const tail = options.proc ? `\n${options.proc.output().slice(-3000)}` : '';
  throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}${lastError ? ` (${lastError})` : ''}${tail}`);
}

const CLOCK_TICKS_PER_SECOND = (() => {
  const result = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const value = Number(result.stdout?.trim());
  return Number.isInteger(value) && value > 0 ? value : 100;
})();

/** User + system CPU time of a process (all its threads) from /proc/<pid>/stat, in ms (10 ms resolution). */
export function procCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields after the command: state(3) … utime(14) stime(15), so utime is index 11 here.
  return ((Number(fields[11]) + Number(fields[12])) * 1_000) / CLOCK_TICKS_PER_SECOND;
}

/** Resident and peak resident memory of a process, in MB (10^6 bytes, as DESIGN §10 states it), from /proc/<pid>/status. */
export function procMemoryMB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { rss: (kib('VmRSS') * 1024) / 1e6, peak: (kib('VmHWM') * 1024) / 1e6 };
}

/** Reads a pid file (e.g. the local Redis's), or undefined. */
export function pidFromFile(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
