import { DEFAULT_GOOGLE_LOCATION } from '../../../domain/provider-presets.js';
import type { ProviderSnapshot } from '../../../lib/redis-layout.js';
import type { Operation } from '../../types.js';
import { assertSupported, operationSet, ProviderConfigError, type ProviderAdapter, type TargetArgs, type UpstreamTarget } from '../adapter.js';
import { generateMethod } from '../gemini/adapter.js';
import { apiRoot, credential, JSON_CONTENT_TYPE, modelSegment, providerType, splitVersion } from '../url.js';

/**
 * Gemini on Vertex AI (types `vertex`, `vertex-express`), Google's generateContent dialect.
 *
 * Host: `google_location` (default `global`) picks it — `https://aiplatform.googleapis.com` for
 * `global`, `https://{location}-aiplatform.googleapis.com` otherwise. The location becomes part of a
 * hostname, so it must be a plain lower-case label (`us-central1`, `europe-west4`, `global`);
 * anything else is `invalid_location`. A non-empty base_url replaces the host (mocks, Private
 * Service Connect); its path is kept as a prefix, and a trailing `/v1` or `/v1beta1` selects that
 * API version instead of `v1`.
 *
 * Path: `/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent`
 * (`:streamGenerateContent?alt=sse` when streaming). `vertex` requires `google_project`.
 * `vertex-express` (an express-mode API key) uses the same project path when a project is set and
 * otherwise the express form `/v1/publishers/google/models/{model}:generateContent` on the global
 * host (express mode has no regional endpoints).
 *
 * Model: a leading `publishers/google/models/` or `models/` is dropped, the rest percent-encoded.
 *
 * Auth: `vertex-express` sends its API key as `x-goog-api-key`. `vertex` sends an OAuth access
 * token (`ya29.` prefix, minted outside the gateway) as `Authorization: Bearer`, and anything else
 * as a Vertex API key in `x-goog-api-key` (Vertex accepts API keys on project-scoped endpoints). A
 * service-account JSON key is refused (`unsupported_credential`): exchanging it for a token is I/O,
 * which adapters never do.
 */

const OPERATIONS: readonly Operation[] = ['generate_content', 'stream_generate_content'];
const supports = operationSet(OPERATIONS);
const VERSION_SEGMENT = /^v1(?:beta1)?$/i;
const LOCATION = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;
const GLOBAL_HOST = 'aiplatform.googleapis.com';
const MODEL_PREFIXES = ['publishers/google/models/', 'models/'] as const;

/** The normalized location: trimmed, lower-case, `global` when empty. Throws `invalid_location`. */
export function vertexLocation(provider: ProviderSnapshot): string {
  const location = (provider.google_location ?? '').trim().toLowerCase() || DEFAULT_GOOGLE_LOCATION;
  if (!LOCATION.test(location) || location.length > 63) {
    throw new ProviderConfigError('invalid_location', `provider ${provider.id} has an invalid google_location`, provider.id);
  }
  return location;
}

/** The official endpoint for a location. */
export function vertexBaseUrl(location: string): string {
  return location === DEFAULT_GOOGLE_LOCATION ? `https://${GLOBAL_HOST}` : `https://${location}-${GLOBAL_HOST}`;
}

function authHeaders(provider: ProviderSnapshot): Record<string, string> {
  const vertex = providerType(provider) === 'vertex';
  if (vertex && provider.api_key.trim().startsWith('{')) {
    throw new ProviderConfigError(
      'unsupported_credential',
      `provider ${provider.id} (vertex) holds a service-account JSON key; store an access token or a Vertex API key`,
      provider.id,
    );
  }
  const key = credential(provider);
  if (vertex && key.startsWith('ya29.')) return { authorization: `Bearer ${key}` };
  return { 'x-goog-api-key': key };
}

export const vertexAdapter: ProviderAdapter = {
  family: 'vertex',
  types: ['vertex', 'vertex-express'],
  wireFormat: 'gemini',
  operations: OPERATIONS,
  alwaysStreams: false,
  supports,
  target(args: TargetArgs): UpstreamTarget {
    assertSupported(vertexAdapter, args);
    const { provider } = args;
    const project = (provider.google_project ?? '').trim();
    if (project === '' && providerType(provider) === 'vertex') {
      throw new ProviderConfigError('missing_project', `provider ${provider.id} (vertex) needs google_project`, provider.id);
    }
    const express = project === '';
    const location = express ? DEFAULT_GOOGLE_LOCATION : vertexLocation(provider);
    const { origin, prefix } = apiRoot(provider, vertexBaseUrl(location));
    const { root, version = 'v1' } = splitVersion(prefix, VERSION_SEGMENT);
    const model = modelSegment(provider, args.upstreamModel, MODEL_PREFIXES);
    const scope = express ? '' : `/projects/${encodeURIComponent(project)}/locations/${location}`;
    return {
      origin,
      path: `${root}/${version}${scope}/publishers/google/models/${model}${generateMethod(args)}`,
      headers: { ...authHeaders(provider), 'content-type': JSON_CONTENT_TYPE },
    };
  },
};
