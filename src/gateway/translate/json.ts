/** Small JSON helpers shared by the translators. */

export type JsonObject = Record<string, unknown>;

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** JSON.parse that returns undefined instead of throwing. */
export function tryParseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Tool-call arguments (a JSON string in OpenAI) → an object (Anthropic `input`, Gemini `args`).
 * Empty means no arguments. Returns undefined when the text is not a JSON object.
 */
export function parseToolArguments(text: string | null | undefined): JsonObject | undefined {
  if (text === undefined || text === null || text.trim() === '') return {};
  const value = tryParseJson(text);
  return isJsonObject(value) ? value : undefined;
}

/** `data:<mime>;base64,<payload>` → its parts; undefined for any other URL. */
export function parseDataUrl(url: string): { mediaType: string; data: string } | undefined {
  const match = /^data:([^;,]+)((?:;[^;,=]+=[^;,]*)*);base64,(.*)$/s.exec(url);
  if (!match) return undefined;
  return { mediaType: match[1] ?? '', data: match[3] ?? '' };
}
