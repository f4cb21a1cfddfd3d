import { PROVIDER_PRESETS } from '../../../domain/provider-presets.js';
import type { Operation } from '../../types.js';
import { assertSupported, operationSet, type ProviderAdapter, type TargetArgs, type UpstreamTarget } from '../adapter.js';
import { apiRoot, credential, JSON_CONTENT_TYPE, modelSegment, splitVersion } from '../url.js';

/**
 * The Gemini API / Google AI Studio (types `gemini`, `google`, `aistudio`).
 *
 * Base URL: the root without a version — `https://generativelanguage.googleapis.com` (the preset,
 * and the default when base_url is empty). The gateway appends
 * `/v1beta/models/{model}:generateContent`, or `:streamGenerateContent?alt=sse` when streaming. A
 * base URL ending in a version segment (`/v1beta`, `/v1`, `/v1alpha`) selects that version instead
 * of `v1beta` and is not repeated.
 *
 * Model: a leading `models/` (the resource name ListModels returns) is dropped; the rest is one
 * percent-encoded path segment (`a/b` → `a%2Fb`).
 *
 * Auth: `x-goog-api-key: <api_key>`, never `?key=`, so the key cannot reach an access log.
 */

export const GEMINI_DEFAULT_VERSION = 'v1beta';
const OPERATIONS: readonly Operation[] = ['generate_content', 'stream_generate_content'];
const supports = operationSet(OPERATIONS);
const VERSION_SEGMENT = /^v1(?:beta|alpha)?$/i;

/** `:generateContent` or `:streamGenerateContent?alt=sse` (SSE framing; without `alt=sse` Google streams a JSON array). */
export function generateMethod(args: Pick<TargetArgs, 'op' | 'stream'>): string {
  return args.stream || args.op === 'stream_generate_content' ? ':streamGenerateContent?alt=sse' : ':generateContent';
}

export const geminiAdapter: ProviderAdapter = {
  family: 'gemini',
  types: ['gemini', 'google', 'aistudio'],
  wireFormat: 'gemini',
  operations: OPERATIONS,
  alwaysStreams: false,
  supports,
  target(args: TargetArgs): UpstreamTarget {
    assertSupported(geminiAdapter, args);
    const { provider } = args;
    const { origin, prefix } = apiRoot(provider, PROVIDER_PRESETS.gemini.baseUrl);
    const { root, version = GEMINI_DEFAULT_VERSION } = splitVersion(prefix, VERSION_SEGMENT);
    const model = modelSegment(provider, args.upstreamModel, ['models/']);
    return {
      origin,
      path: `${root}/${version}/models/${model}${generateMethod(args)}`,
      headers: { 'x-goog-api-key': credential(provider), 'content-type': JSON_CONTENT_TYPE },
    };
  },
};
