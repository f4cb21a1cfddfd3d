import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** A benchmark server in a child process, with its CPU time readable over IPC. */
export interface ChildServer {
  url: string;
  cpuMs(): Promise<number>;
  stop(): Promise<void>;
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
    cpuMs: () =>
      new Promise((resolve) => {
        const onMessage = (msg: { type: string; cpuMs?: number }) => {
          if (msg.type !== 'cpu') return;
          child.off('message', onMessage);
          resolve(msg.cpuMs ?? 0);
        };
        child.on('message', onMessage);
        child.send({ type: 'cpu' });
      }),
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.disconnect();
      child.kill('SIGTERM');
      await exited;
    },
  };
}
