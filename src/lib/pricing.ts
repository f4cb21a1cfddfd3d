/**
 * The one cost rule (issue #6, docs/budgets.md). Pure: the gateway prices each request with it,
 * the control plane and the tests check against it.
 *
 * Usage is the gateway's normalized shape: `prompt_tokens` is the whole input, cached or not;
 * `cache_read_tokens` and `cache_write_tokens` are the parts of it read from / written to a
 * prompt cache. So uncached input = prompt − read − write, each part priced at its own rate.
 * A cache price of 0 means "no separate price": that part is billed at the input price.
 *
 * Money is counted in integer micro-USD (µ$, 1 USD = 1,000,000 µ$) wherever it is summed or
 * compared (Redis counters, quotas); log rows keep USD as `numeric`.
 */

export interface ModelPrices {
  /** USD per 1M uncached input tokens. */
  input_per_1m: number;
  /** USD per 1M output tokens. */
  output_per_1m: number;
  /** USD per 1M input tokens read from the prompt cache (0 = input price). */
  cache_read_per_1m: number;
  /** USD per 1M input tokens written to the prompt cache (0 = input price). */
  cache_write_per_1m: number;
  /** USD per request, on top of the token prices. */
  per_request: number;
}

export interface BillableUsage {
  prompt_tokens: number;
  completion_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
}

export interface Cost {
  /** List price of the usage, USD. */
  list: number;
  /** What the operator pays: list × the upstream key's rate multiplier, USD. */
  actual: number;
}

export const FREE: ModelPrices = Object.freeze({ input_per_1m: 0, output_per_1m: 0, cache_read_per_1m: 0, cache_write_per_1m: 0, per_request: 0 });

export const MICROS_PER_USD = 1_000_000;

function count(n: number): number {
  return Number.isFinite(n) && n > 0 ? n : 0;
}

function price(p: number): number {
  return Number.isFinite(p) && p > 0 ? p : 0;
}

/**
 * List and actual cost of one request. `billRequest` false (a request that produced nothing)
 * drops the per-request price; tokens are billed whatever they are.
 */
export function costOf(usage: BillableUsage, prices: ModelPrices, rateMultiplier = 1, billRequest = true): Cost {
  const prompt = count(usage.prompt_tokens);
  const read = Math.min(count(usage.cache_read_tokens), prompt);
  const written = Math.min(count(usage.cache_write_tokens), prompt - read);
  const uncached = prompt - read - written;
  const inputPrice = price(prices.input_per_1m);
  const perToken =
    uncached * inputPrice +
    read * (price(prices.cache_read_per_1m) || inputPrice) +
    written * (price(prices.cache_write_per_1m) || inputPrice) +
    count(usage.completion_tokens) * price(prices.output_per_1m);
  const list = roundUsd(perToken / 1_000_000 + (billRequest ? price(prices.per_request) : 0));
  const multiplier = Number.isFinite(rateMultiplier) && rateMultiplier >= 0 ? rateMultiplier : 1;
  return { list, actual: roundUsd(list * multiplier) };
}

/** USD rounded to 1e-9 (numeric columns keep it exactly; float noise stays out of sums). */
export function roundUsd(usd: number): number {
  return Math.round(usd * 1e9) / 1e9;
}

/** USD → integer micro-USD, rounded up so a positive cost never counts as 0 against a quota. */
export function usdToMicros(usd: number): number {
  if (!Number.isFinite(usd) || usd <= 0) return 0;
  // At least 1: a cost below roundUsd's 1e-9 resolution is still a cost.
  return Math.max(1, Math.ceil(roundUsd(usd) * MICROS_PER_USD - 1e-6));
}

export function microsToUsd(micros: number): number {
  return roundUsd(micros / MICROS_PER_USD);
}
