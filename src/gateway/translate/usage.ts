import type { Usage } from '../types.js';
import type { AnthropicDeltaUsage, AnthropicUsage } from './wire/anthropic.js';
import type { GeminiUsageMetadata } from './wire/gemini.js';
import type { OpenAIUsage } from './wire/openai.js';

/**
 * Every dialect's usage → the gateway's `Usage`, with one convention (OpenAI's): `prompt_tokens`
 * is the whole input, cached or not; `cache_read_tokens` and `cache_write_tokens` are the parts of
 * it that were read from / written to a prompt cache. Uncached input = prompt − read − write.
 */

export function usageFromAnthropic(u: Pick<AnthropicUsage, 'input_tokens' | 'output_tokens' | 'cache_creation_input_tokens' | 'cache_read_input_tokens'>): Usage {
  const read = u.cache_read_input_tokens ?? 0;
  const write = u.cache_creation_input_tokens ?? 0;
  return {
    // Anthropic's input_tokens counts only the uncached remainder.
    prompt_tokens: (u.input_tokens ?? 0) + read + write,
    completion_tokens: u.output_tokens ?? 0,
    cache_read_tokens: read,
    cache_write_tokens: write,
  };
}

/** message_start usage updated by a message_delta's cumulative totals (present fields overwrite). */
export function mergeAnthropicUsage(start: AnthropicUsage | undefined, delta: AnthropicDeltaUsage): AnthropicUsage {
  return {
    input_tokens: delta.input_tokens ?? start?.input_tokens ?? 0,
    output_tokens: delta.output_tokens,
    cache_creation_input_tokens: delta.cache_creation_input_tokens ?? start?.cache_creation_input_tokens ?? 0,
    cache_read_input_tokens: delta.cache_read_input_tokens ?? start?.cache_read_input_tokens ?? 0,
  };
}

export function usageFromOpenai(u: OpenAIUsage): Usage {
  return {
    prompt_tokens: u.prompt_tokens ?? 0,
    completion_tokens: u.completion_tokens ?? 0,
    cache_read_tokens: u.prompt_tokens_details?.cached_tokens ?? 0,
    cache_write_tokens: 0,
  };
}

export function usageFromGemini(u: GeminiUsageMetadata): Usage {
  return {
    // promptTokenCount already includes cachedContentTokenCount; tool-use prompts are input too.
    prompt_tokens: (u.promptTokenCount ?? 0) + (u.toolUsePromptTokenCount ?? 0),
    // Thinking tokens are billed as output.
    completion_tokens: (u.candidatesTokenCount ?? 0) + (u.thoughtsTokenCount ?? 0),
    cache_read_tokens: u.cachedContentTokenCount ?? 0,
    cache_write_tokens: 0,
  };
}

export function usageToOpenai(u: Usage): OpenAIUsage {
  return {
    prompt_tokens: u.prompt_tokens,
    completion_tokens: u.completion_tokens,
    total_tokens: u.prompt_tokens + u.completion_tokens,
    prompt_tokens_details: { cached_tokens: u.cache_read_tokens },
  };
}

export function usageToAnthropic(u: Usage): AnthropicUsage {
  return {
    input_tokens: Math.max(0, u.prompt_tokens - u.cache_read_tokens - u.cache_write_tokens),
    output_tokens: u.completion_tokens,
    cache_creation_input_tokens: u.cache_write_tokens,
    cache_read_input_tokens: u.cache_read_tokens,
  };
}

/**
 * A rough token count for text whose usage the upstream did not report (a stream cut short, an
 * upstream that never sends usage). Heuristic, not a tokenizer: about four characters per token
 * for alphabetic scripts (OpenAI's rule of thumb for English), one token per character for CJK,
 * kana, Hangul and other wide scripts (U+2E80 and above, emoji included), which BPE vocabularies
 * rarely merge. Counts code points, so a surrogate pair is one character. Empty text is 0 tokens;
 * any other text at least 1.
 */
export function estimateTokens(text: string): number {
  let narrow = 0;
  let wide = 0;
  for (const ch of text) {
    if ((ch.codePointAt(0) ?? 0) >= 0x2e80) wide++;
    else narrow++;
  }
  return Math.ceil(narrow / 4) + wide;
}
