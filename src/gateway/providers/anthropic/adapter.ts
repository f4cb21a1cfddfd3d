import { PROVIDER_PRESETS } from '../../../domain/provider-presets.js';
import type { Operation } from '../../types.js';
import { assertSupported, operationSet, type ProviderAdapter, type TargetArgs, type UpstreamTarget } from '../adapter.js';
import { apiRoot, credential, JSON_CONTENT_TYPE, providerType, splitVersion } from '../url.js';

/**
 * Anthropic Messages upstreams (types `anthropic`, `claude`, `claude-code`).
 *
 * Base URL: the root as the Anthropic SDKs take it, without a version segment —
 * `https://api.anthropic.com` (the preset, and the default for all three types when base_url is
 * empty). The gateway appends `/v1/messages` and `/v1/messages/count_tokens`; a base URL that
 * already ends in `/v1` (`https://api.anthropic.com/v1`, `https://proxy.example/anthropic/v1`)
 * has it dropped first, so both spellings reach the same URL.
 *
 * Auth: `anthropic` and `claude` (an API key, the same upstream under an older name) send
 * `x-api-key`. `claude-code` carries the OAuth access token of a Claude subscription and sends
 * `Authorization: Bearer <token>` plus `anthropic-beta: oauth-2025-04-20`, without which the API
 * refuses OAuth tokens. Every type sends `anthropic-version: 2023-06-01`. A client's own
 * `anthropic-beta` flags are merged after the adapter's by `upstreamHeaders`.
 */

export const ANTHROPIC_VERSION = '2023-06-01';
export const CLAUDE_CODE_OAUTH_BETA = 'oauth-2025-04-20';

const PATHS = {
  messages: '/v1/messages',
  count_tokens: '/v1/messages/count_tokens',
} as const satisfies Partial<Record<Operation, string>>;

const OPERATIONS = Object.keys(PATHS) as Array<keyof typeof PATHS>;
const supports = operationSet(OPERATIONS);
const VERSION_SEGMENT = /^v1$/i;

export const anthropicAdapter: ProviderAdapter = {
  family: 'anthropic',
  types: ['anthropic', 'claude', 'claude-code'],
  wireFormat: 'anthropic',
  operations: OPERATIONS,
  alwaysStreams: false,
  supports,
  target(args: TargetArgs): UpstreamTarget {
    assertSupported(anthropicAdapter, args);
    const { provider } = args;
    const { origin, prefix } = apiRoot(provider, PROVIDER_PRESETS.anthropic.baseUrl);
    const { root } = splitVersion(prefix, VERSION_SEGMENT);
    const key = credential(provider);
    const headers: Record<string, string> =
      providerType(provider) === 'claude-code'
        ? { authorization: `Bearer ${key}`, 'anthropic-beta': CLAUDE_CODE_OAUTH_BETA }
        : { 'x-api-key': key };
    headers['anthropic-version'] = ANTHROPIC_VERSION;
    headers['content-type'] = JSON_CONTENT_TYPE;
    return { origin, path: `${root}${PATHS[args.op as keyof typeof PATHS]}`, headers };
  },
};
