import { PROVIDER_PRESETS } from '../../../domain/provider-presets.js';
import type { Operation } from '../../types.js';
import { assertSupported, operationSet, type ProviderAdapter, type TargetArgs, type UpstreamTarget } from '../adapter.js';
import { apiRoot, credential, JSON_CONTENT_TYPE, providerType } from '../url.js';

/**
 * OpenAI and OpenAI-compatible upstreams (types `openai`, `compatible`).
 *
 * Base URL: the API root as the OpenAI SDKs take it, version segment included —
 * `https://api.openai.com/v1` (the preset, and the default for `openai` when base_url is empty),
 * `http://127.0.0.1:8000/openai/v1`, `https://api.groq.com/openai/v1`. The gateway appends
 * `/chat/completions`, `/completions`, `/embeddings`, `/responses` to it verbatim. One convenience:
 * a base URL that is a bare origin (`http://vllm:8000`) gets `/v1`, where every OpenAI-compatible
 * server (vLLM, Ollama, LM Studio, TGI, llama.cpp) serves the API. `compatible` has no default: an
 * empty base_url is a `missing_base_url` configuration error.
 *
 * Auth: `Authorization: Bearer <api_key>`. The model travels in the body, so the path never
 * depends on it.
 */

const PATHS = {
  chat: '/chat/completions',
  completions: '/completions',
  embeddings: '/embeddings',
  responses: '/responses',
} as const satisfies Partial<Record<Operation, string>>;

const OPERATIONS = Object.keys(PATHS) as Array<keyof typeof PATHS>;
const supports = operationSet(OPERATIONS);

const DEFAULT_BASE_URL = new Map<string, string>([['openai', PROVIDER_PRESETS.openai.baseUrl]]);

export const openaiAdapter: ProviderAdapter = {
  family: 'openai',
  types: ['openai', 'compatible'],
  wireFormat: 'openai',
  operations: OPERATIONS,
  alwaysStreams: false,
  supports,
  target(args: TargetArgs): UpstreamTarget {
    assertSupported(openaiAdapter, args);
    const { provider } = args;
    const { origin, prefix } = apiRoot(provider, DEFAULT_BASE_URL.get(providerType(provider)));
    const root = prefix === '' ? '/v1' : prefix;
    return {
      origin,
      path: `${root}${PATHS[args.op as keyof typeof PATHS]}`,
      headers: { authorization: `Bearer ${credential(provider)}`, 'content-type': JSON_CONTENT_TYPE },
    };
  },
};
