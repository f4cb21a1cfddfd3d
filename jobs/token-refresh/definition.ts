import { z } from 'zod';
import { DEFAULT_JOB_OPTIONS, defineQueue } from '../define.js';

/**
 * `token-refresh` (DESIGN §8, docs/oauth-refresh.md): keeps the access tokens of OAuth upstream
 * keys (`codex`, `claude-code`, `gemini-cli`, `antigravity`) fresh.
 *
 * - `sweep` — the scheduler's tick (every EZ_OAUTH_SWEEP_INTERVAL_MS, default 1 min): enqueues a
 *   `refresh` for every active key whose access token expires within its type's lead time.
 * - `refresh` — renews one key under its row lock; `reason` says who asked: the sweep
 *   (`expiring`), a gateway that got a 401 with the key (`unauthorized`), or an admin.
 *
 * Job data carries ids and instants only, never a token.
 */

const apiKeyId = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const instant = z.iso.datetime({ offset: true });

export const sweepJob = z.object({ type: z.literal('sweep') }).strict();

export const refreshJob = z
  .object({
    type: z.literal('refresh'),
    api_key_id: apiKeyId,
    reason: z.enum(['expiring', 'unauthorized', 'admin']),
    /** When the need was observed: a refresh committed since then already answered it. */
    requested_at: instant.optional(),
  })
  .strict();

export const tokenRefreshPayload = z.discriminatedUnion('type', [sweepJob, refreshJob]);

export type TokenRefreshPayload = z.input<typeof tokenRefreshPayload>;
export type RefreshJob = z.output<typeof refreshJob>;

export const tokenRefreshQueue = defineQueue({
  name: 'token-refresh',
  payload: tokenRefreshPayload,
  // Transient failures (network, 429, 5xx) back off 5, 10, 20, 40, 80 s; the sweep starts a new
  // job for a still-expiring key after that (its job is removed when it ends, see sweepJobOptions).
  defaultJobOptions: { ...DEFAULT_JOB_OPTIONS, attempts: 6, backoff: { type: 'exponential', delay: 5_000 } },
  schedulers: (config) => [{ id: 'token-refresh:sweep', repeat: { every: config.oauth.sweepIntervalMs }, data: { type: 'sweep' as const } }],
});

/**
 * One job per (key, expiry): while it waits, runs or backs off, further sweeps add nothing.
 * BullMQ refuses `:` in custom ids.
 */
export function expiringJobId(apiKeyId: number, expiresAt: Date | null): string {
  return `tr-${apiKeyId}-exp-${expiresAt ? expiresAt.getTime() : 'none'}`;
}

/**
 * Sweep jobs leave Redis when they end, so the job id does not block the next sweep once a job
 * gave up; the sweep's own query (still active, still expiring) is what stops repeats.
 */
export const sweepJobOptions = { removeOnComplete: true, removeOnFail: true } as const;

/** Gateways dedupe 401 reports per key within this window (ms). */
export const UNAUTHORIZED_BUCKET_MS = 30_000;

/** One on-demand refresh per key per window, however many gateways saw the 401. */
export function unauthorizedJobId(apiKeyId: number, atMs: number): string {
  return `tr-${apiKeyId}-401-${Math.floor(atMs / UNAUTHORIZED_BUCKET_MS)}`;
}
