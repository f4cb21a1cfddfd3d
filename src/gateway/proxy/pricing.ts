import { costOf, FREE, usdToMicros, type Cost, type ModelPrices } from '../../lib/pricing.js';
import type { ModelCapabilities } from '../../lib/redis-layout.js';
import type { Attempt } from '../routing/plan.js';
import type { Usage } from '../types.js';

/**
 * How the gateway prices a request (docs/budgets.md), pure. Prices come from the replica's model
 * registry (`meta:models`): by the upstream model name when the registry knows it, else by the
 * public model (`namespace.model`, then the bare model); a model the registry does not know is
 * free. The cost rule itself is src/lib/pricing.ts.
 */

/** Output expected when neither the request nor the registry caps it (tokens). */
export const DEFAULT_EXPECTED_OUTPUT_TOKENS = 1_024;

type Models = ReadonlyMap<string, ModelCapabilities>;

/** The registry entry a request on `upstreamModel` is priced and capped by, if any. */
export function registryModel(models: Models, upstreamModel: string, namespace: string, model: string): ModelCapabilities | undefined {
  return models.get(upstreamModel) ?? models.get(`${namespace}.${model}`) ?? models.get(model);
}

export function pricesOf(entry: ModelCapabilities | undefined): ModelPrices {
  const p = entry?.prices;
  if (!p) return FREE;
  return { input_per_1m: p.input_per_1m, output_per_1m: p.output_per_1m, cache_read_per_1m: p.cache_read_per_1m, cache_write_per_1m: p.cache_write_per_1m, per_request: p.per_request };
}

/** The output cap a request names itself (`max_tokens`, `max_completion_tokens`, `max_output_tokens`; Gemini `generationConfig.maxOutputTokens`), or 0. */
export function requestedOutputTokens(body: Record<string, unknown>): number {
  const gemini = (body.generationConfig as { maxOutputTokens?: unknown } | undefined)?.maxOutputTokens;
  const cap = Number(body.max_tokens ?? body.max_completion_tokens ?? body.max_output_tokens ?? gemini ?? 0);
  return Number.isFinite(cap) && cap > 0 ? Math.min(Math.ceil(cap), 1_000_000) : 0;
}

export interface SpendEstimate {
  /** Prompt + expected output, the most of any planned attempt. */
  tokens: number;
  /** Actual cost of that usage at the dearest planned attempt (prices × multiplier), µ$. */
  micros: number;
}

/**
 * What a request is expected to spend, before admission: the prompt estimate plus the expected
 * output (the request's own cap, else the model's `max_output_tokens`, else 1,024 tokens), priced
 * at the dearest of the planned attempts, since failover may land on any of them.
 */
export function estimateSpend(plan: readonly Attempt[], models: Models, ref: { namespace: string; model: string }, promptTokens: number, body: Record<string, unknown>): SpendEstimate {
  const requested = requestedOutputTokens(body);
  let tokens = 0;
  let micros = 0;
  for (const attempt of plan) {
    const entry = registryModel(models, attempt.upstreamModel, ref.namespace, ref.model);
    const registryCap = Number(entry?.max_output_tokens ?? 0);
    const output = requested || (Number.isFinite(registryCap) && registryCap > 0 ? registryCap : DEFAULT_EXPECTED_OUTPUT_TOKENS);
    const usage = { prompt_tokens: promptTokens, completion_tokens: output, cache_read_tokens: 0, cache_write_tokens: 0 };
    tokens = Math.max(tokens, promptTokens + output);
    micros = Math.max(micros, usdToMicros(costOf(usage, pricesOf(entry), rateMultiplierOf(attempt)).actual));
  }
  return { tokens, micros };
}

function rateMultiplierOf(attempt: Attempt): number {
  const m = Number(attempt.provider.rate_multiplier ?? 1);
  return Number.isFinite(m) && m >= 0 ? m : 1;
}

export const NO_COST: Cost = Object.freeze({ list: 0, actual: 0 });

/**
 * The cost of a finished request: nothing unless it is billed (the upstream answered and something
 * came of it); else its usage at the prices of the attempt that served it.
 */
export function requestCost(billed: boolean, usage: Usage | undefined, attempt: Attempt | undefined, models: Models, ref: { namespace: string | null; model: string | null }): Cost {
  if (!billed || !attempt) return NO_COST;
  const entry = registryModel(models, attempt.upstreamModel, ref.namespace ?? '', ref.model ?? '');
  const billable = {
    prompt_tokens: usage?.prompt_tokens ?? 0,
    completion_tokens: usage?.completion_tokens ?? 0,
    cache_read_tokens: usage?.cache_read_tokens ?? 0,
    cache_write_tokens: usage?.cache_write_tokens ?? 0,
  };
  return costOf(billable, pricesOf(entry), rateMultiplierOf(attempt), true);
}
