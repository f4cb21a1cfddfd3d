/**
 * OpenAI Chat Completions wire shapes (POST /v1/chat/completions), as far as the gateway reads or
 * writes them. Field names follow the API exactly; unknown extra fields are tolerated by the index
 * signatures where clients commonly send vendor extensions.
 */

export interface OpenAITextPart {
  type: 'text';
  text: string;
}

export interface OpenAIImagePart {
  type: 'image_url';
  image_url: { url: string; detail?: 'auto' | 'low' | 'high' };
}

export interface OpenAIRefusalPart {
  type: 'refusal';
  refusal: string;
}

/** Parts the gateway cannot translate still need a type so they can be named in the refusal. */
export interface OpenAIOtherPart {
  type: 'input_audio' | 'file';
  [key: string]: unknown;
}

export type OpenAIUserPart = OpenAITextPart | OpenAIImagePart | OpenAIOtherPart;
export type OpenAIAssistantPart = OpenAITextPart | OpenAIRefusalPart;

export interface OpenAIToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface OpenAISystemMessage {
  role: 'system' | 'developer';
  content: string | OpenAITextPart[];
  name?: string;
}

export interface OpenAIUserMessage {
  role: 'user';
  content: string | OpenAIUserPart[];
  name?: string;
}

export interface OpenAIAssistantMessage {
  role: 'assistant';
  content?: string | OpenAIAssistantPart[] | null;
  refusal?: string | null;
  tool_calls?: OpenAIToolCall[];
  /** Deprecated single function call; refused by the translators. */
  function_call?: { name: string; arguments: string } | null;
  name?: string;
}

export interface OpenAIToolMessage {
  role: 'tool';
  tool_call_id: string;
  content: string | OpenAITextPart[];
}

/** Deprecated `role: "function"` result; refused by the translators. */
export interface OpenAIFunctionMessage {
  role: 'function';
  name: string;
  content: string | null;
}

export type OpenAIMessage =
  | OpenAISystemMessage
  | OpenAIUserMessage
  | OpenAIAssistantMessage
  | OpenAIToolMessage
  | OpenAIFunctionMessage;

export interface OpenAIFunctionTool {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean | null };
}

export interface OpenAICustomTool {
  type: 'custom';
  [key: string]: unknown;
}

export type OpenAITool = OpenAIFunctionTool | OpenAICustomTool;

export type OpenAIToolChoice =
  | 'auto'
  | 'none'
  | 'required'
  | { type: 'function'; function: { name: string } }
  | { type: 'allowed_tools' | 'custom'; [key: string]: unknown };

export interface OpenAIStreamOptions {
  include_usage?: boolean;
  include_obfuscation?: boolean;
}

export type OpenAIResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; json_schema: { name: string; schema?: Record<string, unknown>; strict?: boolean | null; description?: string } };

export interface OpenAIChatRequest {
  model: string;
  messages: OpenAIMessage[];
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  n?: number | null;
  stop?: string | string[] | null;
  stream?: boolean | null;
  stream_options?: OpenAIStreamOptions | null;
  tools?: OpenAITool[];
  tool_choice?: OpenAIToolChoice;
  parallel_tool_calls?: boolean;
  user?: string;
  metadata?: Record<string, string> | null;
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
  seed?: number | null;
  logprobs?: boolean | null;
  top_logprobs?: number | null;
  logit_bias?: Record<string, number> | null;
  response_format?: OpenAIResponseFormat;
  audio?: Record<string, unknown> | null;
  modalities?: string[] | null;
  prediction?: Record<string, unknown> | null;
  functions?: unknown[];
  function_call?: unknown;
  web_search_options?: Record<string, unknown>;
  reasoning_effort?: string | null;
  service_tier?: string | null;
  store?: boolean | null;
}

export interface OpenAIUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens?: number; audio_tokens?: number } | null;
  completion_tokens_details?: { reasoning_tokens?: number; [key: string]: number | undefined } | null;
}

export type OpenAIFinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'function_call';

export interface OpenAIResponseMessage {
  role: 'assistant';
  content: string | null;
  refusal?: string | null;
  tool_calls?: OpenAIToolCall[];
}

export interface OpenAIChatResponse {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    message: OpenAIResponseMessage;
    finish_reason: OpenAIFinishReason | null;
    logprobs: null;
  }>;
  usage?: OpenAIUsage;
  system_fingerprint?: string | null;
}

export interface OpenAIToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
}

export interface OpenAIChunkDelta {
  role?: 'assistant';
  content?: string | null;
  refusal?: string | null;
  tool_calls?: OpenAIToolCallDelta[];
}

export interface OpenAIChatChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    delta: OpenAIChunkDelta;
    finish_reason: OpenAIFinishReason | null;
    logprobs?: null;
  }>;
  usage?: OpenAIUsage | null;
  system_fingerprint?: string | null;
}

/** `{"error": {...}}` as OpenAI sends it, in a response body or inside a stream. */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}
