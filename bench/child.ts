import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MockUpstreamOptions } from './mock-upstream.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** A benchmark server in a child process, with its CPU time readable over IPC. */
export interface ChildServer {
  url: string;
  pid: number;
  cpuMs(): Promise<number>;
  /** Mock only: changes delay / chunk count / chunk interval for the next requests. */
  configure(options: MockUpstreamOptions): Promise<void>;
  stop(): Promise<void>;
}

/** Sends `msg` and resolves with the first reply of type `replyType` (bounded: 10 s). */
function ask<T>(child: ChildProcess, msg: object, replyType: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      reject(new Error(`no ${replyType} reply from the bench server within 10 s`));
    }, 10_000);
    const onMessage = (reply: { type: string }) => {
      if (reply.type !== replyType) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(reply as T);
    };
    child.on('message', onMessage);
    child.send(msg);
  });
}

export async function startChildServer(kind: 'mock' | 'bare-proxy', args: string[] = [], env: Record<string, string> = {}): Promise<ChildServer> {
  const child: ChildProcess = fork(path.join(here, 'server-process.ts'), [kind, ...args], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${kind} exited with ${code}`)));
    child.on('message', (msg: { type: string; url?: string }) => {
      if (msg.type === 'ready' && msg.url) resolve(msg.url);
    });
  });
  return {
    url,
    pid: child.pid ?? 0,
    cpuMs: async () => (await ask<{ cpuMs?: number }>(child, { type: 'cpu' }, 'cpu')).cpuMs ?? 0,
    configure: async (options) => {
      await ask(child, { type: 'configure', options }, 'configured');
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.disconnect();
      child.kill('SIGTERM');
      await exited;
    },
  };
}
