/**
 * OpenAI Responses API wire shapes (POST /v1/responses), as far as the chat ↔ Responses bridge
 * reads or writes them (translate/openai-responses*.ts). Field names follow the API exactly.
 */

export interface ResponsesInputText {
  type: 'input_text';
  text: string;
}

export interface ResponsesInputImage {
  type: 'input_image';
  image_url: string;
  detail: 'auto' | 'low' | 'high';
}

export interface ResponsesInputFile {
  type: 'input_file';
  file_id?: string;
  file_data?: string;
  filename?: string;
}

export interface ResponsesOutputText {
  type: 'output_text';
  text: string;
  annotations?: unknown[];
}

export interface ResponsesRefusal {
  type: 'refusal';
  refusal: string;
}

export type ResponsesInputContent = ResponsesInputText | ResponsesInputImage | ResponsesInputFile;

export interface ResponsesInputMessage {
  type: 'message';
  role: 'user' | 'developer' | 'system';
  content: ResponsesInputContent[];
}

export interface ResponsesOutputMessage {
  type: 'message';
  role: 'assistant';
  content: Array<ResponsesOutputText | ResponsesRefusal>;
  id?: string;
  status?: string;
}

export interface ResponsesFunctionCall {
  type: 'function_call';
  call_id: string;
  name: string;
  arguments: string;
  id?: string;
  status?: string;
}

export interface ResponsesFunctionCallOutput {
  type: 'function_call_output';
  call_id: string;
  output: string;
}

export type ResponsesInputItem = ResponsesInputMessage | ResponsesOutputMessage | ResponsesFunctionCall | ResponsesFunctionCallOutput;

/** Items of a response's `output`; reasoning and other kinds are read only for their `type`. */
export type ResponsesOutputItem = ResponsesOutputMessage | ResponsesFunctionCall | { type: string; [key: string]: unknown };

export interface ResponsesFunctionTool {
  type: 'function';
  name: string;
  description?: string;
  parameters: Record<string, unknown>;
  /** Responses defaults to strict schemas; Chat Completions does not, so the bridge always sets it. */
  strict: boolean;
}

export type ResponsesToolChoice =
  | 'auto'
  | 'none'
  | 'required'
  | { type: 'function'; name: string }
  | { type: 'allowed_tools'; mode: 'auto' | 'required'; tools: Array<{ type: 'function'; name: string }> };

export type ResponsesTextFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; name: string; schema?: Record<string, unknown>; strict?: boolean | null; description?: string };

export interface ResponsesRequest {
  model: string;
  input: ResponsesInputItem[];
  instructions?: string;
  tools?: ResponsesFunctionTool[];
  tool_choice?: ResponsesToolChoice;
  parallel_tool_calls?: boolean;
  max_output_tokens?: number;
  temperature?: number;
  top_p?: number;
  user?: string;
  metadata?: Record<string, string>;
  reasoning?: { effort: string };
  text?: { format?: ResponsesTextFormat; verbosity?: string };
  prompt_cache_key?: string;
  safety_identifier?: string;
  store: boolean;
  stream: boolean;
}

/** `{input_tokens, output_tokens, input_tokens_details.cached_tokens, output_tokens_details.reasoning_tokens}`. */
export interface ResponsesUsage {
  input_tokens?: number;
  output_tokens?: number;
  total_tokens?: number;
  input_tokens_details?: { cached_tokens?: number } | null;
  output_tokens_details?: { reasoning_tokens?: number } | null;
}

export interface ResponsesResponse {
  id?: string;
  object?: 'response';
  status?: 'completed' | 'incomplete' | 'failed' | 'in_progress' | 'queued' | 'cancelled';
  output?: ResponsesOutputItem[];
  incomplete_details?: { reason?: string } | null;
  error?: { code?: string; message?: string } | null;
  usage?: ResponsesUsage | null;
}
