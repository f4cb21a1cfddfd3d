import type { IncomingHttpHeaders } from 'node:http';

/**
 * Where a client key comes from (DESIGN §6), in order of precedence: `Authorization: Bearer`
 * (OpenAI SDKs), `x-api-key` (Anthropic), `x-goog-api-key` (Gemini), `?key=` (Gemini REST).
 * Pure: no I/O, no validation of the key itself.
 */
export const KEY_SOURCES = ['authorization', 'x-api-key', 'x-goog-api-key', 'query'] as const;
export type KeySource = (typeof KEY_SOURCES)[number];

export interface ExtractedKey {
  key: string;
  source: KeySource;
}

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

function single(value: string | string[] | undefined): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  const trimmed = first?.trim();
  return trimmed ? trimmed : undefined;
}

/** The first key present, or undefined. A non-Bearer Authorization header is skipped. */
export function extractClientKey(headers: IncomingHttpHeaders, query: URLSearchParams): ExtractedKey | undefined {
  const authorization = single(headers.authorization);
  const bearer = authorization ? BEARER.exec(authorization)?.[1] : undefined;
  if (bearer) return { key: bearer, source: 'authorization' };
  const apiKey = single(headers['x-api-key']);
  if (apiKey) return { key: apiKey, source: 'x-api-key' };
  const googKey = single(headers['x-goog-api-key']);
  if (googKey) return { key: googKey, source: 'x-goog-api-key' };
  const fromQuery = query.get('key')?.trim();
  if (fromQuery) return { key: fromQuery, source: 'query' };
  return undefined;
}
