/**
 * Providers as data: the provider types (DESIGN §4, PROVIDERS.md), what each type needs from a
 * provider group, and the one-click presets of `POST /admin/providers/preset`.
 */

/** Normalized (trimmed, lower-case) provider types; the order of DESIGN §4. */
export const PROVIDER_TYPES = [
  'openai',
  'compatible',
  'anthropic',
  'claude',
  'claude-code',
  'codex',
  'gemini-cli',
  'antigravity',
  'gemini',
  'google',
  'aistudio',
  'vertex',
  'vertex-express',
] as const;
export type ProviderType = (typeof PROVIDER_TYPES)[number];

/** Types with no built-in endpoint: a group of these types must carry a base_url. */
export const BASE_URL_REQUIRED_TYPES: ReadonlySet<ProviderType> = new Set(['openai', 'compatible', 'anthropic', 'claude']);

/** Subscription types whose credential is an OAuth refresh token (the token-refresh job mints access tokens). */
export const OAUTH_TYPES: ReadonlySet<ProviderType> = new Set(['codex', 'claude-code', 'gemini-cli', 'antigravity']);

/** The Google family (PROVIDERS.md). */
export const GOOGLE_TYPES: ReadonlySet<ProviderType> = new Set(['gemini', 'google', 'aistudio', 'vertex', 'vertex-express']);

/** Vertex types: `google_location` defaults to `global`; plain `vertex` also needs a project. */
export const VERTEX_TYPES: ReadonlySet<ProviderType> = new Set(['vertex', 'vertex-express']);
export const DEFAULT_GOOGLE_LOCATION = 'global';

/** Types that may carry google_project / google_location: the Google family and Code Assist (needs a project). */
export const GOOGLE_FIELD_TYPES: ReadonlySet<ProviderType> = new Set([...GOOGLE_TYPES, 'gemini-cli', 'antigravity']);

export const PRESET_NAMES = ['openai', 'anthropic', 'gemini'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

export interface ProviderPreset {
  type: ProviderType;
  /** Official base URL, without a trailing slash. */
  baseUrl: string;
  /** What the gateway appends to baseUrl for this type (documentation; the gateway's provider table decides). */
  paths: readonly string[];
  /** Starter model list; `models` in the request replaces it. */
  models: readonly string[];
}

/**
 * Official endpoints, checked against the providers' documentation and SDK defaults:
 * - OpenAI: the SDKs' default base is `https://api.openai.com/v1`; the gateway appends
 *   `/chat/completions`, `/completions`, `/embeddings`, `/responses`, `/models` and sends
 *   `Authorization: Bearer <key>`.
 * - Anthropic: the SDKs' default base is `https://api.anthropic.com` (no version segment); the
 *   gateway appends `/v1/messages` and `/v1/messages/count_tokens` and sends `x-api-key` plus
 *   `anthropic-version: 2023-06-01`.
 * - Gemini (Google AI Studio / Gemini API): `https://generativelanguage.googleapis.com`; the gateway
 *   appends `/v1beta/models/{model}:generateContent`, `/v1beta/models/{model}:streamGenerateContent?alt=sse`
 *   and `/v1beta/models`, with `x-goog-api-key: <key>`.
 * Starter models are the current generally available model ids (aliases where the provider offers
 * them, so the list does not pin one snapshot); admins replace the list with `models` or later
 * with PATCH /admin/provider-groups/:id.
 */
export const PROVIDER_PRESETS: Readonly<Record<PresetName, ProviderPreset>> = {
  openai: {
    type: 'openai',
    baseUrl: 'https://api.openai.com/v1',
    paths: ['/chat/completions', '/completions', '/embeddings', '/responses', '/models'],
    models: ['gpt-5.4', 'gpt-5.4-mini', 'gpt-5', 'gpt-5-mini', 'gpt-5-nano', 'gpt-4.1', 'gpt-4.1-mini', 'text-embedding-3-small', 'text-embedding-3-large'],
  },
  anthropic: {
    type: 'anthropic',
    baseUrl: 'https://api.anthropic.com',
    paths: ['/v1/messages', '/v1/messages/count_tokens'],
    models: ['claude-opus-4-6', 'claude-sonnet-4-6', 'claude-sonnet-4-5', 'claude-haiku-4-5'],
  },
  gemini: {
    type: 'gemini',
    baseUrl: 'https://generativelanguage.googleapis.com',
    paths: ['/v1beta/models/{model}:generateContent', '/v1beta/models/{model}:streamGenerateContent?alt=sse', '/v1beta/models'],
    models: ['gemini-2.5-pro', 'gemini-2.5-flash', 'gemini-2.5-flash-lite'],
  },
};
