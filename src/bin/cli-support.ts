import { enqueue, type QueueSet } from '../../jobs/queues.js';
import type { WriteDeps } from '../domain/write-context.js';
import { redactString } from '../lib/logger.js';

/** What the one-shot CLI commands (import, export, prices) share: output, timeouts, the sync nudge. */

export interface Io {
  out(text: string): Promise<void>;
  err(text: string): Promise<void>;
}

const writeTo = (stream: NodeJS.WriteStream) => (text: string) =>
  new Promise<void>((resolve, reject) => stream.write(text, (err) => (err ? reject(err) : resolve())));

export const stdio: Io = { out: writeTo(process.stdout), err: writeTo(process.stderr) };

export class UsageError extends Error {}

/** Time the sync nudge may take after commit before the command gives up on it (the sweeper covers it). */
const NUDGE_TIMEOUT_MS = 3_000;

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The nudge half of WriteDeps for a command: enqueue a `sync` job for the newest outbox row
 * (bounded in time; none on a dry run, when `queues` is undefined); a failure becomes a warning
 * the command prints, since the change is committed and the sweeper applies it anyway.
 */
export function cliSyncNudge(queues: QueueSet | undefined, warnings: string[]): Pick<WriteDeps, 'nudge' | 'onNudgeError'> {
  return {
    nudge: async (outboxIds) => {
      if (!queues) return;
      const last = Math.max(...outboxIds);
      await withTimeout(
        (async () => {
          await queues.get('sync').waitUntilReady();
          await enqueue(queues, 'sync', { outboxId: last, reason: 'write' }, { jobId: `outbox-${last}` });
        })(),
        NUDGE_TIMEOUT_MS,
        'sync nudge',
      );
    },
    onNudgeError: (err) => {
      warnings.push(
        `could not notify the sync worker (${redactString((err as Error).message)}); the change is committed and the sync sweeper applies it within EZ_SYNC_INTERVAL_MS`,
      );
    },
  };
}
