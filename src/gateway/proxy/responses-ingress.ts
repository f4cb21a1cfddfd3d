/**
 * The Responses API ingress rule (PROVIDERS.md, kept from the original system): `POST
 * /v1/responses` forwards only the fields below, refuses the stateful / server-side ones the
 * gateway cannot honour across upstream keys, and silently drops everything else. Pure.
 */

/** Fields forwarded to the upstream as the client sent them (`model` is then rewritten). */
export const RESPONSES_PASSTHROUGH_FIELDS: ReadonlySet<string> = new Set([
  'frequency_penalty',
  'input',
  'instructions',
  'max_completion_tokens',
  'max_output_tokens',
  'metadata',
  'model',
  'parallel_tool_calls',
  'presence_penalty',
  'seed',
  'stream',
  'temperature',
  'tool_choice',
  'tools',
  'top_p',
  'user',
]);

/** Fields refused with 400 `unsupported field "x"`: they need state or features the gateway does not keep. */
export const RESPONSES_REFUSED_FIELDS: ReadonlySet<string> = new Set([
  'conversation',
  'include',
  'previous_response_id',
  'reasoning',
  'text',
  'truncation',
]);

export type ResponsesIngress =
  | { ok: true; body: Record<string, unknown>; dropped: string[] }
  | { ok: false; field: string; message: string };

/**
 * Applies the ingress rule to a parsed request body. The first refused field in the client's own
 * key order is reported. A refused field sent as `null` means "not set" and is dropped, not
 * refused (some clients serialize every optional field). `dropped` lists removed fields, so a
 * caller can forward the client's bytes untouched when it is empty.
 */
export function responsesIngress(body: Readonly<Record<string, unknown>>): ResponsesIngress {
  const out: Record<string, unknown> = {};
  const dropped: string[] = [];
  for (const [field, value] of Object.entries(body)) {
    if (RESPONSES_PASSTHROUGH_FIELDS.has(field)) out[field] = value;
    else if (RESPONSES_REFUSED_FIELDS.has(field) && value !== null && value !== undefined) {
      return { ok: false, field, message: `unsupported field "${field}"` };
    } else dropped.push(field);
  }
  return { ok: true, body: out, dropped };
}
