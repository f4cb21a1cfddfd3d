/**
 * Redis keys of the per-upstream-key counters (docs/control-plane.md "Stats"). The gateway adds
 * to them at the end of each proxied request; the `stats` job drains them into `api_keys` and
 * `provider_groups`. No TTL: a counter lives until a flush takes it.
 */
export const UpstreamStatsKeys = {
  /** Hash: requests, success, failure, tokens (HINCRBY) and last_used_ms of one upstream key. */
  apiKey: (prefix: string, apiKeyId: number) => `${prefix}stats:apikey:${apiKeyId}`,
  /** The prefix the drain script prepends to an id taken from the dirty set. */
  apiKeyPrefix: (prefix: string) => `${prefix}stats:apikey:`,
  /** Set of upstream key ids with counters waiting for a flush. */
  dirty: (prefix: string) => `${prefix}stats:apikey:dirty`,
  /** Hash: the batch being flushed (`batch` = its id, `<apiKeyId>:<field>` = value). */
  flushing: (prefix: string) => `${prefix}stats:apikey:flushing`,
  /**
   * Hash per UTC minute (`minute` = ms since the epoch ÷ 60,000): `<apiKeyId>:requests` and
   * `<apiKeyId>:faults` of every upstream call made in that minute, failed-over attempts included.
   * The alerts detector's provider-down rule reads the last few; they expire on their own
   * (UPSTREAM_MINUTE_TTL_SECONDS), no flush takes them.
   */
  minute: (prefix: string, minute: number) => `${prefix}stats:upstream:minute:${minute}`,
} as const;

/** Life of a `stats:upstream:minute:*` hash: the longest provider-down window (60 min) and a margin. */
export const UPSTREAM_MINUTE_TTL_SECONDS = 65 * 60;

/** The counter fields of a `stats:apikey:<id>` hash. */
export const UPSTREAM_COUNTER_FIELDS = ['requests', 'success', 'failure', 'tokens'] as const;
export type UpstreamCounterField = (typeof UPSTREAM_COUNTER_FIELDS)[number];
