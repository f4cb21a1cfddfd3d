import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

/** A product entry point run as a real child process (node + tsx), with its output captured. */
export interface SpawnedProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
  /** Sends a signal and waits for the exit, failing after timeoutMs. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | string>;
}

export function spawnEntry(entry: string, args: string[], env: Record<string, string>): SpawnedProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    child,
    output: () => output,
    exited,
    async stop(signal = 'SIGTERM', timeoutMs = 15_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const result = await Promise.race([exited, sleep(timeoutMs).then(() => 'timeout' as const)]);
      if (result === 'timeout') {
        child.kill('SIGKILL');
        throw new Error(`process did not exit within ${timeoutMs} ms after ${signal}:\n${output.slice(-3000)}`);
      }
      return result;
    },
  };
}

/** Polls until fetch(url) answers with the expected status, or fails with the process output. */
export async function waitForHttp(url: string, proc: SpawnedProcess, options: { status?: number; timeoutMs?: number } = {}): Promise<Response> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let last = '';
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) throw new Error(`process exited early (${proc.child.exitCode}):\n${proc.output().slice(-3000)}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (res.status === (options.status ?? 200)) return res;
      last = `status ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`${url} did not answer (${last}):\n${proc.output().slice(-3000)}`);
}

/** Waits until the process output contains text. */
export async function waitForOutput(proc: SpawnedProcess, text: string | RegExp, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const seen = () => (typeof text === 'string' ? proc.output().includes(text) : text.test(proc.output()));
  while (Date.now() < deadline) {
    if (seen()) return;
    if (proc.child.exitCode !== null) break;
    await sleep(50);
  }
  if (!seen()) throw new Error(`output never contained ${String(text)}:\n${proc.output().slice(-3000)}`);
}
