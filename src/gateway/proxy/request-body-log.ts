import { redactString } from '../../lib/logger.js';

/**
 * The `request_body` of a log record (DESIGN §4: only when `log_request_body_enabled` is on):
 * the client's body with secrets removed twice — JSON fields named like credentials are blanked,
 * then the text goes through the logger's secret patterns — and capped so one request cannot
 * bloat the log pipeline. Pure.
 */

/** Default cap on a logged body, in UTF-8 bytes (marker included). */
export const REQUEST_BODY_LOG_LIMIT_BYTES = 16 * 1024;
/** What a blanked field holds. */
export const REDACTED = '[REDACTED]';

/**
 * Field names that carry credentials: after camelCase → snake_case and `-` → `_`, the name is, or
 * ends in `_` + one of these. So `api_key`, `x-api-key`, `apiKey`, `client_secret`,
 * `accessToken`, `Authorization` match; `max_tokens`, `prompt_tokens`, `token_count` do not.
 */
const SENSITIVE_FIELD = /(?:^|_)(?:api_?key|authorization|auth|password|passwd|secret|secret_?key|private_?key|token|credentials?|cookie)$/;

export function isSensitiveField(name: string): boolean {
  const normalized = name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/-/g, '_')
    .toLowerCase();
  return SENSITIVE_FIELD.test(normalized);
}

/** A copy of `value` with every sensitive field's value blanked, or `value` itself when none was found. */
function blankSensitive(value: unknown, depth: number): unknown {
  if (depth <= 0 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    let changed = false;
    const out = value.map((item: unknown) => {
      const next = blankSensitive(item, depth - 1);
      changed ||= next !== item;
      return next;
    });
    return changed ? out : value;
  }
  let out: Record<string, unknown> | undefined;
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    const next = isSensitiveField(key) && item !== null && item !== '' ? REDACTED : blankSensitive(item, depth - 1);
    if (next !== item) {
      out ??= { ...(value as Record<string, unknown>) };
      out[key] = next;
    }
  }
  return out ?? value;
}

/** `"name": "value"` pairs in text that is not (or no longer) valid JSON. */
const JSON_STRING_PAIR = /"((?:[^"\\]|\\.){1,64})"(\s*:\s*)"(?:[^"\\]|\\.)*"/g;

function blankSensitiveText(text: string): string {
  return text.replace(JSON_STRING_PAIR, (match, key: string, colon: string) => (isSensitiveField(key) ? `"${key}"${colon}"${REDACTED}"` : match));
}

/** The longest prefix of `text` whose UTF-8 encoding fits in `maxBytes`, never splitting a character. */
function utf8Prefix(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  let end = Math.max(0, maxBytes);
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--; // back off to a character start
  return bytes.subarray(0, end).toString('utf8');
}

export interface RequestBodyLogOptions {
  /** Cap in UTF-8 bytes, truncation marker included (default REQUEST_BODY_LOG_LIMIT_BYTES). */
  maxBytes?: number;
  /** Nesting bound for the field walk (default 64). */
  maxDepth?: number;
}

/**
 * The body to log. `parsed` is the already-parsed JSON when the caller has it (saves a parse);
 * without it the text is parsed here, and text that is not JSON is still blanked pair by pair.
 * A body over the cap ends with `…[truncated: N bytes]` (N = the original size in bytes).
 */
export function requestBodyForLog(raw: Buffer | string, parsed?: unknown, options: RequestBodyLogOptions = {}): string {
  const maxBytes = options.maxBytes ?? REQUEST_BODY_LOG_LIMIT_BYTES;
  const maxDepth = options.maxDepth ?? 64;
  let text = typeof raw === 'string' ? raw : raw.toString('utf8');
  const totalBytes = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;

  let json = parsed;
  try {
    json ??= JSON.parse(text) as unknown;
    if (typeof json === 'object' && json !== null) {
      const blanked = blankSensitive(json, maxDepth);
      if (blanked !== json) text = JSON.stringify(blanked);
    }
  } catch {
    // Not JSON (or too deep to re-serialize): blank what looks like `"name": "value"` pairs.
    text = blankSensitiveText(text);
  }

  // Only the part that can be kept is scanned; the margin lets a secret that starts before the
  // cut still match its whole pattern, so no fragment of it survives the cut.
  const margin = 1_024;
  const sliced = text.length > maxBytes + margin;
  if (sliced) text = text.slice(0, maxBytes + margin);
  text = redactString(text);

  if (!sliced && Buffer.byteLength(text) <= maxBytes) return text;
  const marker = `…[truncated: ${totalBytes} bytes]`;
  return utf8Prefix(text, maxBytes - Buffer.byteLength(marker)) + marker;
}
