/**
 * Format translation between the gateway's three dialects: pure functions (no I/O, no clock, no
 * randomness — ids and timestamps come in as options) and stream translators whose state is a
 * plain object advanced by pure step functions.
 */
export { InvalidFieldError, UnsupportedFieldError } from './errors.js';
export { estimateTokens, usageFromAnthropic, usageFromGemini, usageFromOpenai, usageToAnthropic, usageToOpenai } from './usage.js';
export {
  anthropicStopToOpenai,
  anthropicToOpenaiChatResponse,
  openaiChatToAnthropic,
  type AnthropicToOpenaiResponseOptions,
  type OpenaiChatToAnthropicOptions,
} from './openai-anthropic.js';
export { createAnthropicToOpenaiStream, type AnthropicToOpenaiStreamOptions } from './anthropic-to-openai.stream.js';
export {
  anthropicToOpenaiChat,
  openaiChatToAnthropicResponse,
  openaiFinishToAnthropic,
  type AnthropicToOpenaiChatOptions,
  type OpenaiToAnthropicResponseOptions,
} from './anthropic-openai.js';
export { createOpenaiToAnthropicStream, type OpenaiToAnthropicStreamOptions } from './openai-to-anthropic.stream.js';
export {
  geminiToOpenaiChatResponse,
  openaiChatToGemini,
  type GeminiToOpenaiResponseOptions,
  type OpenaiChatToGeminiOptions,
} from './openai-gemini.js';
export { createGeminiToOpenaiStream, type GeminiToOpenaiStreamOptions } from './gemini-to-openai.stream.js';
export { createOpenaiUsageStripper, ensureIncludeUsage } from './openai-passthrough.js';
export { anthropicErrorFrame, openaiErrorFrame } from './sse-frames.js';
